import BridgeStore
import BridgeStoreTestKit
import Foundation
import Logging
import Testing

@testable import BridgeCore
@testable import BridgeStoreSQLite

/// The WAL is copied into the database by the checkpointer's thread, not inside the writer's commits, and stays
/// bounded while webhooks keep coming; nothing committed is lost on the way. Webhooks are committed synced even
/// right after the forwarder's claims and marks, which are not.
@Suite("SQLite commits and checkpoints")
struct SQLiteCheckpointTests {
    /// A webhook whose row is about `size` bytes (about three pages of the database for 9 KB): a long header, since
    /// the body is kept in a file of its own (`SQLiteBodyFiles`) and the headers in the row.
    static func webhook(_ key: String, size: Int = 9 * 1024) -> NewDelivery {
        var d = delivery(key: key, events: 1)
        d.request = StoredRequest(
            clientAddress: "127.0.0.1",
            headers: [("content-type", "application/json"), ("x-padding", String(repeating: "x", count: size))],
            body: Array(#"{"x":1}"#.utf8))
        return d
    }

    static func walFrames(_ path: String) -> Int {
        let size = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        // A 32-byte header, then a 24-byte header and a 4,096-byte page per frame.
        return max(0, size - 32) / (24 + 4096)
    }

    @Test func theCheckpointerCopiesTheWALAndKeepsItBounded() async throws {
        let dir = NSTemporaryDirectory() + "ctb-checkpoint-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bridge.sqlite"
        let store = try await SQLiteDeliveryStore.open(
            path: path, logger: Logger(label: "test"), checkpoint: (every: 100, limit: 1000))
        let running = Task { try await store.run() }
        // 1,200 webhooks of about a dozen frames each (the delivery row's three pages, the other rows and the index
        // pages their group touches): without checkpoints the WAL would grow past 10,000 frames.
        for round in 0..<40 {
            try await withThrowingTaskGroup(of: RecordResult.self) { group in
                for i in 0..<30 { group.addTask { try await store.record(Self.webhook("r\(round)-\(i)")) } }
                for try await result in group {
                    guard case .stored = result else {
                        Issue.record("every webhook is stored, got \(result)")
                        return
                    }
                }
            }
        }
        let stats = store.checkpointStats
        #expect(stats.background > 0)
        #expect(stats.failures == 0)
        // The WAL file keeps the largest size it reached: at most twice the limit plus the group that crossed it
        // (30 webhooks), never the whole history.
        let frames = Self.walFrames(path)
        #expect(frames > 0 && frames < 2 * 1000 + 600, "the WAL reached \(frames) frames")
        #expect(try await store.stats(now: Date()).pending == 1200)
        running.cancel()
        try await running.value

        // Closed: the WAL is empty and every webhook is in the database file itself.
        #expect(Self.walFrames(path) == 0)
        let reader = try SQLiteDeliveryStore.openReadOnly(path: path, logger: Logger(label: "test"))
        #expect(try await reader.stats(now: Date()).pending == 1200)
        #expect(try await reader.deliveries(limit: 2000, source: nil).count == 1200)
        await reader.close()
    }

    /// A checkpoint copies only what a reader no longer needs: a read transaction held open on another
    /// connection keeps its frames in the WAL, and the store goes on storing meanwhile.
    @Test func aReaderHoldingTheWALDoesNotStopTheWriter() async throws {
        try await withTemporaryStore { store, dir in
            _ = try await store.record(Self.webhook("before"))
            let reader = try SQLiteDatabase(path: dir + "/bridge.sqlite", mode: .readOnly)
            try reader.execute("BEGIN")
            #expect(try reader.first("SELECT COUNT(*) FROM deliveries")?.first?.integer == 1)
            for i in 0..<300 {
                guard case .stored = try await store.record(Self.webhook("held-\(i)")) else {
                    Issue.record("webhook \(i) is stored")
                    return
                }
            }
            // The reader's snapshot is unchanged; once it ends, the next checkpoint may copy everything. Meanwhile
            // checkpoints that cannot copy anything are not tried again after every commit.
            #expect(try reader.first("SELECT COUNT(*) FROM deliveries")?.first?.integer == 1)
            #expect(store.checkpointStats.background < 60, "\(store.checkpointStats.background) checkpoints")
            try reader.execute("COMMIT")
            reader.close()
            #expect(try await store.stats(now: Date()).pending == 301)
        }
    }

    /// `PRAGMA synchronous` as the writer's connection has it now: 2 is FULL (synced), 1 NORMAL.
    static func synchronous(_ store: SQLiteDeliveryStore) async throws -> Int64? {
        try await store.perform { db in try db.first("PRAGMA synchronous")?.first?.integer }
    }

    @Test func webhooksAreSyncedEvenRightAfterTheForwardersMarks() async throws {
        try await withTemporaryStore { store, _ in
            #expect(try await Self.synchronous(store) == 2)
            _ = try await store.record(delivery(key: "a", events: 2))
            let items = try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60)
            #expect(items.count == 2)
            #expect(try await Self.synchronous(store) == 1)
            try await store.markSent([items[0].id], now: Date())
            try await store.markRetry(
                [items[1].id], dueAt: Date(), error: "503", countAttempt: true, strikes: nil, now: Date())
            #expect(try await Self.synchronous(store) == 1)
            guard case .stored = try await store.record(delivery(key: "b", events: 1)) else {
                Issue.record("the second webhook is stored")
                return
            }
            #expect(try await Self.synchronous(store) == 2)
            // Other writes (the console's, retention's) are synced as before.
            _ = try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60)
            _ = try await store.replayDeadLetters(nil, now: Date())
            #expect(try await Self.synchronous(store) == 2)
            let stats = try await store.stats(now: Date())
            #expect(stats.sent == 1 && stats.inflight + stats.pending == 2)
        }
    }
}
