import BridgeStore
import BridgeStoreTestKit
import Foundation
import Logging
import Testing

@testable import BridgeCloudthread
@testable import BridgeCore
@testable import BridgeStorePostgres

/// Drops the schema of a test store.
func dropSchema(_ store: PostgresDeliveryStore) async {
    guard let schema = store.url.schema else { return }
    _ = try? await store.client.query("DROP SCHEMA IF EXISTS \(unescaped: schema) CASCADE")
}

func withStore(_ kind: StoreKind, _ body: (any DeliveryStore) async throws -> Void) async throws {
    switch kind {
    case .sqlite:
        try await withTemporaryStore { store, _ in try await body(store) }
    case .postgres:
        let url = try #require(postgresTestURL())
        let store = try await PostgresDeliveryStore.open(url: url, logger: Logger(label: "test"))
        let task = Task { try await store.run() }
        do {
            try await body(store)
        } catch {
            await dropSchema(store)
            task.cancel()
            throw error
        }
        await dropSchema(store)
        task.cancel()
        try await task.value
    }
}

@Suite("DeliveryStore contract (SQLite and PostgreSQL)")
struct StoreContractTests {
    @Test(arguments: StoreKind.available) func concurrentWebhooksAreAllStored(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await withThrowingTaskGroup(of: RecordResult.self) { group in
                for i in 0..<200 { group.addTask { try await store.record(delivery(key: "k\(i)", events: 1)) } }
                var stored = 0
                for try await r in group { if case .stored = r { stored += 1 } }
                #expect(stored == 200)
            }
            #expect(try await store.stats(now: Date()).pending == 200)
            #expect(try await store.deliveries(limit: 500, source: "s").count == 200)
            #expect(try await store.deliveries(limit: 5, source: "other").isEmpty)
        }
    }

    @Test(arguments: StoreKind.available) func aggregatesCoalesceAndCarryTheValueAtClaimTime(_ kind: StoreKind)
        async throws
    {
        try await withStore(kind) { store in
            for v in [3.0, 1.0, 8.0] {
                _ = try await store.record(
                    delivery(metrics: [
                        observation(v), observation(v, agg: .average), observation(v, agg: .maximum),
                        observation(v, agg: .minimum),
                    ]))
            }
            let items = try await store.claimDue(now: Date().addingTimeInterval(1), limit: 100, lease: 60)
            #expect(items.count == 4)
            var values: [Aggregation: Double] = [:]
            for item in items {
                if case .metric(_, _, let agg, _, _, let value) = item.content { values[agg] = value }
            }
            #expect(values == [.sum: 12, .average: 4, .maximum: 8, .minimum: 1])
            _ = try await store.record(delivery(metrics: [observation(10)]))
            try await store.markRetry(
                items.map(\.id), dueAt: Date(), error: "503", countAttempt: true, strikes: nil, now: Date())
            let again = try await store.claimDue(now: Date().addingTimeInterval(1), limit: 100, lease: 60)
            #expect(again.count == 4)
            let sum = again.compactMap { item -> Double? in
                if case .metric(_, _, .sum, _, _, let v) = item.content { return v }
                return nil
            }
            #expect(sum == [22])
        }
    }

    @Test(arguments: StoreKind.available) func aDeliveryKeyIsStoredOnce(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            guard case .stored(let id, 1, 0) = try await store.record(delivery(key: "same", events: 1)) else {
                Issue.record("expected stored")
                return
            }
            #expect(try await store.record(delivery(key: "same", events: 1)) == .duplicate(originalDeliveryId: id))
            #expect(try await store.stats(now: Date()).pending == 1)
            #expect(try await store.delivery(id: id)?.deliveryKey == "same")
        }
    }

    @Test(arguments: StoreKind.available) func itemKeysLeaveOutItemsSeenBefore(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            var first = observation(1)
            first.dedupeKey = "a"
            var second = observation(1)
            second.dedupeKey = "b"
            guard case .stored(let id, 0, 1) = try await store.record(delivery(metrics: [first])) else {
                Issue.record("expected stored")
                return
            }
            #expect(try await store.record(delivery(metrics: [first])) == .duplicate(originalDeliveryId: id))
            guard case .stored(_, 0, 1) = try await store.record(delivery(metrics: [first, second])) else {
                Issue.record("expected only the new item stored")
                return
            }
        }
    }

    @Test(arguments: StoreKind.available) func deadLettersAndReplay(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.record(delivery(events: 2))
            let items = try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60)
            try #require(items.count == 2)
            try await store.markDead([items[0].id], reason: "rejected by Cloudthread (400): bad", now: Date())
            try await store.markSent([items[1].id], now: Date())
            let dead = try await store.deadLetters(limit: 10)
            #expect(dead.map(\.reason) == ["rejected by Cloudthread (400): bad"])
            #expect(
                try await store.stats(now: Date())
                    == OutboxStats(pending: 0, inflight: 0, sent: 1, dead: 1, oldestPendingAge: 0))
            #expect(try await store.replayDeadLetters(nil, now: Date()) == 1)
            #expect(
                try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60).map(\.id) == [
                    items[0].id
                ])
        }
    }

    @Test(arguments: StoreKind.available) func anExpiredLeaseIsDueAgain(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.record(delivery(metrics: [observation(1)], events: 1))
            let now = Date().addingTimeInterval(1)
            let claimed = try await store.claimDue(now: now, limit: 10, lease: 30)
            #expect(claimed.count == 2)
            #expect(try await store.claimDue(now: now.addingTimeInterval(29), limit: 10, lease: 30).isEmpty)
            let again = try await store.claimDue(now: now.addingTimeInterval(31), limit: 10, lease: 30)
            #expect(Set(again.map(\.id)) == Set(claimed.map(\.id)))
        }
    }

    @Test(arguments: StoreKind.available) func oneAggregateKeyIsInFlightAtATime(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.record(delivery(metrics: [observation(1)]))
            // Claim times well ahead of the records' (a loaded machine can take seconds between two lines).
            let now = Date().addingTimeInterval(100)
            let first = try await store.claimDue(now: now, limit: 10, lease: 60)
            #expect(first.count == 1)
            _ = try await store.record(delivery(metrics: [observation(2)]))
            #expect(try await store.claimDue(now: now.addingTimeInterval(2), limit: 10, lease: 60).isEmpty)
            try await store.markSent(first.map(\.id), now: Date())
            let second = try await store.claimDue(now: now.addingTimeInterval(3), limit: 10, lease: 60)
            guard case .metric(_, _, _, _, _, let value)? = second.first?.content else {
                Issue.record("expected the newer value to be due")
                return
            }
            #expect(value == 3)
        }
    }

    /// A newer value of a key whose send is in flight is not due before that send ends: the forwarder sleeps until
    /// then instead of polling for it.
    @Test(arguments: StoreKind.available) func aKeyInFlightIsNotDueBeforeItsSendEnds(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.record(delivery(metrics: [observation(1)]))
            let now = Date().addingTimeInterval(100)
            #expect(try await store.claimDue(now: now, limit: 10, lease: 60).count == 1)
            _ = try await store.record(delivery(metrics: [observation(2)]))
            let next = try #require(try await store.nextDue())
            #expect(next > Date().addingTimeInterval(0.3), "the blocked value was reported due at \(next)")
        }
    }

    @Test(arguments: StoreKind.available) func streamTokensAreReferencedByFingerprint(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.record(delivery(metrics: [observation(1)]))
            let items = try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60)
            guard case .metric(let ref, _, _, _, _, _)? = items.first?.content else {
                Issue.record("expected a metric")
                return
            }
            #expect(ref == StreamTokenRef.fingerprint(Secret("tok")))
        }
    }

    @Test(arguments: StoreKind.available) func pruningKeepsWhatIsStillNeeded(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            _ = try await store.record(delivery(key: "old", metrics: [observation(1)], events: 1))
            let items = try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60)
            try await store.markSent(items.map(\.id), now: Date())
            try await store.prune(olderThan: 86400, now: Date().addingTimeInterval(2 * 86400))
            #expect(try await store.stats(now: Date()).sent == 0)
            // The dedupe key is gone with its delivery: the same key is new again.
            guard case .stored = try await store.record(delivery(key: "old", events: 1)) else {
                Issue.record("expected stored after pruning")
                return
            }
            #expect(await store.isWritable())
            await store.probeWrite(now: Date())
            #expect(await store.isWritable())
        }
    }
}

