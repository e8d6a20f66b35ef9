import BridgeCore
import BridgeStore
import Foundation
import PostgresNIO

/// The forwarders' side, shared by every replica: claims with `FOR UPDATE SKIP LOCKED` and a lease, marks.
extension PostgresDeliveryStore {
    /// Claims due records: pending ones whose time has come and in-flight ones whose lease ended. An aggregate
    /// key is claimed only under its aggregate row's lock (`FOR UPDATE SKIP LOCKED`: a key another replica is
    /// claiming, or a webhook is updating, waits for the next round) and only when no unexpired claim of the key
    /// is in flight; its value is read under that lock, so it is the value at claim time.
    /// The forwarders claim about every second, so a claim that cannot reach PostgreSQL also makes the store
    /// not writable (readiness fails even while no webhook arrives), and one that succeeds makes it writable.
    public func claimDue(now: Date, limit: Int, lease: TimeInterval) async throws -> [OutboxItem] {
        do {
            let items = try await claim(now: now, limit: limit, lease: lease)
            noteSuccess()
            return items
        } catch {
            noteFailure(error)
            throw error
        }
    }

    func claim(now: Date, limit: Int, lease: TimeInterval) async throws -> [OutboxItem] {
        let instance = self.instance
        return try await transaction("claim due records") { [logger] db in
            let t = now.timeIntervalSince1970
            // An expired claim of an aggregate superseded by a newer send of the same key is redundant.
            try await db.query(
                """
                DELETE FROM outbox WHERE id IN (
                  SELECT o.id FROM outbox o WHERE o.state = 'inflight' AND o.claimed_until <= \(t)
                    AND o.agg_key IS NOT NULL AND EXISTS (SELECT 1 FROM outbox n WHERE n.agg_key = o.agg_key
                      AND n.id > o.id AND n.state IN ('pending', 'inflight'))
                  FOR UPDATE SKIP LOCKED)
                """, logger: logger)
            var candidates:
                [(
                    id: Int64, kind: String, key: String?, attempts: Int, strikes: Int, record: String?,
                    delivery: Int64?
                )] =
                    []
            for try await (id, kind, key, attempts, strikes, record, delivery) in try await db.query(
                """
                SELECT id, kind, agg_key, attempts, strikes, record, delivery_id FROM outbox
                WHERE (state = 'pending' AND due_at <= \(t)) OR (state = 'inflight' AND claimed_until <= \(t))
                ORDER BY due_at, id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                """, logger: logger
            ).decode((Int64, String, String?, Int, Int, String?, Int64?).self) {
                candidates.append((id, kind, key, attempts, strikes, record, delivery))
            }
            guard !candidates.isEmpty else { return [] }
            let keys = Array(Set(candidates.compactMap(\.key))).sorted()
            var aggregates: [String: Aggregate] = [:]
            var busy = Set<String>()
            if !keys.isEmpty {
                for try await (key, ref, metric, agg, dims, hour, sum, count, min, max) in try await db.query(
                    """
                    SELECT key, stream_ref, metric, aggregation, dimensions, hour, sum, count, min, max
                    FROM aggregates WHERE key = ANY(\(keys)) ORDER BY key FOR UPDATE SKIP LOCKED
                    """, logger: logger
                ).decode((String, String, String, String, String, String, Double, Int64, Double, Double).self) {
                    aggregates[key] = Aggregate(
                        streamRef: ref, metric: metric, aggregation: agg, dimensions: dims, hour: hour, sum: sum,
                        count: count, min: min, max: max)
                }
                let ids = candidates.map(\.id)
                for try await key in try await db.query(
                    """
                    SELECT DISTINCT agg_key FROM outbox WHERE agg_key = ANY(\(keys)) AND state = 'inflight'
                      AND claimed_until > \(t) AND NOT (id = ANY(\(ids)))
                    """, logger: logger
                ).decode(String.self) {
                    busy.insert(key)
                }
            }
            var missing: [String] = []
            var items: [OutboxItem] = []
            var broken: [Int64] = []
            var taken = Set<String>()
            for c in candidates {
                if c.kind == "event" {
                    guard let text = c.record,
                        let event = try? JSONDecoder().decode(EventRecord.self, from: Data(text.utf8))
                    else {
                        broken.append(c.id)
                        continue
                    }
                    items.append(OutboxItem(id: c.id, attempts: c.attempts, strikes: c.strikes, content: .event(event)))
                    continue
                }
                if c.kind == "cost_followup" {
                    guard let text = c.record, let followUp = try? StoredCostFollowUp.decode(text) else {
                        broken.append(c.id)
                        continue
                    }
                    items.append(
                        OutboxItem(
                            id: c.id, attempts: c.attempts, strikes: c.strikes,
                            content: .costFollowUp(followUp, deliveryID: c.delivery)))
                    continue
                }
                guard let key = c.key else {
                    broken.append(c.id)
                    continue
                }
                guard !busy.contains(key), !taken.contains(key) else { continue }
                guard let a = aggregates[key] else {
                    missing.append(key)
                    continue
                }
                guard let content = a.content else {
                    broken.append(c.id)
                    continue
                }
                taken.insert(key)
                items.append(OutboxItem(id: c.id, attempts: c.attempts, strikes: c.strikes, content: content))
            }
            // A key whose aggregate is locked elsewhere waits; one whose aggregate is gone cannot be sent.
            if !missing.isEmpty {
                var present = Set<String>()
                for try await key in try await db.query(
                    "SELECT key FROM aggregates WHERE key = ANY(\(missing))", logger: logger
                ).decode(String.self) {
                    present.insert(key)
                }
                for c in candidates where c.key.map({ missing.contains($0) && !present.contains($0) }) ?? false {
                    broken.append(c.id)
                }
            }
            if !items.isEmpty {
                try await db.query(
                    """
                    UPDATE outbox SET state = 'inflight', claimed_by = \(instance), claimed_until = \(t + lease),
                      updated_at = \(t) WHERE id = ANY(\(items.map(\.id)))
                    """, logger: logger)
            }
            if !broken.isEmpty {
                try await db.query(
                    """
                    UPDATE outbox SET state = 'dead', last_error = 'the stored record cannot be read',
                      claimed_by = NULL, claimed_until = NULL, updated_at = \(t) WHERE id = ANY(\(broken))
                    """, logger: logger)
            }
            return items
        }
    }

