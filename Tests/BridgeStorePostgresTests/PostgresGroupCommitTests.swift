import BridgeStore
import BridgeStoreTestKit
import Foundation
import Synchronization
import Testing

@testable import BridgeCore
@testable import BridgeStorePostgres

/// Records `deliveries` as one group (one call of `recordGroup`, as group commit does when they arrive together)
/// and returns each webhook's answer, in the order given.
func recordAsOneGroup(_ store: PostgresDeliveryStore, _ deliveries: [NewDelivery]) async
    -> [Result<RecordResult, any Error>]
{
    let pending = PendingRecords()
    return await withTaskGroup(of: (Int, Result<RecordResult, any Error>).self) { group in
        for (i, d) in deliveries.enumerated() {
            group.addTask {
                do {
                    let r = try await withCheckedThrowingContinuation { continuation in
                        pending.records.withLock { $0[i] = PendingRecord(delivery: d, continuation: continuation) }
                    }
                    return (i, .success(r))
                } catch {
                    return (i, .failure(error))
                }
            }
        }
        while pending.records.withLock({ $0.count }) < deliveries.count { try? await Task.sleep(for: .milliseconds(1)) }
        let all = pending.records.withLock { p in (0..<deliveries.count).map { p[$0]! } }
        store.recordTransactions.withLock { $0 += 1 }
        await store.recordGroup(all)
        var results = [Result<RecordResult, any Error>?](repeating: nil, count: deliveries.count)
        for await (i, r) in group { results[i] = r }
        return results.map { $0! }
    }
}

/// The webhooks waiting for `recordAsOneGroup`, by position.
final class PendingRecords: Sendable {
    let records = Mutex<[Int: PendingRecord]>([:])
}

func storedID(_ r: Result<RecordResult, any Error>) -> Int64? {
    if case .success(.stored(let id, _, _)) = r { return id }
    return nil
}

@Suite(
    "PostgreSQL: a group of webhooks in one statement",
    .enabled(
        if: TestPostgres.isAvailable, "no PostgreSQL for the tests (the note at the start of the output says why)"))
struct PostgresGroupCommitTests {
    @Test func duplicatesInsideTheGroupAndKeysStoredBeforeLeaveOnlyThemselvesOut() async throws {
        try await withReplicas(1) { stores in
            let store = stores[0]
            guard case .stored(let oldID, _, _) = try await store.record(delivery(key: "old", events: 1)) else {
                Issue.record("the first webhook was not stored")
                return
            }
            let before = store.recordTransactions.withLock { $0 }
            // Each webhook a different number of events, so that each answer can be matched with its own row.
            var group = [
                delivery(key: "a", events: 1), delivery(key: "b", events: 2), delivery(key: "a", events: 3),
                delivery(key: "old", events: 4), delivery(key: nil, events: 5), delivery(key: nil, events: 6),
            ]
            group[1].request = StoredRequest(
                clientAddress: "192.0.2.7", headers: [("X-GitHub-Event", "push")], body: Array("{}".utf8))
            let results = await recordAsOneGroup(store, group)
            #expect(store.recordTransactions.withLock { $0 } == before + 1, "one transaction, no fallback")

            let ids = results.map(storedID)
            #expect(ids.compactMap { $0 }.count == 4)
            #expect(Set(ids.compactMap { $0 }).count == 4)
            guard case .success(.duplicate(let firstA)) = results[2] else {
                Issue.record("the second webhook with key a was answered \(results[2])")
                return
            }
            #expect(firstA == ids[0])
            guard case .success(.duplicate(let original)) = results[3] else {
                Issue.record("the webhook with a stored key was answered \(results[3])")
                return
            }
            #expect(original == oldID)
            for (i, id) in ids.enumerated() {
                guard let id else { continue }
                #expect((try? results[i].get()) == .stored(deliveryId: id, events: i + 1, metrics: 0))
                let row = try await store.delivery(id: id)
                #expect(row?.events == i + 1)
                #expect(row?.deliveryKey == group[i].deliveryKey)
            }
            // Events of the stored webhooks only: 1 (old) + 1 + 2 + 5 + 6.
            #expect(try await store.stats(now: Date()).pending == 15)
            let request = try await store.client.query(
                "SELECT client_address, headers, convert_from(body, 'UTF8'), body_size FROM deliveries WHERE id = \(ids[1]!)"
            )
            for try await (address, headers, body, size) in request.decode((String?, String?, String?, Int?).self) {
                #expect(address == "192.0.2.7")
                #expect(headers?.contains("X-GitHub-Event") == true)
                #expect(body == "{}")
                #expect(size == 2)
            }
            let none = try await store.client.query(
                "SELECT count(*) FROM deliveries WHERE id = \(ids[0]!) AND headers IS NULL AND body IS NULL")
            for try await n in none.decode(Int.self) { #expect(n == 1) }
        }
    }

    @Test func aWebhookWhoseRowFailsFailsAloneAndTheOthersAreStored() async throws {
        try await withReplicas(1) { stores in
            let store = stores[0]
            let before = store.recordTransactions.withLock { $0 }
            var bad = delivery(key: "bad", metrics: [observation(100)], events: 1)
            bad.httpStatus = Int(Int32.max) + 1  // out of range for the INTEGER column: its insert fails
            let group = [
                delivery(key: "g1", metrics: [observation(1)], events: 1), bad,
                delivery(key: "g2", metrics: [observation(2)], events: 1), delivery(key: nil, events: 1),
            ]
            let results = await recordAsOneGroup(store, group)
            #expect(store.recordTransactions.withLock { $0 } == before + 2, "the bulk statement, then one by one")
            #expect(storedID(results[0]) != nil)
            #expect(storedID(results[2]) != nil)
            #expect(storedID(results[3]) != nil)
            guard case .failure(let error as StoreError) = results[1] else {
                Issue.record("the failing webhook was answered \(results[1])")
                return
            }
            #expect(error.reason == .database)
            let due = try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60)
            let sums = due.compactMap { item -> Double? in
                if case .metric(_, _, .sum, _, _, let value) = item.content { return value }
                return nil
            }
            #expect(sums == [3])
        }
    }

