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
            try await db.query(Self.claimPlanning, logger: logger)
            // An expired claim of an aggregate superseded by a newer send of the same key is redundant.
            try await db.query(
                """
                DELETE FROM outbox WHERE id IN (
                  SELECT o.id FROM outbox o WHERE o.state = \(unescaped: OutboxState.inflight.sql) AND o.claimed_until <= \(t)
                    AND o.agg_key IS NOT NULL AND EXISTS (SELECT 1 FROM outbox n WHERE n.agg_key = o.agg_key
                      AND n.id > o.id AND n.state IN (\(unescaped: OutboxState.pending.sql), \(unescaped: OutboxState.inflight.sql)))
                  FOR UPDATE SKIP LOCKED)
                """, logger: logger)
            // Two index scans, each stopping at its limit: the expired claims first (a replica that died; few),
            // then the pending records in due order, each through its partial index (schema version 4), which holds
            // the records in claim order. One query with `OR` was planned as a bitmap scan of `outbox_due` for both
            // states, which read every entry of each, also the dead ones every claim and mark leaves until
            // autovacuum passes (70,000 of them, 20 ms a claim, after 10 s of load); an index scan in the index's
            // order stops at the limit and marks the dead entries it meets, so the next claim skips them.
            var candidates: [ClaimRow] = []
            func read(_ query: PostgresQuery) async throws {
                let rows = try await db.query(query, logger: logger)
                for try await row in rows.decode((Int64, String, String?, Int, Int, String?, Int64?).self) {
                    candidates.append(row)
                }
            }
            try await read(Self.expiredClaims(at: t, limit: limit))
            if candidates.count < limit { try await read(Self.pendingClaims(at: t, limit: limit - candidates.count)) }
            guard !candidates.isEmpty else { return [] }
            let keys = Array(Set(candidates.compactMap(\.key))).sorted()
            var aggregates: [String: AggregateRow] = [:]
            var busy = Set<String>()
            if !keys.isEmpty {
                for try await (key, ref, metric, agg, dims, hour, sum, count, min, max) in try await db.query(
                    """
                    SELECT key, stream_ref, metric, aggregation, dimensions, hour, sum, count, min, max
                    FROM aggregates WHERE key = ANY(\(keys)) ORDER BY key FOR UPDATE SKIP LOCKED
                    """, logger: logger
                ).decode((String, String, String, String, String, String, Double, Int64, Double, Double).self) {
                    aggregates[key] = AggregateRow(
                        streamRef: ref, metric: metric, aggregation: agg, dimensions: dims, hour: hour, sum: sum,
                        count: count, min: min, max: max)
                }
                let ids = candidates.map(\.id)
                for try await key in try await db.query(
                    """
                    SELECT DISTINCT agg_key FROM outbox WHERE agg_key = ANY(\(keys)) AND state = \(unescaped: OutboxState.inflight.sql)
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
                guard OutboxKind(rawValue: c.kind) == .metric else {
                    guard
                        let item = OutboxItem.decode(
                            id: c.id, kind: c.kind, attempts: c.attempts, strikes: c.strikes, record: c.record,
                            deliveryID: c.delivery, aggregate: nil)
                    else {
                        broken.append(c.id)
                        continue
                    }
                    items.append(item)
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
                guard
                    let item = OutboxItem.decode(
                        id: c.id, kind: c.kind, attempts: c.attempts, strikes: c.strikes, record: c.record,
                        deliveryID: c.delivery, aggregate: a)
                else {
                    broken.append(c.id)
                    continue
                }
                taken.insert(key)
                items.append(item)
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
                    UPDATE outbox SET state = \(unescaped: OutboxState.inflight.sql), claimed_by = \(instance), claimed_until = \(t + lease),
                      updated_at = \(t) WHERE id = ANY(\(items.map(\.id)))
                    """, logger: logger)
            }
            if !broken.isEmpty {
                try await db.query(
                    """
                    UPDATE outbox SET state = \(unescaped: OutboxState.dead.sql), last_error = \(OutboxItem.unreadable),
                      claimed_by = NULL, claimed_until = NULL, updated_at = \(t) WHERE id = ANY(\(broken))
                    """, logger: logger)
            }
            return items
        }
    }

    /// Set at the start of each claim's transaction, for it alone: no bitmap scans. Without statistics (a new table,
    /// or one that autovacuum has not analyzed since a load began) PostgreSQL guesses that few rows match and plans
    /// a bitmap scan of the partial index followed by a sort, which reads every entry, dead or alive, before the
    /// limit applies; an index scan is the plan at any size here.
    static let claimPlanning: PostgresQuery = "SET LOCAL enable_bitmapscan = off"

    /// A record as a claim reads it: id, kind, aggregate key, attempts, strikes, record, delivery.
    typealias ClaimRow = (
        id: Int64, kind: String, key: String?, attempts: Int, strikes: Int, record: String?, delivery: Int64?
    )

    /// In-flight records whose lease ended at `t`, oldest lease first (`outbox_inflight_until`), locked.
    static func expiredClaims(at t: Double, limit: Int) -> PostgresQuery {
        """
        SELECT id, kind, agg_key, attempts, strikes, record, delivery_id FROM outbox
        WHERE state = \(unescaped: OutboxState.inflight.sql) AND claimed_until <= \(t)
        ORDER BY claimed_until, id LIMIT \(limit) FOR UPDATE SKIP LOCKED
        """
    }

    /// Pending records due at `t`, in due order (`outbox_pending_due`), locked.
    static func pendingClaims(at t: Double, limit: Int) -> PostgresQuery {
        """
        SELECT id, kind, agg_key, attempts, strikes, record, delivery_id FROM outbox
        WHERE state = \(unescaped: OutboxState.pending.sql) AND due_at <= \(t)
        ORDER BY due_at, id LIMIT \(limit) FOR UPDATE SKIP LOCKED
        """
    }

    public func markSent(_ ids: [Int64], now: Date) async throws {
        guard !ids.isEmpty else { return }
        let t = now.timeIntervalSince1970
        try await transaction("mark records sent") { [logger] db in
            try await db.query(
                """
                UPDATE outbox SET state = \(unescaped: OutboxState.sent.sql), attempts = attempts + 1, last_error = NULL, claimed_by = NULL,
                  claimed_until = NULL, updated_at = \(t) WHERE id = ANY(\(ids))
                """, logger: logger)
        }
    }

    /// Locks the aggregate rows of the records `ids` (in byte order of their keys, as ingest does), so no webhook
    /// inserts a pending send of those keys while a record of them turns pending again.
    static func lockAggregates(of ids: [Int64], _ db: PostgresConnection, logger: Logger) async throws {
        try await db.query(
            """
            SELECT key FROM aggregates WHERE key IN (SELECT agg_key FROM outbox WHERE id = ANY(\(ids)))
            ORDER BY key COLLATE "C" FOR UPDATE
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
                  (SELECT 1 FROM outbox o WHERE o.agg_key = outbox.agg_key AND o.state = \(unescaped: OutboxState.pending.sql) AND o.id != outbox.id)
                """, logger: logger)
            try await db.query(
                """
                UPDATE outbox SET state = \(unescaped: OutboxState.pending.sql), due_at = \(due), attempts = attempts + \(countAttempt ? 1 : 0),
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
                UPDATE outbox SET state = \(unescaped: OutboxState.dead.sql), attempts = attempts + 1, last_error = \(Self.text(reason)), claimed_by = NULL,
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
                SELECT (SELECT MIN(o.due_at) FROM outbox o WHERE o.state = \(unescaped: OutboxState.pending.sql)
                          AND (o.agg_key IS NULL OR NOT EXISTS
                               (SELECT 1 FROM outbox f WHERE f.agg_key = o.agg_key
                                  AND f.state = \(unescaped: OutboxState.inflight.sql)))),
                       (SELECT MIN(claimed_until) FROM outbox WHERE state = \(unescaped: OutboxState.inflight.sql))
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
        let t = now.timeIntervalSince1970
        return try await perform("count the outbox") { [logger] client in
            var binds = PostgresBindings()
            binds.append(t)
            var rows: [(state: String, count: Int, oldest: Double?)] = []
            for try await (state, n, oldest) in try await client.query(
                PostgresQuery(unsafeSQL: OutboxStats.query(now: "$1"), binds: binds), logger: logger
            ).decode((String, Int64, Double?).self) {
                rows.append((state, Int(n), oldest))
            }
            return OutboxStats(rows: rows, now: now)
        }
    }
}
