import BridgeCore
import BridgeStore
import Foundation

/// The forwarder's side: claiming due records with a lease and marking the outcome of each send. These
/// transactions are written, not synced (`Durability.written`): a claim lost in a power cut is released at start-up
/// anyway, and a lost mark sends its records again (at-least-once); they take no fsync from the webhooks' commits.
extension SQLiteDeliveryStore {
    public func claimDue(now: Date, limit: Int, lease: TimeInterval) async throws -> [OutboxItem] {
        try await transaction(durability: .written) { db in
            let t = now.timeIntervalSince1970
            // Leases that ended: the claimer died or stalled. A newer pending send of the same aggregate makes an
            // expired one redundant; the others are due again.
            try db.query(
                """
                DELETE FROM outbox WHERE state = \(OutboxState.inflight.sql) AND claimed_until <= ? AND agg_key IS NOT NULL
                  AND EXISTS (SELECT 1 FROM outbox o WHERE o.agg_key = outbox.agg_key AND o.state = \(OutboxState.pending.sql))
                """, [.real(t)])
            try db.query(
                "UPDATE outbox SET state = \(OutboxState.pending.sql), claimed_until = NULL WHERE state = \(OutboxState.inflight.sql) AND "
                    + "claimed_until <= ?",
                [.real(t)])
            // One sender per aggregate key: a key still in flight is not claimed again until that send ends.
            let rows = try db.query(
                """
                SELECT o.id, o.kind, o.attempts, o.strikes, o.record, a.stream_ref, a.metric, a.aggregation,
                       a.dimensions, a.hour, a.sum, a.count, a.min, a.max, o.delivery_id
                FROM outbox o LEFT JOIN aggregates a ON a.key = o.agg_key
                WHERE o.state = \(OutboxState.pending.sql) AND o.due_at <= ?
                  AND (o.agg_key IS NULL OR NOT EXISTS
                       (SELECT 1 FROM outbox f WHERE f.agg_key = o.agg_key AND f.state = \(OutboxState.inflight.sql)))
                ORDER BY o.due_at, o.id LIMIT ?
                """,
                [.real(t), .int(limit)])
            var items: [OutboxItem] = []
            var broken: [Int64] = []
            for row in rows {
                guard let item = SQLiteDeliveryStore.outboxItem(row) else {
                    if let id = row[0].integer { broken.append(id) }
                    continue
                }
                items.append(item)
            }
            if !items.isEmpty {
                try db.query(
                    "UPDATE outbox SET state = \(OutboxState.inflight.sql), claimed_until = ?, updated_at = ? "
                        + "WHERE id IN (SELECT value FROM json_each(?))",
                    [.real(t + lease), .real(t), SQLiteDeliveryStore.idList(items.map(\.id))])
            }
            for id in broken {
                try db.query(
                    """
                    UPDATE outbox SET state = \(OutboxState.dead.sql), last_error = ?, updated_at = ?
                    WHERE id = ?
                    """, [.text(OutboxItem.unreadable), .real(t), .integer(id)])
            }
            return items
        }
    }

    /// Decodes one claimed row (the shared rule, `OutboxItem.decode`); nil when it cannot be read (it is then
    /// dead-lettered).
    static func outboxItem(_ row: [SQLiteValue]) -> OutboxItem? {
        guard row.count == 15, let id = row[0].integer, let kind = row[1].text else { return nil }
        var aggregate: AggregateRow?
        if let ref = row[5].text, let name = row[6].text, let agg = row[7].text, let dims = row[8].text,
            let hour = row[9].text, let sum = row[10].real, let count = row[11].integer, let min = row[12].real,
            let max = row[13].real
        {
            aggregate = AggregateRow(
                streamRef: ref, metric: name, aggregation: agg, dimensions: dims, hour: hour, sum: sum, count: count,
                min: min, max: max)
        }
        return OutboxItem.decode(
            id: id, kind: kind, attempts: Int(row[2].integer ?? 0), strikes: Int(row[3].integer ?? 0),
            record: row[4].text, deliveryID: row[14].integer, aggregate: aggregate)
    }