    /// One aggregate row as claimed.
    struct Aggregate {
        var streamRef, metric, aggregation, dimensions, hour: String
        var sum: Double
        var count: Int64
        var min, max: Double

        var content: OutboxItem.Content? {
            guard let agg = Aggregation(rawValue: aggregation),
                let dims = try? JSONDecoder().decode([String: String].self, from: Data(dimensions.utf8))
            else { return nil }
            let value: Double =
                switch agg {
                case .sum: sum
                case .average: count > 0 ? sum / Double(count) : 0
                case .maximum: max
                case .minimum: min
                }
            return .metric(
                streamRef: streamRef, name: metric, aggregation: agg, dimensions: dims, hour: hour, value: value)
        }
    }

    public func markSent(_ ids: [Int64], now: Date) async throws {
        guard !ids.isEmpty else { return }
        let t = now.timeIntervalSince1970
        try await transaction("mark records sent") { [logger] db in
            try await db.query(
                """
                UPDATE outbox SET state = 'sent', attempts = attempts + 1, last_error = NULL, claimed_by = NULL,
                  claimed_until = NULL, updated_at = \(t) WHERE id = ANY(\(ids))
                """, logger: logger)
        }
    }

    /// Locks the aggregate rows of the records `ids` (sorted by key, as ingest does), so no webhook inserts a
    /// pending send of those keys while a record of them turns pending again.
    static func lockAggregates(of ids: [Int64], _ db: PostgresConnection, logger: Logger) async throws {
        try await db.query(
            """
            SELECT key FROM aggregates WHERE key IN (SELECT agg_key FROM outbox WHERE id = ANY(\(ids)))
            ORDER BY key FOR UPDATE
            """, logger: logger)
    }

