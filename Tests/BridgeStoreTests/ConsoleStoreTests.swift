import BridgeStore
import BridgeStoreTestKit
import Foundation
import Logging
import Testing

@testable import BridgeCore
@testable import BridgeStorePostgres
@testable import BridgeStoreSQLite

/// The console's store queries and schema 2 (each delivery's request).
@Suite("SQLite store: console")
struct ConsoleStoreTests {
    @Test func aDatabaseOfSchema1IsMigratedAndItsOldDeliveriesHaveNoRequest() async throws {
        let dir = NSTemporaryDirectory() + "ctb-store-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/bridge.sqlite"
        do {
            let old = try SQLiteDatabase(path: path, mode: .readWrite)
            try old.execute(SQLiteDeliveryStore.schemaVersion1)
            try old.execute(
                """
                INSERT INTO deliveries (source, received_at, status, http_status) VALUES ('s', 1700000000, 'ignored', 202);
                PRAGMA user_version = 1;
                """)
        }
        let store = try await SQLiteDeliveryStore.open(path: path, logger: Logger(label: "test"))
        let task = Task { try await store.run() }
        let version = try await store.perform { db in try db.first("PRAGMA user_version")?.first?.integer }
        #expect(version == 4)
        let old = try #require(try await store.deliveryDetail(id: 1))
        #expect(old.request == nil)
        #expect(old.summary.status == "ignored")

        let body = Array(repeating: UInt8(ascii: "a"), count: 70_000)
        let request = StoredRequest(
            clientAddress: "192.0.2.7",
            headers: [("X-Hub-Signature-256", "sha256=abc"), ("X-GitHub-Event", "push"), ("Cookie", "a=b")],
            body: body)
        var d = delivery(events: 1)
        d.request = request
        _ = try await store.record(d)
        let new = try #require(try await store.deliveryDetail(id: 2))
        #expect(new.request?.clientAddress == "192.0.2.7")
        #expect(
            new.request?.headers == [
                ["X-Hub-Signature-256", StoredRequest.mask], ["X-GitHub-Event", "push"],
                ["Cookie", StoredRequest.mask],
            ])
        #expect(new.request?.body.count == StoredRequest.bodyLimit)
        #expect(new.request?.bodySize == 70_000)
        #expect(new.request?.truncated == true)
        #expect(new.records.count == 1)
        #expect(new.records.first?.state == "pending")
        task.cancel()
        try await task.value
    }
}

