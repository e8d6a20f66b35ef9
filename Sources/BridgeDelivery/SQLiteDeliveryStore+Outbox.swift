import BridgeCore
import Foundation

/// The forwarder's side: claiming due records with a lease and marking the outcome of each send.
extension SQLiteDeliveryStore {
    public func claimDue(now: Date, limit: Int, lease: TimeInterval) async throws -> [OutboxItem] {
        try await transaction { db in
            let t = now.timeIntervalSince1970
            // Leases that ended: the claimer died or stalled. A newer pending send of the same aggregate makes an
            // expired one redundant; the others are due again.
            try db.query(
                """
                DELETE FROM outbox WHERE state = 'inflight' AND claimed_until <= ? AND agg_key IS NOT NULL
                  AND EXISTS (SELECT 1 FROM outbox o WHERE o.agg_key = outbox.agg_key AND o.state = 'pending')
                """, [.real(t)])
            try db.query(
                "UPDATE outbox SET state = 'pending', claimed_until = NULL WHERE state = 'inflight' AND "
                    + "claimed_until <= ?",
                [.real(t)])
            // One sender per aggregate key: a key still in flight is not claimed again until that send ends.
            let rows = try db.query(
                """
                SELECT o.id, o.kind, o.attempts, o.strikes, o.record, a.stream_ref, a.metric, a.aggregation,
                       a.dimensions, a.hour, a.sum, a.count, a.min, a.max, o.delivery_id
                FROM outbox o LEFT JOIN aggregates a ON a.key = o.agg_key
                WHERE o.state = 'pending' AND o.due_at <= ?
                  AND (o.agg_key IS NULL OR NOT EXISTS
                       (SELECT 1 FROM outbox f WHERE f.agg_key = o.agg_key AND f.state = 'inflight'))
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
            for item in items {
                try db.query(
                    "UPDATE outbox SET state = 'inflight', claimed_until = ?, updated_at = ? WHERE id = ?",
                    [.real(t + lease), .real(t), .integer(item.id)])
            }
            for id in broken {
                try db.query(
                    """
                    UPDATE outbox SET state = 'dead', last_error = 'the stored record cannot be read', updated_at = ?
                    WHERE id = ?
                    """, [.real(t), .integer(id)])
            }
            return items
        }
    }

    /// Decodes one claimed row; nil when it cannot be read (it is then dead-lettered).
    static func outboxItem(_ row: [SQLiteValue]) -> OutboxItem? {
        guard row.count == 15, let id = row[0].integer, let kind = row[1].text else { return nil }
        let attempts = Int(row[2].integer ?? 0)
        let strikes = Int(row[3].integer ?? 0)
        if kind == "event" {
            guard let text = row[4].text, let event = EventRecord(storedJSON: text) else { return nil }
            return OutboxItem(id: id, attempts: attempts, strikes: strikes, content: .event(event))
        }
        if kind == "cost_followup" {
            guard let text = row[4].text, let followUp = try? StoredCostFollowUp.decode(text) else { return nil }
            return OutboxItem(
                id: id, attempts: attempts, strikes: strikes,
                content: .costFollowUp(followUp, deliveryID: row[14].integer))
        }
        guard let ref = row[5].text, let name = row[6].text,
            let agg = row[7].text.flatMap(Aggregation.init(rawValue:)),
            let dimsText = row[8].text,
            case .object(let fields)? = try? JSONValue.parse(Array(dimsText.utf8)),
            let hour = row[9].text, let sum = row[10].real, let count = row[11].integer, let min = row[12].real,
            let max = row[13].real
        else { return nil }
        var dims: [String: String] = [:]
        for (key, value) in fields {
            guard case .string(let s) = value else { return nil }
            dims[key] = s
        }
        let value: Double =
            switch agg {
            case .sum: sum
            case .average: count > 0 ? sum / Double(count) : 0
            case .maximum: max
            case .minimum: min
            }
        return OutboxItem(
            id: id, attempts: attempts, strikes: strikes,
            content: .metric(
                streamRef: ref, name: name, aggregation: agg, dimensions: dims, hour: hour, value: value))
    }

    public func markSent(_ ids: [Int64], now: Date) async throws {
        guard !ids.isEmpty else { return }
        try await transaction { db in
            for id in ids {
                try db.query(
                    """
                    UPDATE outbox SET state = 'sent', attempts = attempts + 1, last_error = NULL, claimed_until = NULL,
                      updated_at = ? WHERE id = ?
                    """,
                    [.real(now.timeIntervalSince1970), .integer(id)])
            }
        }
    }

    public func markRetry(
        _ ids: [Int64], dueAt: Date, error: String, countAttempt: Bool, strikes: Int?, now: Date
    ) async throws {
        guard !ids.isEmpty else { return }
        try await transaction { db in
            for id in ids {
                // A newer pending send of the same aggregate makes this one redundant.
                try db.query(
                    """
                    DELETE FROM outbox WHERE id = ? AND agg_key IS NOT NULL AND EXISTS
                      (SELECT 1 FROM outbox o WHERE o.agg_key = outbox.agg_key AND o.state = 'pending' AND o.id != outbox.id)
                    """,
                    [.integer(id)])
                try db.query(
                    """
                    UPDATE outbox SET state = 'pending', due_at = ?, attempts = attempts + ?, strikes = COALESCE(?, strikes),
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
        try await transaction { db in
            for id in ids {
                try db.query(
                    """
                    UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?, claimed_until = NULL,
                      updated_at = ? WHERE id = ?
                    """,
                    [.text(reason), .real(now.timeIntervalSince1970), .integer(id)])
            }
        }
    }

    public func nextDue() async throws -> Date? {
        try await perform { db in
            let pending = try db.first("SELECT MIN(due_at) FROM outbox WHERE state = 'pending'")?.first?.real
            let lease = try db.first("SELECT MIN(claimed_until) FROM outbox WHERE state = 'inflight'")?.first?.real
            let next = [pending, lease].compactMap { $0 }.min()
            return next.map { Date(timeIntervalSince1970: $0) }
        }
    }

    public func stats(now: Date) async throws -> OutboxStats {
        try await perform { db in
            let rows = try db.query(SQLiteDeliveryStore.statsQuery, [.real(now.timeIntervalSince1970)])
            var s = OutboxStats(pending: 0, inflight: 0, sent: 0, dead: 0, oldestPendingAge: 0)
            for row in rows {
                let n = Int(row[1].integer ?? 0)
                switch row[0].text {
                case "pending":
                    s.pending = n
                    if let oldest = row[2].real { s.oldestPendingAge = max(0, now.timeIntervalSince1970 - oldest) }
                case "inflight": s.inflight = n
                case "sent": s.sent = n
                case "dead": s.dead = n
                case "scheduled": s.scheduled = n
                default: break
                }
            }
            return s
        }
    }
}

extension SQLiteDeliveryStore {
    /// Counts by state; cost follow-ups not due yet count as `scheduled`, and a due follow-up's age counts from its
    /// due time (it was not waiting before). Shared with the PostgreSQL store (`?` is the time now).
    static let statsQuery = """
        SELECT CASE WHEN state = 'pending' AND kind = 'cost_followup' AND due_at > ? THEN 'scheduled'
                    ELSE state END AS s,
               COUNT(*), MIN(CASE WHEN kind = 'cost_followup' THEN due_at ELSE created_at END)
        FROM outbox GROUP BY s
        """
}
