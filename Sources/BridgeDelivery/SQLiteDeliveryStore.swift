import BridgeCloudthread
import BridgeCore
import BridgeVerification
import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLiteNIO
import ServiceLifecycle
import Synchronization

/// The embedded store: one SQLite database in WAL mode with `synchronous=FULL`.
///
/// All access goes through one serial writer task (`run()`), which takes every queued job when it is free:
/// consecutive webhook records share a single transaction and a single fsync (group commit), and each
/// caller is answered only after that commit.
public final class SQLiteDeliveryStore: DeliveryStore, Service {
    enum Job: Sendable {
        case record(NewDelivery, CheckedContinuation<RecordResult, any Error>)
        case work(@Sendable (SQLiteConnection) async -> Void)
    }

    struct State: ~Copyable {
        var jobs: [Job] = []
        var closed = false
    }

    public let path: String
    let logger: Logger
    let connection: SQLiteConnection
    private let state = Mutex(State())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    /// Largest number of webhooks committed together so far (observability and the benchmark).
    private let commitStats = Mutex((commits: 0, records: 0, largest: 0))

    /// Opens (creating if needed) the database at `path` and migrates it.
    public static func open(path: String, logger: Logger) async throws -> SQLiteDeliveryStore {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let store = SQLiteDeliveryStore(path: path, logger: logger, connection: connection)
        try await store.migrate()
        return store
    }

    private init(path: String, logger: Logger, connection: SQLiteConnection) {
        self.path = path
        self.logger = logger
        self.connection = connection
        (self.wakeups, self.wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    static let schema = [
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=FULL",
        "PRAGMA busy_timeout=5000",
        """
        CREATE TABLE IF NOT EXISTS deliveries (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          source TEXT NOT NULL,
          delivery_key TEXT,
          received_at REAL NOT NULL,
          status TEXT NOT NULL,
          http_status INTEGER NOT NULL,
          events INTEGER NOT NULL DEFAULT 0,
          metrics INTEGER NOT NULL DEFAULT 0,
          explanation TEXT
        )
        """,
        "CREATE INDEX IF NOT EXISTS deliveries_source ON deliveries(source, id)",
        """
        CREATE TABLE IF NOT EXISTS dedupe (
          source TEXT NOT NULL,
          key TEXT NOT NULL,
          delivery_id INTEGER NOT NULL,
          created_at REAL NOT NULL,
          PRIMARY KEY (source, key)
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS aggregates (
          key TEXT PRIMARY KEY,
          stream_token TEXT NOT NULL,
          metric TEXT NOT NULL,
          aggregation TEXT NOT NULL,
          dimensions TEXT NOT NULL,
          hour TEXT NOT NULL,
          sum REAL NOT NULL,
          count INTEGER NOT NULL,
          min REAL NOT NULL,
          max REAL NOT NULL,
          updated_at REAL NOT NULL
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS outbox (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          kind TEXT NOT NULL,
          delivery_id INTEGER,
          record TEXT,
          agg_key TEXT,
          state TEXT NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0,
          due_at REAL NOT NULL,
          created_at REAL NOT NULL,
          updated_at REAL NOT NULL,
          last_error TEXT
        )
        """,
        "CREATE UNIQUE INDEX IF NOT EXISTS outbox_pending_key ON outbox(agg_key) WHERE state = 'pending' AND agg_key IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, due_at)",
    ]

    func migrate() async throws {
        for statement in SQLiteDeliveryStore.schema {
            _ = try await connection.query(statement)
        }
        // Records in flight when the process stopped go back to pending (at-least-once).
        try await releaseInflight()
    }

    private func releaseInflight() async throws {
        let now = Date().timeIntervalSince1970
        _ = try await connection.query(
            "DELETE FROM outbox WHERE state = 'inflight' AND agg_key IS NOT NULL AND EXISTS (SELECT 1 FROM outbox o WHERE o.agg_key = outbox.agg_key AND o.state = 'pending')")
        _ = try await connection.query("UPDATE outbox SET state = 'pending', updated_at = ? WHERE state = 'inflight'", [.float(now)])
    }

    // MARK: Service

    /// The writer loop. On graceful shutdown (or cancellation) it finishes every queued job, checkpoints the
    /// WAL and closes. The loop itself runs in a task of its own, never cancelled, because SQLite work submitted
    /// from a cancelled task would be dropped by the thread pool.
    public func run() async throws {
        let worker = Task { try await self.writerLoop() }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                _ = await worker.result
            } onGracefulShutdown: {
                self.requestClose()
            }
        } onCancel: {
            self.requestClose()
        }
        try await worker.value
    }

