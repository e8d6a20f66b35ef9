import BridgeCore
import BridgeStore
import Foundation

/// Inspection and replay for the admin API and the CLI, readiness and retention.
extension SQLiteDeliveryStore {
    static let deliveryColumns =
        "id, source, delivery_key, received_at, status, http_status, events, metrics, explanation"

    static func summary(_ row: [SQLiteValue]) -> DeliverySummary? {
        guard row.count == 9, let id = row[0].integer, let source = row[1].text else { return nil }
        let explanation = row[8].text.flatMap { try? JSONDecoder().decode(Explanation.self, from: Data($0.utf8)) }
        return DeliverySummary(
            id: id, source: source, deliveryKey: row[2].text,
            receivedAt: Date(timeIntervalSince1970: row[3].real ?? 0), status: row[4].text ?? "",
            httpStatus: Int(row[5].integer ?? 0), events: Int(row[6].integer ?? 0), metrics: Int(row[7].integer ?? 0),
            explanation: explanation)
    }

    public func deliveries(limit: Int, source: String?) async throws -> [DeliverySummary] {
        try await perform { db in
            let rows =
                if let source {
                    try db.query(
                        "SELECT \(Self.deliveryColumns) FROM deliveries WHERE source = ? ORDER BY id DESC LIMIT ?",
                        [.text(source), .int(limit)])
                } else {
                    try db.query(
                        "SELECT \(Self.deliveryColumns) FROM deliveries ORDER BY id DESC LIMIT ?", [.int(limit)])
                }
            return rows.compactMap(SQLiteDeliveryStore.summary)
        }
    }

    public func delivery(id: Int64) async throws -> DeliverySummary? {
        try await perform { db in
            try db.first("SELECT \(Self.deliveryColumns) FROM deliveries WHERE id = ?", [.integer(id)]).flatMap(
                SQLiteDeliveryStore.summary)
        }
    }

    public func deadLetters(limit: Int) async throws -> [DeadLetter] {
        try await perform { db in
            let rows = try db.query(
                """
                SELECT o.id, o.delivery_id, o.kind, o.attempts, o.last_error, o.record, o.updated_at,
                       a.metric, a.aggregation, a.dimensions, a.hour
                FROM outbox o LEFT JOIN aggregates a ON a.key = o.agg_key
                WHERE o.state = \(OutboxState.dead.sql) ORDER BY o.id DESC LIMIT ?
                """, [.int(limit)])
            return rows.compactMap { row in
                guard let id = row[0].integer else { return nil }
                let kind = row[2].text ?? ""
                let record = StoredRecordText(
                    kind: kind, record: row[5].text, metric: row[7].text, aggregation: row[8].text,
                    dimensions: row[9].text, hour: row[10].text
                ).json
                return DeadLetter(
                    id: id, deliveryId: row[1].integer, kind: kind, attempts: Int(row[3].integer ?? 0),
                    reason: row[4].text ?? "", record: record,
                    updatedAt: Date(timeIntervalSince1970: row[6].real ?? 0))
            }
        }
    }

    public func replayDeadLetters(_ ids: [Int64]?, now: Date) async throws -> Int {
        try await transaction { db in
            let t = now.timeIntervalSince1970
            let selection =
                try ids
                ?? db.query("SELECT id FROM outbox WHERE state = \(OutboxState.dead.sql)").compactMap { $0[0].integer }
            var count = 0
            for id in selection {
                try db.query(
                    """
                    DELETE FROM outbox WHERE id = ? AND state = \(OutboxState.dead.sql) AND agg_key IS NOT NULL AND EXISTS
                      (SELECT 1 FROM outbox o WHERE o.agg_key = outbox.agg_key AND o.state = \(OutboxState.pending.sql))
                    """,
                    [.integer(id)])
                count += try db.query(
                    """
                    UPDATE outbox SET state = \(OutboxState.pending.sql), attempts = 0, strikes = 0, due_at = ?, updated_at = ?
                    WHERE id = ? AND state = \(OutboxState.dead.sql) RETURNING id
                    """,
                    [.real(t), .real(t), .integer(id)]
                ).count
            }
            return count
        }
    }

    /// True while webhooks can be stored: the writer runs and the last write did not fail (a failed write is
    /// cleared by the next successful commit or `probeWrite`). Cheap: no lock on the database.
    public func isWritable() async -> Bool {
        writer.isRunning && writeFailure.withLock { $0 == nil }
    }

    /// The last write failure, if the store is not writable.
    public var lastWriteFailure: StoreError? { writeFailure.withLock { $0 } }

    /// A small durable write (a heartbeat row) to find out whether the store can write again after a failure,
    /// for example once space is back on a full disk.
    public func probeWrite(now: Date) async {
        do {
            try await transaction { db in
                try db.query(
                    "INSERT INTO meta (key, value) VALUES ('heartbeat', ?) ON CONFLICT(key) DO UPDATE SET value = "
                        + "excluded.value",
                    [.text(String(now.timeIntervalSince1970))])
            }
            writeFailure.withLock { $0 = nil }
        } catch {
            noteWriteFailure(error)
        }
    }

    /// Deletes sent records, deliveries and dedupe keys older than `age` seconds, and aggregates whose hour is
    /// older than `aggregateRetention` (never one with a send still pending).
    public func prune(olderThan age: TimeInterval, now: Date) async throws {
        let cutoff = now.timeIntervalSince1970 - age
        let aggregateCutoff = now.timeIntervalSince1970 - max(age, aggregateRetention)
        try await transaction { db in
            try db.query("DELETE FROM outbox WHERE state = \(OutboxState.sent.sql) AND updated_at < ?", [.real(cutoff)])
            try db.query("DELETE FROM dedupe WHERE created_at < ?", [.real(cutoff)])
            try db.query(
                """
                DELETE FROM deliveries WHERE received_at < ?
                  AND id NOT IN (SELECT delivery_id FROM outbox WHERE delivery_id IS NOT NULL)
                """,
                [.real(cutoff)])
            try db.query(
                """
                DELETE FROM aggregates WHERE CAST(strftime('%s', hour) AS REAL) < ?
                  AND key NOT IN (SELECT agg_key FROM outbox WHERE agg_key IS NOT NULL AND state != \(OutboxState.sent.sql))
                """,
                [.real(aggregateCutoff)])
        }
        try await removeBodyFiles(before: cutoff)
    }

    /// Removes the request bodies' files of the days before the one of `cutoff` on which no delivery is left (a
    /// delivery with a record still waiting is kept past the cutoff, and so is its body).
    func removeBodyFiles(before cutoff: TimeInterval) async throws {
        guard let bodies else { return }
        let removed = try await perform { db in
            try bodies.removeDays(before: SQLiteBodyFiles.day(of: Date(timeIntervalSince1970: cutoff))) { day in
                try db.first(
                    """
                    SELECT 1 FROM deliveries WHERE received_at >= ? AND received_at < ? AND body_day = ? LIMIT 1
                    """,
                    [.real(Double(day) * 86400), .real(Double(day + 1) * 86400), .int(day)]) != nil
            }
        }
        if removed > 0 {
            logger.info("removed the request bodies of \(removed) past days, whose deliveries are pruned")
        }
    }
}

extension SQLiteDeliveryStore {
    /// `PRAGMA integrity_check`: "ok" for a sound database, else SQLite's list of problems.
    public func integrityCheck() async throws -> String {
        try await perform { db in
            try db.query("PRAGMA integrity_check").compactMap { $0.first?.text }.joined(separator: "\n")
        }
    }
}
