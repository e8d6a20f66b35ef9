import BridgeCore
import BridgeStore
import Foundation
import PostgresNIO

/// Inspection and replay for the admin API and the CLI, readiness and retention.
extension PostgresDeliveryStore {
    static let deliveryColumns =
        "id, source, delivery_key, received_at, status, http_status, events, metrics, explanation"

    static func summaries(_ rows: PostgresRowSequence) async throws -> [DeliverySummary] {
        var out: [DeliverySummary] = []
        for try await (id, source, key, received, status, http, events, metrics, explanation) in rows.decode(
            (Int64, String, String?, Double, String, Int, Int, Int, String?).self)
        {
            out.append(
                DeliverySummary(
                    id: id, source: source, deliveryKey: key, receivedAt: Date(timeIntervalSince1970: received),
                    status: status, httpStatus: http, events: events, metrics: metrics,
                    explanation: explanation.flatMap {
                        try? JSONDecoder().decode(Explanation.self, from: Data($0.utf8))
                    }))
        }
        return out
    }

    public func deliveries(limit: Int, source: String?) async throws -> [DeliverySummary] {
        try await perform("list deliveries") { [logger] client in
            let rows =
                if let source {
                    try await client.query(
                        """
                        SELECT \(unescaped: Self.deliveryColumns) FROM deliveries WHERE source = \(source)
                        ORDER BY id DESC LIMIT \(limit)
                        """, logger: logger)
                } else {
                    try await client.query(
                        "SELECT \(unescaped: Self.deliveryColumns) FROM deliveries ORDER BY id DESC LIMIT \(limit)",
                        logger: logger)
                }
            return try await Self.summaries(rows)
        }
    }

    public func delivery(id: Int64) async throws -> DeliverySummary? {
        try await perform("read a delivery") { [logger] client in
            try await Self.summaries(
                try await client.query(
                    "SELECT \(unescaped: Self.deliveryColumns) FROM deliveries WHERE id = \(id)", logger: logger)
            ).first
        }
    }

    public func deadLetters(limit: Int) async throws -> [DeadLetter] {
        try await perform("list dead letters") { [logger] client in
            var out: [DeadLetter] = []
            for try await (id, deliveryId, kind, attempts, error, record, updated, metric, agg, dims, hour)
                in try await client.query(
                    """
                    SELECT o.id, o.delivery_id, o.kind, o.attempts, o.last_error, o.record, o.updated_at,
                           a.metric, a.aggregation, a.dimensions, a.hour
                    FROM outbox o LEFT JOIN aggregates a ON a.key = o.agg_key
                    WHERE o.state = \(unescaped: OutboxState.dead.sql) ORDER BY o.id DESC LIMIT \(limit)
                    """, logger: logger
                ).decode(
                    (Int64, Int64?, String, Int, String?, String?, Double, String?, String?, String?, String?).self)
            {
                let text = StoredRecordText(
                    kind: kind, record: record, metric: metric, aggregation: agg, dimensions: dims, hour: hour
                ).json
                out.append(
                    DeadLetter(
                        id: id, deliveryId: deliveryId, kind: kind, attempts: attempts, reason: error ?? "",
                        record: text, updatedAt: Date(timeIntervalSince1970: updated)))
            }
            return out
        }
    }

    public func replayDeadLetters(_ ids: [Int64]?, now: Date) async throws -> Int {
        let t = now.timeIntervalSince1970
        return try await transaction("replay dead letters") { [logger] db in
            var selection: [Int64] = []
            if let ids {
                selection = ids
            } else {
                for try await id in try await db.query(
                    "SELECT id FROM outbox WHERE state = \(unescaped: OutboxState.dead.sql)", logger: logger
                )
                .decode(Int64.self) {
                    selection.append(id)
                }
            }
            guard !selection.isEmpty else { return 0 }
            try await Self.lockAggregates(of: selection, db, logger: logger)
            try await db.query(
                """
                DELETE FROM outbox WHERE id = ANY(\(selection)) AND state = \(unescaped: OutboxState.dead.sql) AND agg_key IS NOT NULL AND EXISTS
                  (SELECT 1 FROM outbox o WHERE o.agg_key = outbox.agg_key AND o.state = \(unescaped: OutboxState.pending.sql))
                """, logger: logger)
            // Two dead letters of one key: only the newest turns pending (one pending send per key).
            try await db.query(
                """
                DELETE FROM outbox WHERE id = ANY(\(selection)) AND state = \(unescaped: OutboxState.dead.sql) AND agg_key IS NOT NULL AND EXISTS
                  (SELECT 1 FROM outbox o WHERE o.agg_key = outbox.agg_key AND o.state = \(unescaped: OutboxState.dead.sql)
                     AND o.id = ANY(\(selection)) AND o.id > outbox.id)
                """, logger: logger)
            var count = 0
            for try await _ in try await db.query(
                """
                UPDATE outbox SET state = \(unescaped: OutboxState.pending.sql), attempts = 0, strikes = 0, due_at = \(t), updated_at = \(t)
                WHERE id = ANY(\(selection)) AND state = \(unescaped: OutboxState.dead.sql) RETURNING id
                """, logger: logger
            ).decode(Int64.self) {
                count += 1
            }
            return count
        }
    }

    /// True while webhooks can be stored: the last write (or probe) reached PostgreSQL. No query.
    public func isWritable() async -> Bool {
        writeFailure.withLock { $0 == nil }
    }

    /// The last write failure, if the store is not writable.
    public var lastWriteFailure: StoreError? { writeFailure.withLock { $0 } }

    /// A heartbeat row: finds out whether PostgreSQL takes writes again.
    public func probeWrite(now: Date) async {
        do {
            let value = String(now.timeIntervalSince1970)
            try await transaction("probe", timeout: writeTimeout) { [logger] db in
                try await db.query(
                    """
                    INSERT INTO meta (key, value) VALUES ('heartbeat', \(value))
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value
                    """, logger: logger)
            }
            noteSuccess()
        } catch {
            noteFailure(error)
        }
    }

    /// Deletes what retention no longer needs, as the SQLite store does; one replica at a time (the others find
    /// the advisory lock taken and skip this round).
    public func prune(olderThan age: TimeInterval, now: Date) async throws {
        let cutoff = now.timeIntervalSince1970 - age
        let aggregateCutoff = now.timeIntervalSince1970 - max(age, aggregateRetention)
        try await transaction("prune") { [logger] db in
            var locked = false
            for try await l in try await db.query(
                "SELECT pg_try_advisory_xact_lock(\(Self.pruneLock))", logger: logger
            ).decode(Bool.self) {
                locked = l
            }
            guard locked else { return }
            try await db.query(
                "DELETE FROM outbox WHERE state = \(unescaped: OutboxState.sent.sql) AND updated_at < \(cutoff)",
                logger: logger)
            try await db.query("DELETE FROM dedupe WHERE created_at < \(cutoff)", logger: logger)
            try await db.query(
                """
                DELETE FROM deliveries d WHERE d.received_at < \(cutoff)
                  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.delivery_id = d.id)
                """, logger: logger)
            try await db.query(
                """
                DELETE FROM aggregates a WHERE EXTRACT(EPOCH FROM a.hour::timestamptz) < \(aggregateCutoff)
                  AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.agg_key = a.key AND o.state != \(unescaped: OutboxState.sent.sql))
                """, logger: logger)
        }
    }
}