    private func requestClose() {
        state.withLock { $0.closed = true }
        wake.yield()
        wake.finish()
    }

    private func writerLoop() async throws {
        for await _ in wakeups {
            await drain()
            if state.withLock({ $0.closed }) { break }
        }
        await drain()
        _ = try? await connection.query("PRAGMA wal_checkpoint(TRUNCATE)")
        try await connection.close()
        let stats = commitStats.withLock { $0 }
        logger.notice("store closed", metadata: ["store.commits": "\(stats.commits)", "store.records": "\(stats.records)", "store.largest_group": "\(stats.largest)"])
    }

    /// Group-commit statistics: commits, records committed, largest group.
    public var groupCommitStats: (commits: Int, records: Int, largest: Int) { commitStats.withLock { $0 } }

    private func enqueue(_ job: Job) -> Bool {
        let accepted = state.withLock { s -> Bool in
            if s.closed { return false }
            s.jobs.append(job)
            return true
        }
        if accepted { wake.yield() }
        return accepted
    }

    private func drain() async {
        while true {
            let jobs = state.withLock { s -> [Job] in
                let j = s.jobs
                s.jobs.removeAll(keepingCapacity: true)
                return j
            }
            if jobs.isEmpty { return }
            var batch: [(NewDelivery, CheckedContinuation<RecordResult, any Error>)] = []
            for job in jobs {
                switch job {
                case .record(let d, let c): batch.append((d, c))
                case .work(let body):
                    if !batch.isEmpty {
                        await commit(batch)
                        batch.removeAll()
                    }
                    await body(connection)
                }
            }
            if !batch.isEmpty { await commit(batch) }
        }
    }