    public func markSent(_ ids: [Int64], now: Date) async throws {
        guard !ids.isEmpty else { return }
        try await transaction(durability: .written) { db in
            try db.query(
                """
                UPDATE outbox SET state = \(OutboxState.sent.sql), attempts = attempts + 1, last_error = NULL, claimed_until = NULL,
                  updated_at = ? WHERE id IN (SELECT value FROM json_each(?))
                """,
                [.real(now.timeIntervalSince1970), SQLiteDeliveryStore.idList(ids)])
        }
    }

    /// Record ids as one parameter, a JSON array read by `json_each`: a claim or a mark is one statement for all its
    /// records (each row's own statement cost about as much as the row's update).
    static func idList(_ ids: [Int64]) -> SQLiteValue {
        var text = "["
        text.reserveCapacity(ids.count * 8 + 2)
        for (i, id) in ids.enumerated() {
            if i > 0 { text += "," }
            text += String(id)
        }
        text += "]"
        return .text(text)
    }

    public func markRetry(
        _ ids: [Int64], dueAt: Date, error: String, countAttempt: Bool, strikes: Int?, now: Date
    ) async throws {
        guard !ids.isEmpty else { return }
        try await transaction(durability: .written) { db in
            for id in ids {
                // A newer pending send of the same aggregate makes this one redundant.
                try db.query(
                    """
                    DELETE FROM outbox WHERE id = ? AND agg_key IS NOT NULL AND EXISTS
                      (SELECT 1 FROM outbox o WHERE o.agg_key = outbox.agg_key AND o.state = \(OutboxState.pending.sql) AND o.id != outbox.id)
                    """,
                    [.integer(id)])
                try db.query(
                    """
                    UPDATE outbox SET state = \(OutboxState.pending.sql), due_at = ?, attempts = attempts + ?, strikes = COALESCE(?, strikes),
                      last_error = ?, claimed_until = NULL, updated_at = ? WHERE id = ?
                    """,
                    [
                        .real(dueAt.timeIntervalSince1970), .int(countAttempt ? 1 : 0),
                        strikes.map { .int($0) } ?? .null, .text(error), .real(now.timeIntervalSince1970), .integer(id),
                    ])
            }
        }
    }

    public func markDead(_ ids: [Int64], reason: String, now: Date) async throws {
        guard !ids.isEmpty else { return }
        try await transaction(durability: .written) { db in
            for id in ids {
                try db.query(
                    """
                    UPDATE outbox SET state = \(OutboxState.dead.sql), attempts = attempts + 1, last_error = ?, claimed_until = NULL,
                      updated_at = ? WHERE id = ?
                    """,
                    [.text(reason), .real(now.timeIntervalSince1970), .integer(id)])
            }
        }
    }

    public func nextDue() async throws -> Date? {
        try await perform { db in
            // A pending send of a key still in flight is not due before that send ends (its lease end, below).
            let pending = try db.first(
                """
                SELECT MIN(o.due_at) FROM outbox o WHERE o.state = \(OutboxState.pending.sql)
                  AND (o.agg_key IS NULL OR NOT EXISTS
                       (SELECT 1 FROM outbox f WHERE f.agg_key = o.agg_key AND f.state = \(OutboxState.inflight.sql)))
                """)?.first?.real
            let lease = try db.first("SELECT MIN(claimed_until) FROM outbox WHERE state = \(OutboxState.inflight.sql)")?
                .first?.real
            let next = [pending, lease].compactMap { $0 }.min()
            return next.map { Date(timeIntervalSince1970: $0) }
        }
    }

    public func stats(now: Date) async throws -> OutboxStats {
        try await perform { db in
            let rows = try db.query(OutboxStats.query(now: "?"), [.real(now.timeIntervalSince1970)])
            return OutboxStats(
                rows: rows.compactMap { row in
                    row[0].text.map { (state: $0, count: Int(row[1].integer ?? 0), oldest: row[2].real) }
                }, now: now)
        }
    }
}
