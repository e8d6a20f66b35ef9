import BridgeStore
import BridgeStoreTestKit
import Foundation
import Logging
import Testing

@testable import BridgeCloudthread
@testable import BridgeCore
@testable import BridgeStoreSQLite

@Suite("SQLite store")
struct StoreTests {
    @Test func concurrentWebhooksShareCommits() async throws {
        try await withTemporaryStore { store, _ in
            try await withThrowingTaskGroup(of: RecordResult.self) { group in
                for i in 0..<200 { group.addTask { try await store.record(delivery(key: "k\(i)", events: 1)) } }
                var stored = 0
                for try await r in group { if case .stored = r { stored += 1 } }
                #expect(stored == 200)
            }
            let stats = store.groupCommitStats
            #expect(stats.records == 200)
            // 200 concurrent records in fewer commits than records: group commit at work.
            #expect(stats.commits < 200)
            #expect(stats.largest > 1)
            #expect(try await store.stats(now: Date()).pending == 200)
        }
    }

    @Test func dedupeKeysAndRestart() async throws {
        let dir = NSTemporaryDirectory() + "ctb-store-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for round in 0..<2 {
            let store = try await SQLiteDeliveryStore.open(path: dir + "/bridge.sqlite", logger: Logger(label: "test"))
            let task = Task { try await store.run() }
            let result = try await store.record(delivery(key: "same", events: 1))
            if round == 0 {
                #expect(result == .stored(deliveryId: 1, events: 1, metrics: 0))
                // Claimed but never answered: in flight when the process stops.
                #expect(try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60).count == 1)
            } else {
                #expect(result == .duplicate(originalDeliveryId: 1))
                // The record in flight at the stop is pending again: at-least-once.
                #expect(try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60).count == 1)
            }
            task.cancel()
            try await task.value
        }
    }

    @Test func deadLettersAndReplay() async throws {
        try await withTemporaryStore { store, _ in
            _ = try await store.record(delivery(events: 2))
            let items = try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60)
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
}