    public func markRetry(
        _ ids: [Int64], dueAt: Date, error: String, countAttempt: Bool, strikes: Int?, now: Date
    ) async throws {
        guard !ids.isEmpty else { return }
        let t = now.timeIntervalSince1970
        let due = dueAt.timeIntervalSince1970
        try await transaction("mark records for retry") { [logger] db in
            try await Self.lockAggregates(of: ids, db, logger: logger)
            // A newer pending send of the same aggregate makes this one redundant.
            try await db.query(
                """
                DELETE FROM outbox WHERE id = ANY(\(ids)) AND agg_key IS NOT NULL AND EXISTS
                  (SELECT 1 FROM outbox o WHERE o.agg_key = outbox.agg_key AND o.state = 'pending' AND o.id != outbox.id)
                """, logger: logger)
            try await db.query(
                """
                UPDATE outbox SET state = 'pending', due_at = \(due), attempts = attempts + \(countAttempt ? 1 : 0),
                  strikes = COALESCE(\(strikes), strikes), last_error = \(Self.text(error)), claimed_by = NULL,
                  claimed_until = NULL, updated_at = \(t) WHERE id = ANY(\(ids))
                """, logger: logger)
        }
    }

    public func markDead(_ ids: [Int64], reason: String, now: Date) async throws {
        guard !ids.isEmpty else { return }
        let t = now.timeIntervalSince1970
        try await transaction("mark records dead") { [logger] db in
            try await db.query(
                """
                UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = \(Self.text(reason)), claimed_by = NULL,
                  claimed_until = NULL, updated_at = \(t) WHERE id = ANY(\(ids))
                """, logger: logger)
        }
    }

    /// The earliest due time or lease end, but no later than about a second from now: other replicas store
    /// records this process is not told about, so the forwarder looks again within a jittered second.
    public func nextDue() async throws -> Date? {
        let poll = Date().addingTimeInterval(Double.random(in: 0.5...1.0))
        let found = try await perform("find the next due record") { [logger] client -> Double? in
            var next: Double?
            for try await (pending, lease) in try await client.query(
                """
                SELECT (SELECT MIN(due_at) FROM outbox WHERE state = 'pending'),
                       (SELECT MIN(claimed_until) FROM outbox WHERE state = 'inflight')
                """, logger: logger
            ).decode((Double?, Double?).self) {
                next = [pending, lease].compactMap { $0 }.min()
            }
            return next
        }
        guard let found else { return poll }
        return min(Date(timeIntervalSince1970: found), poll)
    }

    public func stats(now: Date) async throws -> OutboxStats {
        try await perform("count the outbox") { [logger] client in
            var s = OutboxStats(pending: 0, inflight: 0, sent: 0, dead: 0, oldestPendingAge: 0)
            for try await (state, n, oldest) in try await client.query(
                """
                SELECT CASE WHEN state = 'pending' AND kind = 'cost_followup' AND due_at > \(now.timeIntervalSince1970)
                            THEN 'scheduled' ELSE state END AS s,
                       COUNT(*), MIN(CASE WHEN kind = 'cost_followup' THEN due_at ELSE created_at END)
                FROM outbox GROUP BY s
                """, logger: logger
            ).decode((String, Int64, Double?).self) {
                switch state {
                case "pending":
                    s.pending = Int(n)
                    if let oldest { s.oldestPendingAge = max(0, now.timeIntervalSince1970 - oldest) }
                case "inflight": s.inflight = Int(n)
                case "sent": s.sent = Int(n)
                case "dead": s.dead = Int(n)
                case "scheduled": s.scheduled = Int(n)
                default: break
                }
            }
            return s
        }
    }
}
