import BridgeStore
import BridgeStoreTestKit
import Foundation
import Logging
import Testing

@testable import BridgeCloudthread
@testable import BridgeCore
@testable import BridgeStorePostgres
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

    /// Work queued between two webhooks (a forwarder's claim, say) runs after their group commit instead of
    /// splitting it into two commits, and it sees both webhooks.
    @Test func workQueuedBetweenWebhooksRunsAfterTheirSharedCommit() async throws {
        try await withTemporaryStore { store, _ in
            let hold = try await WriterHold(store)
            func waitUntilQueued(_ n: Int) async throws {
                for _ in 0..<2000 where store.writer.queued != n { try await Task.sleep(for: .milliseconds(5)) }
                #expect(store.writer.queued == n)
            }
            // The writer is held: everything below queues behind it in this order.
            let first = Task { try await store.record(delivery(key: "first", events: 1)) }
            try await waitUntilQueued(1)
            let between = Task {
                try await store.perform { db in try db.first("SELECT COUNT(*) FROM deliveries")?.first?.integer }
            }
            try await waitUntilQueued(2)
            let second = Task { try await store.record(delivery(key: "second", events: 1)) }
            try await waitUntilQueued(3)
            let before = store.groupCommitStats
            try await hold.release()
            guard case .stored = try await first.value, case .stored = try await second.value else {
                Issue.record("both webhooks are stored")
                return
            }
            #expect(try await between.value == 2)
            let after = store.groupCommitStats
            #expect(after.commits == before.commits + 1)
            #expect(after.largest == 2)
        }
    }

    /// A group's observations are summed per aggregate key and applied once per key: the aggregate holds what one
    /// webhook at a time would have given it, and each key has one pending send, owned by its first webhook in the
    /// group. An upsert that fails is pinned on its webhook (the attempt with savepoints), which alone is refused.
    @Test func aGroupSumsItsObservationsPerKeyAndRefusesOnlyAWebhookWhoseSumFails() async throws {
        try await withTemporaryStore { store, _ in
            try await store.perform { db in
                try db.execute(
                    """
                    CREATE TRIGGER poison_new BEFORE INSERT ON aggregates WHEN NEW.max >= 1000
                    BEGIN SELECT RAISE(ABORT, 'poisoned for the test'); END;
                    CREATE TRIGGER poison_sum BEFORE UPDATE ON aggregates WHEN NEW.max >= 1000
                    BEGIN SELECT RAISE(ABORT, 'poisoned for the test'); END
                    """)
            }
            // One group: everything queues behind a job that holds the writer.
            let hold = try await WriterHold(store)
            let values: [Double] = [3, 1000, 5, 2, 7]
            var tasks: [Task<RecordResult?, Never>] = []
            for (i, v) in values.enumerated() {
                let other = observation(1, hour: "2024-05-01 15:00:00")
                let metrics = i == 0 ? [observation(v)] : [observation(v), other]
                tasks.append(Task { try? await store.record(delivery(key: "k\(i)", metrics: metrics, events: 1)) })
                for _ in 0..<2000 where store.writer.queued != i + 1 { try await Task.sleep(for: .milliseconds(5)) }
            }
            let before = store.groupCommitStats
            try await hold.release()
            var ids: [Int64?] = []
            for t in tasks {
                if case .stored(let id, _, _) = await t.value { ids.append(id) } else { ids.append(nil) }
            }
            // The webhook whose observation breaks the upsert is refused; the group is stored once, in one commit.
            #expect(ids.map { $0 != nil } == [true, false, true, true, true])
            #expect(store.groupCommitStats.commits == before.commits + 1)
            let rows = try await store.perform { db in
                try db.query("SELECT hour, sum, count, min, max FROM aggregates ORDER BY hour").map { r in
                    "\(r[0].text ?? "-") \(r[1].real ?? -1) \(r[2].integer ?? -1) \(r[3].real ?? -1) \(r[4].real ?? -1)"
                }
            }
            #expect(rows == ["2024-05-01 14:00:00 17.0 4 2.0 7.0", "2024-05-01 15:00:00 3.0 3 1.0 1.0"])
            let sends = try await store.perform { db in
                try db.query(
                    "SELECT delivery_id FROM outbox WHERE kind = 'metric' AND state = 'pending' ORDER BY delivery_id"
                ).map { $0[0].integer }
            }
            #expect(sends == [ids[0], ids[2]])

            // A group without a failure updates each aggregate once, however many of its webhooks observed it.
            try await store.perform { db in
                try db.execute(
                    """
                    DROP TRIGGER poison_new; DROP TRIGGER poison_sum;
                    INSERT INTO meta (key, value) VALUES ('test_updates', '0');
                    CREATE TRIGGER count_updates AFTER UPDATE ON aggregates
                    BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'test_updates'; END
                    """)
            }
            let second = try await WriterHold(store)
            var more: [Task<RecordResult?, Never>] = []
            for i in 0..<4 {
                more.append(Task { try? await store.record(delivery(key: "m\(i)", metrics: [observation(10)])) })
                for _ in 0..<2000 where store.writer.queued != i + 1 { try await Task.sleep(for: .milliseconds(5)) }
            }
            try await second.release()
            for t in more {
                guard case .stored = await t.value else {
                    Issue.record("every webhook of the second group is stored")
                    return
                }
            }
            let after = try await store.perform { db in
                (
                    try db.first("SELECT value FROM meta WHERE key = 'test_updates'")?.first?.text,
                    try db.first("SELECT sum, count FROM aggregates WHERE hour = '2024-05-01 14:00:00'").map {
                        "\($0[0].real ?? -1) \($0[1].integer ?? -1)"
                    }
                )
            }
            #expect(after.0 == "1")
            #expect(after.1 == "57.0 8")
            #expect(try await store.integrityCheck() == "ok")
        }
    }

    /// Groups are tried without savepoints; a webhook whose insert fails on its own is refused alone (the group is
    /// run again with savepoints), and every other webhook of its group is stored exactly once.
    @Test func aWebhookThatFailsAloneIsRefusedAloneInItsGroup() async throws {
        try await withTemporaryStore { store, _ in
            try await store.perform { db in
                try db.execute(
                    """
                    CREATE TRIGGER poison BEFORE INSERT ON deliveries WHEN NEW.delivery_key LIKE 'poison-%'
                    BEGIN SELECT RAISE(ABORT, 'poisoned for the test'); END
                    """)
            }
            let total = 300
            var stored = Set<String>()
            var refused = Set<String>()
            try await withThrowingTaskGroup(of: (String, Bool).self) { group in
                for i in 0..<total {
                    let key = i % 50 == 7 ? "poison-\(i)" : "k\(i)"
                    group.addTask {
                        do {
                            let r = try await store.record(delivery(key: key, events: 1))
                            guard case .stored = r else { return (key, false) }
                            return (key, true)
                        } catch {
                            return (key, false)
                        }
                    }
                }
                for try await (key, ok) in group {
                    if ok { stored.insert(key) } else { refused.insert(key) }
                }
            }
            #expect(refused == Set((0..<total).filter { $0 % 50 == 7 }.map { "poison-\($0)" }))
            #expect(stored.count == total - refused.count)
            #expect(store.groupCommitStats.largest > 1)
            // Exactly the stored webhooks are in the database, each once, with their outbox records.
            let rows = try await store.deliveries(limit: 1000, source: nil)
            #expect(rows.count == stored.count)
            #expect(try await store.stats(now: Date()).pending == stored.count)
            #expect(try await store.integrityCheck() == "ok")
        }
    }

}