@Suite("DeliveryStore contract: console queries")
struct ConsoleQueryContractTests {
    @Test(arguments: StoreKind.available)
    func pagesDetailsActivityAndDiscard(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            var first = delivery(key: "a", events: 1)
            first.request = StoredRequest(
                clientAddress: "192.0.2.7", headers: [("X-Hub-Signature-256", "sha256=secret"), ("X-Event", "deploy")],
                body: Array(#"{"x":"<script>"}"#.utf8))
            guard case .stored(let id1, _, _) = try await store.record(first) else {
                Issue.record("not stored")
                return
            }
            _ = try await store.record(delivery(key: "b", events: 1))
            _ = try await store.record(delivery(key: "c", events: 2))
            let page = try await store.deliveries(before: nil, limit: 2, source: nil, status: nil)
            #expect(page.count == 2)
            let next = try await store.deliveries(before: page.last?.id, limit: 2, source: nil, status: "accepted")
            #expect(next.map(\.id) == [id1])
            #expect(try await store.deliveries(before: nil, limit: 10, source: "other", status: nil).isEmpty)
            let detail = try #require(try await store.deliveryDetail(id: id1))
            #expect(detail.request?.clientAddress == "192.0.2.7")
            #expect(detail.request?.body == Array(#"{"x":"<script>"}"#.utf8))
            #expect(detail.request?.headers.contains { $0.first == "X-Event" } == true)
            #expect(detail.request?.headers.contains { $0.contains("sha256=secret") } == false)
            #expect(detail.records.count == 1)
            let activity = try await store.activity(since: Date().addingTimeInterval(-86400), now: Date())
            #expect(activity.first?.counts["accepted"] == 3)
            #expect(activity.first?.hourly.reduce(0, +) == 3)
            // A dead letter can be discarded; anything else cannot.
            let items = try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60)
            try await store.markDead([items[0].id], reason: "400", now: Date())
            #expect(try await store.discardDeadLetters([items[0].id, items[1].id]) == 1)
            #expect(try await store.deadLetters(limit: 10).isEmpty)
        }
    }
}