    /// Runs `body` on the writer, serialised with everything else.
    func perform<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) async throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let ok = enqueue(.work({ connection in
                do { continuation.resume(returning: try await body(connection)) } catch { continuation.resume(throwing: error) }
            }))
            if !ok { continuation.resume(throwing: StoreError("the store is closed")) }
        }
    }

    /// Runs `body` in a transaction on the writer.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) async throws -> T) async throws -> T {
        try await perform { connection in
            _ = try await connection.query("BEGIN IMMEDIATE")
            do {
                let result = try await body(connection)
                _ = try await connection.query("COMMIT")
                return result
            } catch {
                _ = try? await connection.query("ROLLBACK")
                throw error
            }
        }
    }

    // MARK: recording

    public func record(_ delivery: NewDelivery) async throws -> RecordResult {
        try await withCheckedThrowingContinuation { continuation in
            if !enqueue(.record(delivery, continuation)) {
                continuation.resume(throwing: StoreError("the store is closed"))
            }
        }
    }

    private func commit(_ batch: [(NewDelivery, CheckedContinuation<RecordResult, any Error>)]) async {
        var results: [Result<RecordResult, any Error>] = []
        do {
            _ = try await connection.query("BEGIN IMMEDIATE")
        } catch {
            for (_, c) in batch { c.resume(throwing: error) }
            return
        }
        for (index, (delivery, _)) in batch.enumerated() {
            do {
                _ = try await connection.query("SAVEPOINT d\(index)")
                let result = try await insert(delivery)
                _ = try await connection.query("RELEASE d\(index)")
                results.append(.success(result))
            } catch {
                _ = try? await connection.query("ROLLBACK TO d\(index)")
                _ = try? await connection.query("RELEASE d\(index)")
                results.append(.failure(error))
            }
        }
        do {
            _ = try await connection.query("COMMIT")
        } catch {
            _ = try? await connection.query("ROLLBACK")
            logger.error("store commit failed", metadata: ["error": "\(error)"])
            for (_, c) in batch { c.resume(throwing: error) }
            return
        }
        commitStats.withLock {
            $0.commits += 1
            $0.records += batch.count
            $0.largest = max($0.largest, batch.count)
        }
        for ((_, continuation), result) in zip(batch, results) { continuation.resume(with: result) }
    }

    private func insert(_ d: NewDelivery) async throws -> RecordResult {
        let now = d.receivedAt.timeIntervalSince1970
        if let key = d.deliveryKey {
            let rows = try await connection.query("SELECT delivery_id FROM dedupe WHERE source = ? AND key = ?", [.text(d.source), .text(key)])
            if let existing = rows.first?.column("delivery_id")?.integer { return .duplicate(originalDeliveryId: Int64(existing)) }
        }
        // Per-item keys (a rule's dedupe_key): outputs of items seen before are left out.
        var events = d.events
        var metrics = d.metrics
        var firstSeen: Int64?
        var itemKeys = Set(events.compactMap(\.dedupeKey) + metrics.compactMap(\.dedupeKey))
        if !itemKeys.isEmpty {
            for key in itemKeys {
                let rows = try await connection.query("SELECT delivery_id FROM dedupe WHERE source = ? AND key = ?", [.text(d.source), .text("item:" + key)])
                if let existing = rows.first?.column("delivery_id")?.integer {
                    itemKeys.remove(key)
                    firstSeen = firstSeen ?? Int64(existing)
                }
            }
            events.removeAll { $0.dedupeKey.map { !itemKeys.contains($0) } ?? false }
            metrics.removeAll { $0.dedupeKey.map { !itemKeys.contains($0) } ?? false }
            if events.isEmpty, metrics.isEmpty, let firstSeen { return .duplicate(originalDeliveryId: firstSeen) }
        }
        let explanation = String(decoding: CloudthreadJSON.encode(d.explanation), as: UTF8.self)
        let rows = try await connection.query(
            "INSERT INTO deliveries (source, delivery_key, received_at, status, http_status, events, metrics, explanation) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [.text(d.source), d.deliveryKey.map(SQLiteData.text) ?? .null, .float(now), .text(d.status.rawValue), .integer(d.httpStatus), .integer(events.count), .integer(metrics.count), .text(explanation)])
        guard let id = rows.first?.column("id")?.integer else { throw StoreError("insert into deliveries returned no id") }
        if let key = d.deliveryKey {
            _ = try await connection.query("INSERT INTO dedupe (source, key, delivery_id, created_at) VALUES (?, ?, ?, ?)", [.text(d.source), .text(key), .integer(id), .float(now)])
        }
        for key in itemKeys {
            _ = try await connection.query("INSERT INTO dedupe (source, key, delivery_id, created_at) VALUES (?, ?, ?, ?)", [.text(d.source), .text("item:" + key), .integer(id), .float(now)])
        }
        for event in events {
            let json = String(decoding: CloudthreadJSON.encode(event), as: UTF8.self)
            _ = try await connection.query(
                "INSERT INTO outbox (kind, delivery_id, record, state, due_at, created_at, updated_at) VALUES ('event', ?, ?, 'pending', ?, ?, ?)",
                [.integer(id), .text(json), .float(now), .float(now), .float(now)])
        }
        for m in metrics {
            let key = SQLiteDeliveryStore.aggregateKey(m)
            let dims = String(decoding: CloudthreadJSON.encode(m.dimensions), as: UTF8.self)
            _ = try await connection.query(
                """
                INSERT INTO aggregates (key, stream_token, metric, aggregation, dimensions, hour, sum, count, min, max, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
                ON CONFLICT(key) DO UPDATE SET sum = sum + excluded.sum, count = count + 1,
                  min = MIN(min, excluded.min), max = MAX(max, excluded.max), updated_at = excluded.updated_at
                """,
                [.text(key), .text(m.streamToken), .text(m.name), .text(m.aggregation.rawValue), .text(dims), .text(m.hour), .float(m.value), .float(m.value), .float(m.value), .float(now)])
            _ = try await connection.query(
                """
                INSERT INTO outbox (kind, delivery_id, agg_key, state, due_at, created_at, updated_at) VALUES ('metric', ?, ?, 'pending', ?, ?, ?)
                ON CONFLICT(agg_key) WHERE state = 'pending' AND agg_key IS NOT NULL DO NOTHING
                """,
                [.integer(id), .text(key), .float(now), .float(now), .float(now)])
        }
        return .stored(deliveryId: Int64(id), events: events.count, metrics: metrics.count)
    }

    /// The aggregate key: stream (by a fingerprint, so the token is not repeated), metric, aggregation,
    /// sorted dimensions and hour.
    static func aggregateKey(_ m: MetricObservation) -> String {
        let fingerprint = ByteEncoding.hex(Array(Crypto.sha256(Array(m.streamToken.utf8)).prefix(8)))
        let dims = m.dimensions.keys.sorted().map { "\(JSONValue.quote($0)):\(JSONValue.quote(m.dimensions[$0]!))" }.joined(separator: ",")
        return "\(fingerprint)|\(m.name)|\(m.aggregation.rawValue)|{\(dims)}|\(m.hour)"
    }

    // MARK: forwarding

    public func claimDue(now: Date, limit: Int) async throws -> [OutboxItem] {
        try await transaction { connection in
            let rows = try await connection.query(
                """
                SELECT o.id, o.kind, o.attempts, o.record, a.stream_token, a.metric, a.aggregation, a.dimensions, a.hour,
                       a.sum, a.count, a.min, a.max
                FROM outbox o LEFT JOIN aggregates a ON a.key = o.agg_key
                WHERE o.state = 'pending' AND o.due_at <= ?
                ORDER BY o.due_at, o.id LIMIT ?
                """,
                [.float(now.timeIntervalSince1970), .integer(limit)])
            var items: [OutboxItem] = []
            var broken: [Int] = []
            for row in rows {
                guard let id = row.column("id")?.integer, let kind = row.column("kind")?.string else { continue }
                let attempts = row.column("attempts")?.integer ?? 0
                if kind == "event" {
                    guard let text = row.column("record")?.string,
                        let event = try? JSONDecoder().decode(EventRecord.self, from: Data(text.utf8))
                    else { broken.append(id); continue }
                    items.append(OutboxItem(id: Int64(id), attempts: attempts, content: .event(event)))
                } else {
                    guard let token = row.column("stream_token")?.string, let name = row.column("metric")?.string,
                        let agg = row.column("aggregation")?.string.flatMap(Aggregation.init(rawValue:)),
                        let dimsText = row.column("dimensions")?.string,
                        let dims = try? JSONDecoder().decode([String: String].self, from: Data(dimsText.utf8)),
                        let hour = row.column("hour")?.string, let sum = row.column("sum")?.double,
                        let count = row.column("count")?.integer, let min = row.column("min")?.double, let max = row.column("max")?.double
                    else { broken.append(id); continue }
                    let value: Double
                    switch agg {
                    case .sum: value = sum
                    case .average: value = count > 0 ? sum / Double(count) : 0
                    case .maximum: value = max
                    case .minimum: value = min
                    }
                    items.append(OutboxItem(id: Int64(id), attempts: attempts, content: .metric(streamToken: token, name: name, aggregation: agg, dimensions: dims, hour: hour, value: value)))
                }
            }
            let t = now.timeIntervalSince1970
            for item in items {
                _ = try await connection.query("UPDATE outbox SET state = 'inflight', updated_at = ? WHERE id = ?", [.float(t), .integer(Int(item.id))])
            }
            for id in broken {
                _ = try await connection.query("UPDATE outbox SET state = 'dead', last_error = 'the stored record cannot be read', updated_at = ? WHERE id = ?", [.float(t), .integer(id)])
            }
            return items
        }
    }

    public func markSent(_ ids: [Int64], now: Date) async throws {
        guard !ids.isEmpty else { return }
        try await transaction { connection in
            for id in ids {
                _ = try await connection.query("UPDATE outbox SET state = 'sent', attempts = attempts + 1, last_error = NULL, updated_at = ? WHERE id = ?", [.float(now.timeIntervalSince1970), .integer(Int(id))])
            }
        }
    }

    public func markRetry(_ ids: [Int64], dueAt: Date, error: String, countAttempt: Bool, now: Date) async throws {
        guard !ids.isEmpty else { return }
        try await transaction { connection in
            for id in ids {
                // A newer pending send of the same aggregate makes this one redundant.
                _ = try await connection.query(
                    "DELETE FROM outbox WHERE id = ? AND agg_key IS NOT NULL AND EXISTS (SELECT 1 FROM outbox o WHERE o.agg_key = outbox.agg_key AND o.state = 'pending' AND o.id != outbox.id)",
                    [.integer(Int(id))])
                _ = try await connection.query(
                    "UPDATE outbox SET state = 'pending', due_at = ?, attempts = attempts + ?, last_error = ?, updated_at = ? WHERE id = ?",
                    [.float(dueAt.timeIntervalSince1970), .integer(countAttempt ? 1 : 0), .text(error), .float(now.timeIntervalSince1970), .integer(Int(id))])
            }
        }
    }

    public func markDead(_ ids: [Int64], reason: String, now: Date) async throws {
        guard !ids.isEmpty else { return }
        try await transaction { connection in
            for id in ids {
                _ = try await connection.query("UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?, updated_at = ? WHERE id = ?", [.text(reason), .float(now.timeIntervalSince1970), .integer(Int(id))])
            }
        }
    }

    public func nextDue() async throws -> Date? {
        try await perform { connection in
            let rows = try await connection.query("SELECT MIN(due_at) AS due FROM outbox WHERE state = 'pending'")
            return rows.first?.column("due")?.double.map { Date(timeIntervalSince1970: $0) }
        }
    }

    public func stats(now: Date) async throws -> OutboxStats {
        try await perform { connection in
            let rows = try await connection.query("SELECT state, COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox GROUP BY state")
            var s = OutboxStats(pending: 0, inflight: 0, sent: 0, dead: 0, oldestPendingAge: 0)
            for row in rows {
                let n = row.column("n")?.integer ?? 0
                switch row.column("state")?.string {
                case "pending":
                    s.pending = n
                    if let oldest = row.column("oldest")?.double { s.oldestPendingAge = max(0, now.timeIntervalSince1970 - oldest) }
                case "inflight": s.inflight = n
                case "sent": s.sent = n
                case "dead": s.dead = n
                default: break
                }
            }
            return s
        }
    }

    static func summary(_ row: SQLiteRow) -> DeliverySummary? {
        guard let id = row.column("id")?.integer, let source = row.column("source")?.string else { return nil }
        let explanation = row.column("explanation")?.string.flatMap { try? JSONDecoder().decode(Explanation.self, from: Data($0.utf8)) }
        return DeliverySummary(
            id: Int64(id), source: source, deliveryKey: row.column("delivery_key")?.string,
            receivedAt: Date(timeIntervalSince1970: row.column("received_at")?.double ?? 0), status: row.column("status")?.string ?? "",
            httpStatus: row.column("http_status")?.integer ?? 0,
            events: row.column("events")?.integer ?? 0, metrics: row.column("metrics")?.integer ?? 0, explanation: explanation)
    }

    public func deliveries(limit: Int, source: String?) async throws -> [DeliverySummary] {
        try await perform { connection in
            let rows: [SQLiteRow]
            if let source {
                rows = try await connection.query("SELECT * FROM deliveries WHERE source = ? ORDER BY id DESC LIMIT ?", [.text(source), .integer(limit)])
            } else {
                rows = try await connection.query("SELECT * FROM deliveries ORDER BY id DESC LIMIT ?", [.integer(limit)])
            }
            return rows.compactMap(SQLiteDeliveryStore.summary)
        }
    }

    public func delivery(id: Int64) async throws -> DeliverySummary? {
        try await perform { connection in
            try await connection.query("SELECT * FROM deliveries WHERE id = ?", [.integer(Int(id))]).first.flatMap(SQLiteDeliveryStore.summary)
        }
    }

    public func deadLetters(limit: Int) async throws -> [DeadLetter] {
        try await perform { connection in
            let rows = try await connection.query(
                """
                SELECT o.id, o.delivery_id, o.kind, o.attempts, o.last_error, o.record, o.updated_at,
                       a.metric, a.aggregation, a.dimensions, a.hour
                FROM outbox o LEFT JOIN aggregates a ON a.key = o.agg_key
                WHERE o.state = 'dead' ORDER BY o.id DESC LIMIT ?
                """, [.integer(limit)])
            return rows.compactMap { row in
                guard let id = row.column("id")?.integer else { return nil }
                let kind = row.column("kind")?.string ?? ""
                let record = kind == "event"
                    ? (row.column("record")?.string ?? "")
                    : "{\"metric\":\(JSONValue.quote(row.column("metric")?.string ?? "")),\"aggregation\":\(JSONValue.quote(row.column("aggregation")?.string ?? "")),\"dimensions\":\(row.column("dimensions")?.string ?? "{}"),\"hour\":\(JSONValue.quote(row.column("hour")?.string ?? ""))}"
                return DeadLetter(
                    id: Int64(id), deliveryId: row.column("delivery_id")?.integer.map(Int64.init), kind: kind,
                    attempts: row.column("attempts")?.integer ?? 0, reason: row.column("last_error")?.string ?? "",
                    record: record, updatedAt: Date(timeIntervalSince1970: row.column("updated_at")?.double ?? 0))
            }
        }
    }

    public func replayDeadLetters(_ ids: [Int64]?, now: Date) async throws -> Int {
        try await transaction { connection in
            let t = now.timeIntervalSince1970
            let selection: [Int]
            if let ids {
                selection = ids.map { Int($0) }
            } else {
                selection = try await connection.query("SELECT id FROM outbox WHERE state = 'dead'").compactMap { $0.column("id")?.integer }
            }
            var count = 0
            for id in selection {
                _ = try await connection.query(
                    "DELETE FROM outbox WHERE id = ? AND state = 'dead' AND agg_key IS NOT NULL AND EXISTS (SELECT 1 FROM outbox o WHERE o.agg_key = outbox.agg_key AND o.state = 'pending')",
                    [.integer(id)])
                let rows = try await connection.query(
                    "UPDATE outbox SET state = 'pending', attempts = 0, due_at = ?, updated_at = ? WHERE id = ? AND state = 'dead' RETURNING id",
                    [.float(t), .float(t), .integer(id)])
                count += rows.count
            }
            return count
        }
    }

    public func isWritable() async -> Bool {
        do {
            try await perform { connection in
                _ = try await connection.query("BEGIN IMMEDIATE")
                _ = try await connection.query("ROLLBACK")
            }
            return true
        } catch {
            return false
        }
    }

    /// Deletes sent records and dedupe keys older than `age` seconds.
    public func prune(olderThan age: TimeInterval, now: Date) async throws {
        let cutoff = now.timeIntervalSince1970 - age
        try await transaction { connection in
            _ = try await connection.query("DELETE FROM outbox WHERE state = 'sent' AND updated_at < ?", [.float(cutoff)])
            _ = try await connection.query("DELETE FROM dedupe WHERE created_at < ?", [.float(cutoff)])
            _ = try await connection.query("DELETE FROM deliveries WHERE received_at < ? AND id NOT IN (SELECT delivery_id FROM outbox WHERE delivery_id IS NOT NULL)", [.float(cutoff)])
            _ = try await connection.query("DELETE FROM aggregates WHERE updated_at < ? AND key NOT IN (SELECT agg_key FROM outbox WHERE agg_key IS NOT NULL AND state != 'sent')", [.float(cutoff)])
        }
    }
}