@Suite("Store: console pages (SQLite and PostgreSQL)")
struct ConsolePageTests {
    @Test(arguments: StoreKind.available) func deliveriesByOrigin(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            // A backfilled delivery's key starts with "backfill:"; a key that only contains it, or none, is a webhook.
            for key in ["backfill:github:7", "x-backfill:github:8", "backfill", nil, "backfill:gitlab:9"] {
                _ = try await store.record(delivery(key: key))
            }
            let backfilled = try await store.deliveries(
                before: nil, limit: 50, source: nil, status: nil, origin: .backfill)
            #expect(backfilled.map(\.deliveryKey) == ["backfill:gitlab:9", "backfill:github:7"])
            #expect(backfilled.allSatisfy { $0.origin == .backfill })
            let webhooks = try await store.deliveries(
                before: nil, limit: 50, source: nil, status: nil, origin: .webhook)
            #expect(webhooks.map(\.id) == [4, 3, 2])
            #expect(webhooks.allSatisfy { $0.origin == .webhook })
            let page = try await store.deliveries(
                before: 5, limit: 1, source: "s", status: "accepted", origin: .backfill)
            #expect(page.map(\.id) == [1])
            #expect(try await store.deliveries(before: nil, limit: 50, source: nil, status: nil).count == 5)
        }
    }

    @Test(arguments: StoreKind.available) func pagesFiltersActivityAndDiscarding(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let now = Date()
            for i in 0..<10 {
                var d = delivery(events: i % 2)
                d.source = i < 6 ? "a" : "b"
                d.status = i % 2 == 1 ? .accepted : .ignored
                d.receivedAt = now.addingTimeInterval(Double(i - 9) * 3600)
                _ = try await store.record(d)
            }
            let page = try await store.deliveries(before: nil, limit: 3, source: nil, status: nil)
            #expect(page.map(\.id) == [10, 9, 8])
            let next = try await store.deliveries(before: 8, limit: 3, source: "a", status: nil)
            #expect(next.map(\.id) == [6, 5, 4])
            let accepted = try await store.deliveries(before: nil, limit: 50, source: "a", status: "accepted")
            #expect(accepted.map(\.id) == [6, 4, 2])

            let activity = try await store.activity(since: now.addingTimeInterval(-86400), now: now)
            #expect(activity.map(\.source) == ["a", "b"])
            #expect(activity[0].counts == ["accepted": 3, "ignored": 3])
            #expect(activity[0].hourly.count == 24)
            #expect(activity[0].hourly.reduce(0, +) == 6)
            #expect(activity[1].hourly.suffix(4) == [1, 1, 1, 1])

            let claimed = try await store.claimDue(now: now, limit: 10, lease: 60)
            try await store.markDead(claimed.map(\.id), reason: "refused", now: now)
            #expect(try await store.discardDeadLetters([claimed[0].id, 999]) == 1)
            #expect(try await store.deadLetters(limit: 10).count == claimed.count - 1)
        }
    }

    @Test(arguments: StoreKind.available) func hourlyOutcomesForwarderHoursAndTimeline(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let now = Date()
            // Source "a": accepted 5 h ago (two), ignored 5 h ago, rejected 1 h ago, accepted 30 h ago (outside).
            for (hoursAgo, status) in [
                (5.2, NewDelivery.Status.accepted), (5.5, .accepted), (5.1, .ignored), (1.5, .rejected),
                (30, .accepted),
            ] {
                var d = delivery(events: status == .accepted ? 1 : 0)
                d.source = "a"
                d.status = status
                d.receivedAt = now.addingTimeInterval(-hoursAgo * 3600)
                _ = try await store.record(d)
            }
            let activity = try await store.activity(since: now.addingTimeInterval(-86400), now: now)
            let a = try #require(activity.first { $0.source == "a" })
            var accepted = Array(repeating: 0, count: 24)
            accepted[24 - 1 - 5] = 2
            var ignored = Array(repeating: 0, count: 24)
            ignored[24 - 1 - 5] = 1
            var rejected = Array(repeating: 0, count: 24)
            rejected[24 - 1 - 1] = 1
            #expect(a.hourlyByStatus == ["accepted": accepted, "ignored": ignored, "rejected": rejected])
            #expect(a.hourly == zip(zip(accepted, ignored), rejected).map { $0.0 + $0.1 + $1 })

            // Three events (two in the window, one 30 h old): one sent 2 h ago, one dead-lettered now.
            // Sorted by id: the events of the deliveries 5.2 h, 5.5 h and 30 h old.
            let claimed = try await store.claimDue(now: now, limit: 10, lease: 60).sorted { $0.id < $1.id }
            #expect(claimed.count == 3)
            try await store.markSent([claimed[0].id], now: now.addingTimeInterval(-2 * 3600))
            try await store.markDead([claimed[1].id], reason: "refused", now: now)
            try await store.markRetry(
                [claimed[2].id], dueAt: now, error: "later", countAttempt: true, strikes: nil, now: now)
            let forwarder = try await store.forwarderActivity(since: now.addingTimeInterval(-86400), now: now)
            #expect(forwarder.sent.count == 24)
            #expect(forwarder.sent[24 - 1 - 2] == 1 && forwarder.sent.reduce(0, +) == 1)
            #expect(forwarder.dead[23] == 1 && forwarder.dead.reduce(0, +) == 1)
            // The record still pending was created 30 h ago: it counts in the first hour of the window.
            #expect(forwarder.pending[0] == 1 && forwarder.pending.reduce(0, +) == 1)

            let day = try await store.timeline(since: now.addingTimeInterval(-86400), limit: 100)
            #expect(day.count == 2)
            #expect(day.allSatisfy { $0.kind == "event" && EventRecord(storedJSON: $0.record)?.type == "deploy" })
            // The last updated `limit`, oldest first: the one sent 2 h ago, then the one dead-lettered now.
            #expect(day.map(\.updatedAt) == day.map(\.updatedAt).sorted())
            #expect(day.map(\.state) == ["sent", "dead"])
            let twoDays = try await store.timeline(since: now.addingTimeInterval(-2 * 86400), limit: 100)
            #expect(twoDays.count == 3)
            let last = try await store.timeline(since: now.addingTimeInterval(-2 * 86400), limit: 1)
            #expect(last.count == 1 && last.first?.state != "sent")
        }
    }
}