    @Test func theAggregatesOfAGroupAreSummedPerKeyInOneUpsert() async throws {
        try await withReplicas(1) { stores in
            let store = stores[0]
            _ = try await store.record(delivery(key: "earlier", metrics: [observation(10)]))
            let h1 = "2024-05-01 14:00:00"
            let h2 = "2024-05-01 15:00:00"
            let group = [
                delivery(key: "m1", metrics: [observation(1, hour: h1), observation(7, hour: h2)]),
                delivery(key: "m2", metrics: [observation(2, hour: h1)]),
                delivery(key: "m1", metrics: [observation(1000, hour: h1)]),  // a duplicate: not counted
                delivery(key: "earlier", metrics: [observation(1000, hour: h2)]),  // stored before: not counted
                delivery(key: nil, metrics: [observation(-4, hour: h1), observation(3, hour: h2)]),
            ]
            let results = await recordAsOneGroup(store, group)
            #expect(results.map(storedID).compactMap { $0 }.count == 3)
            let rows = try await store.client.query(
                "SELECT hour, sum, count, min, max FROM aggregates ORDER BY hour")
            var found: [String: (Double, Int, Double, Double)] = [:]
            for try await (hour, sum, count, min, max) in rows.decode((String, Double, Int, Double, Double).self) {
                found[hour] = (sum, count, min, max)
            }
            // h1: 10 (before) + 1 + 2 - 4; h2: 7 + 3.
            #expect(found[h1].map { [$0.0, Double($0.1), $0.2, $0.3] } == [9, 4, -4, 10])
            #expect(found[h2].map { [$0.0, Double($0.1), $0.2, $0.3] } == [10, 2, 3, 7])
            let pending = try await store.client.query(
                "SELECT count(*) FROM outbox WHERE kind = 'metric' AND state = 'pending'")
            for try await n in pending.decode(Int.self) { #expect(n == 2) }
        }
    }

    @Test func aWebhookWithItemKeysAmongBulkOnesKeepsItsItemDedupe() async throws {
        try await withReplicas(1) { stores in
            let store = stores[0]
            func itemDelivery(_ key: String, items: [String]) -> NewDelivery {
                var d = delivery(key: key, events: items.count)
                for (i, item) in items.enumerated() { d.events[i].dedupeKey = item }
                return d
            }
            _ = try await store.record(itemDelivery("first", items: ["x"]))
            let group = [
                itemDelivery("i1", items: ["x", "y"]), delivery(key: "plain", events: 2),
                itemDelivery("i2", items: ["x"]),
            ]
            let results = await recordAsOneGroup(store, group)
            guard case .success(.stored(_, 1, 0)) = results[0] else {
                Issue.record("the webhook with a new item was answered \(results[0])")
                return
            }
            guard case .success(.stored(_, 2, 0)) = results[1] else {
                Issue.record("the webhook without item keys was answered \(results[1])")
                return
            }
            guard case .success(.duplicate) = results[2] else {
                Issue.record("the webhook with only seen items was answered \(results[2])")
                return
            }
        }
    }
}
