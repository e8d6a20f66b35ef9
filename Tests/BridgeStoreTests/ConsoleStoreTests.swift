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
        #expect(version == 2)
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
}