@Suite("DeliveryStore contract: hostile text")
struct StoreHostileTextTests {
    /// A NUL character can come from a payload (`"\u0000"` in JSON) into a dedupe key or a metric name: PostgreSQL's
    /// text refuses it, SQLite keeps it. Either way the webhook must be stored, once.
    @Test(arguments: StoreKind.available) func aNulCharacterInKeysAndNamesIsStored(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            var m = observation(1)
            m.name = "deploys\u{0}x"
            m.dedupeKey = "item\u{0}1"
            guard case .stored(let id, 0, 1) = try await store.record(delivery(key: "key\u{0}1", metrics: [m])) else {
                Issue.record("expected stored")
                return
            }
            #expect(
                try await store.record(delivery(key: "key\u{0}1", metrics: [m])) == .duplicate(originalDeliveryId: id))
            let due = try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60)
            #expect(due.count == 1)
        }
    }

    /// A dedupe key has no length limit in a rule file or a header; PostgreSQL's btree index refuses entries above
    /// about 2.7 KB.
    @Test(arguments: StoreKind.available) func aVeryLongKeyIsStoredOnce(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let key = (0..<600).map { _ in UUID().uuidString }.joined()  // 21,600 characters that do not compress
            guard case .stored(let id, 1, 0) = try await store.record(delivery(key: key, events: 1)) else {
                Issue.record("expected stored")
                return
            }
            #expect(try await store.record(delivery(key: key, events: 1)) == .duplicate(originalDeliveryId: id))
            #expect(try await store.record(delivery(key: key + "x", events: 1)) != .duplicate(originalDeliveryId: id))
            // An aggregate key is as long as its dimensions.
            var m = observation(2)
            m.dimensions = ["commit": key]
            _ = try await store.record(delivery(metrics: [m, m]))
            let due = try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60)
            let sums = due.compactMap { item -> Double? in
                if case .metric(_, _, .sum, let dims, _, let value) = item.content, dims == ["commit": key] {
                    return value
                }
                return nil
            }
            #expect(sums == [4])
        }
    }
}