/// Holds the writer thread with a job of its own until `release()`: what is queued meanwhile runs after it, the
/// webhooks among it as one group.
struct WriterHold {
    private let gate = DispatchSemaphore(value: 0)
    private let job: Task<Void, any Error>

    init(_ store: SQLiteDeliveryStore) async throws {
        let gate = self.gate
        let entered = DispatchSemaphore(value: 0)
        job = Task {
            try await store.perform { _ in
                entered.signal()
                gate.wait()
            }
        }
        while entered.wait(timeout: .now()) == .timedOut { try await Task.sleep(for: .milliseconds(5)) }
    }

    func release() async throws {
        gate.signal()
        try await job.value
    }
}

/// Opens a store on a database that outlives it: each `open()` is a restart (the caller closes each store).
func withReopenableStore(
    _ kind: StoreKind, _ body: (@Sendable () async throws -> any DeliveryStore) async throws -> Void
) async throws {
    switch kind {
    case .sqlite:
        let dir = NSTemporaryDirectory() + "ctb-store-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await body {
            try await SQLiteDeliveryStore.open(path: dir + "/bridge.sqlite", logger: Logger(label: "test"))
        }
    case .postgres:
        let url = try #require(postgresTestURL())
        let open: @Sendable () async throws -> any DeliveryStore = {
            try await PostgresDeliveryStore.open(url: url, logger: Logger(label: "test"))
        }
        do {
            try await body(open)
        } catch {
            let last = try await PostgresDeliveryStore.open(url: url, logger: Logger(label: "test"))
            await dropSchema(last)
            await last.close()
            throw error
        }
        let last = try await PostgresDeliveryStore.open(url: url, logger: Logger(label: "test"))
        await dropSchema(last)
        await last.close()
    }
}

@Suite("Store restarts and dead letters (SQLite and PostgreSQL)")
struct StoreRestartTests {
    @Test(arguments: StoreKind.available) func dedupeKeysAndRestart(_ kind: StoreKind) async throws {
        try await withReopenableStore(kind) { open in
            for round in 0..<2 {
                let store = try await open()
                let result = try await store.record(delivery(key: "same", events: 1))
                if round == 0 {
                    #expect(result == .stored(deliveryId: 1, events: 1, metrics: 0))
                    // Claimed but never answered: in flight when the process stops.
                    #expect(
                        try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60).count == 1)
                } else {
                    #expect(result == .duplicate(originalDeliveryId: 1))
                    // The record in flight at the stop is due again: at once on SQLite (one process per file
                    // releases its claims at start-up), when its lease ends on PostgreSQL (other replicas may
                    // still hold theirs).
                    let after: TimeInterval = kind == .sqlite ? 1 : 61
                    #expect(
                        try await store.claimDue(now: Date().addingTimeInterval(after), limit: 10, lease: 60).count == 1
                    )
                }
                await store.close()
            }
        }
    }

    @Test(arguments: StoreKind.available) func aDeadLetterIsCountedAndReplayed(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
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
