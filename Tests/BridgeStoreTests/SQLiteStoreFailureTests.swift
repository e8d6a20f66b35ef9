import BridgeStore
import BridgeStoreTestKit
import Foundation
import Logging
import Testing

@testable import BridgeCore
@testable import BridgeStoreSQLite

@Suite("SQLite store under failure")
struct StoreFailureTests {
    @Test func aClaimNotMarkedBeforeItsLeaseEndsIsDueAgainWithoutARestart() async throws {
        try await withTemporaryStore { store, _ in
            _ = try await store.record(delivery(metrics: [observation(1)], events: 1))
            let now = Date().addingTimeInterval(1)
            let claimed = try await store.claimDue(now: now, limit: 10, lease: 30)
            #expect(claimed.count == 2)
            // Within the lease nothing is due; the sender may still answer.
            #expect(try await store.claimDue(now: now.addingTimeInterval(29), limit: 10, lease: 30).isEmpty)
            #expect(
                try await store.nextDue()?.timeIntervalSince1970 == (now.addingTimeInterval(30)).timeIntervalSince1970)
            // The sender died: after the lease, the same records are due again.
            let again = try await store.claimDue(now: now.addingTimeInterval(31), limit: 10, lease: 30)
            #expect(Set(again.map(\.id)) == Set(claimed.map(\.id)))
        }
    }

    @Test func aFullDatabaseRefusesWritesWithoutHalfCommittingAndRecovers() async throws {
        try await withTemporaryStore { store, _ in
            _ = try await store.record(delivery(key: "before", events: 1))
            // Cap the database at its current size: the next inserts fail with SQLITE_FULL.
            try await store.perform { db in
                let pages = try db.first("PRAGMA page_count")?.first?.integer ?? 0
                try db.query("PRAGMA max_page_count = \(pages)")
            }
            let big = String(repeating: "x", count: 200_000)
            var outcomes: [Bool] = []
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<20 {
                    group.addTask {
                        var d = delivery(key: "k\(i)", events: 1)
                        if i % 2 == 0 { d.explanation.notes = [big] }
                        do {
                            _ = try await store.record(d)
                            return true
                        } catch let error as StoreError {
                            #expect(error.reason == .full)
                            return false
                        }
                    }
                }
                for try await ok in group { outcomes.append(ok) }
            }
            #expect(outcomes.contains(false))
            #expect(outcomes.contains(true))
            // Exactly the webhooks answered as stored are in the database: none half-committed, none lost.
            let stored = try await store.deliveries(limit: 100, source: nil).count
            #expect(stored == 1 + outcomes.filter { $0 }.count)
            #expect(try await store.integrityCheck() == "ok")
            // Space comes back: the probe finds the store writable again.
            try await store.perform { db in try db.query("PRAGMA max_page_count = 1073741823") }
            await store.probeWrite(now: Date())
            #expect(await store.isWritable())
            #expect(try await store.record(delivery(key: "after", events: 1)) != .duplicate(originalDeliveryId: 0))
        }
    }

    @Test func theStreamTokenIsNotStoredInClear() async throws {
        try await withTemporaryStore { store, dir in
            _ = try await store.record(delivery(metrics: [observation(1)]))
            let items = try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60)
            guard case .metric(let ref, _, _, _, _, _)? = items.first?.content else {
                Issue.record("expected a metric")
                return
            }
            #expect(ref == StreamTokenRef.fingerprint(Secret("tok")))
            #expect(StreamTokens([Secret("tok")]).token(for: ref)?.string == "tok")
            await store.close()
            for file in ["bridge.sqlite", "bridge.sqlite-wal"] {
                let bytes = (try? Data(contentsOf: URL(fileURLWithPath: dir + "/" + file))) ?? Data()
                #expect(bytes.range(of: Data("tok\"".utf8)) == nil && bytes.range(of: Data("|tok|".utf8)) == nil)
            }
        }
    }

    @Test func readOnlyInspectionChangesNothing() async throws {
        let dir = NSTemporaryDirectory() + "ctb-ro-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bridge.sqlite"
        let store = try await SQLiteDeliveryStore.open(path: path, logger: Logger(label: "test"))
        _ = try await store.record(delivery(events: 1))
        _ = try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60)
        await store.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let reader = try SQLiteDeliveryStore.openReadOnly(path: path, logger: Logger(label: "test"))
        #expect(try await reader.deliveries(limit: 10, source: nil).count == 1)
        #expect(try await reader.stats(now: Date()).inflight == 1)  // not released by a reader
        await #expect(throws: StoreError.self) { try await reader.replayDeadLetters(nil, now: Date()) }
        await reader.close()
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(throws: StoreError.self) {
            try SQLiteDeliveryStore.openReadOnly(path: dir + "/none.sqlite", logger: Logger(label: "t"))
        }
    }
}
