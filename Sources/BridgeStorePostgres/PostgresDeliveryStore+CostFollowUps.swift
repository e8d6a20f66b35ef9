import BridgeCore
import BridgeStore
import Foundation
import PostgresNIO

/// Cost follow-ups (docs/cost-impact.md) on PostgreSQL: outbox records of kind `cost_followup`, claimed like every
/// record (`FOR UPDATE SKIP LOCKED` and a lease, so one replica runs each), finished in one transaction that
/// checks the claim is still this replica's.
extension PostgresDeliveryStore {
    static func insertFollowUps(
        _ followUps: [CostFollowUp], deliveryID id: Int64, now: Double, _ db: PostgresConnection, logger: Logger
    ) async throws {
        for f in followUps {
            let json = StoredCostFollowUp(f, streamRef: f.streamToken.map(StreamTokenRef.fingerprint)).json
            let due = f.due.timeIntervalSince1970
            try await db.query(
                """
                INSERT INTO outbox (kind, delivery_id, record, state, due_at, created_at, updated_at)
                VALUES (\(unescaped: OutboxKind.costFollowUp.sql), \(id), \(json), \(unescaped: OutboxState.pending.sql), \(due), \(now), \(now))
                """, logger: logger)
        }
    }

    /// Adds `count` observations of one key (their sum, min and max) to its hourly aggregate (atomically:
    /// `ON CONFLICT DO UPDATE`) and makes the key due, in one statement: the aggregate's row stays locked from here to
    /// the commit, so callers issue it last.
    static func insertAggregate(
        _ m: MetricObservation, key: String, streamRef ref: String, sum: Double, count: Int, min: Double, max: Double,
        deliveryID id: Int64, now: Double, _ db: PostgresConnection, logger: Logger
    ) async throws {
        let dims = m.dimensions.storedJSON
        try await db.query(
            """
            WITH upserted AS (
              INSERT INTO aggregates (key, stream_ref, metric, aggregation, dimensions, hour, sum, count, min, max,
                updated_at)
              VALUES (\(Self.indexKey(key)), \(ref), \(Self.text(m.name)), \(m.aggregation.rawValue), \(dims), \(m.hour), \(sum), \(count),
                \(min), \(max), \(now))
              \(unescaped: Self.mergeAggregateSQL)
              RETURNING key)
            INSERT INTO outbox (kind, delivery_id, agg_key, state, due_at, created_at, updated_at)
            SELECT \(unescaped: OutboxKind.metric.sql), \(id), upserted.key, \(unescaped: OutboxState.pending.sql), \(now), \(now), \(now) FROM upserted
            ON CONFLICT (agg_key) WHERE state = \(unescaped: OutboxState.pending.sql) AND agg_key IS NOT NULL DO NOTHING
            """, logger: logger)
    }

    public func completeFollowUp(_ id: Int64, _ completion: CostFollowUpCompletion, now: Date) async throws -> Bool {
        let instance = self.instance
        let t = now.timeIntervalSince1970
        return try await transaction("finish a cost follow-up") { [logger] db in
            // The claim must still be ours: a replica whose lease ended while it fetched writes nothing.
            var owner: Int64?? = nil
            for try await deliveryID in try await db.query(
                """
                UPDATE outbox SET state = \(unescaped: OutboxState.sent.sql), attempts = attempts + 1, last_error = NULL, claimed_by = NULL,
                  claimed_until = NULL, updated_at = \(t)
                WHERE id = \(id) AND kind = \(unescaped: OutboxKind.costFollowUp.sql) AND state = \(unescaped: OutboxState.inflight.sql) AND claimed_by = \(instance)
                RETURNING delivery_id
                """, logger: logger
            ).decode(Int64?.self) {
                owner = .some(deliveryID)
            }
            guard let owner else { return false }
            if let event = completion.event {
                try await db.query(
                    """
                    INSERT INTO outbox (kind, delivery_id, record, state, due_at, created_at, updated_at)
                    VALUES (\(unescaped: OutboxKind.event.sql), \(owner), \(event.storedJSON), \(unescaped: OutboxState.pending.sql), \(t), \(t), \(t))
                    """, logger: logger)
            }
            if let owner {
                var text: String?
                for try await e in try await db.query(
                    "SELECT explanation FROM deliveries WHERE id = \(owner) FOR UPDATE", logger: logger
                ).decode(String?.self) {
                    text = e
                }
                if let text {
                    var explanation =
                        (try? JSONDecoder().decode(Explanation.self, from: Data(text.utf8))) ?? Explanation(source: "")
                    explanation.notes.append(completion.note)
                    try await db.query(
                        "UPDATE deliveries SET explanation = \(explanation.storedJSON) WHERE id = \(owner)",
                        logger: logger)
                }
            }
            // Last: the aggregate's row is locked until the commit.
            if let m = completion.metric, let owner {
                try await Self.applyAggregates(
                    [AggregateUpsert(m, deliveryID: owner, time: t)], db, logger: logger)
            }
            return true
        }
    }
}
