import BridgeStore
import BridgeStoreTestKit
import Foundation
import PostgresNIO
import Testing

@testable import BridgeStorePostgres

@Suite(
    "PostgreSQL claims after churn",
    .enabled(
        if: TestPostgres.isAvailable, "no PostgreSQL for the tests (the note at the start of the output says why)"))
struct PostgresClaimPlanTests {
    /// After a load's churn (20,000 records pending, then claimed, then sent, with no vacuum or analysis in
    /// between, as in the minutes before autovacuum passes), the forwarders' claims, planned as the claim's
    /// transaction plans them, read the records due through their own indexes with an index scan that stops at the
    /// limit. The single query with `OR` that this
    /// replaced was planned as a bitmap scan reading every entry of both states, the dead ones too.
    @Test func claimsReadTheirOwnIndexesAfterChurn() async throws {
        try await withReplicas(1) { stores in
            let store = stores[0]
            let logger = store.logger
            let plans = try await store.client.withConnection { db -> [String: String] in
                try await db.query("ALTER TABLE outbox SET (autovacuum_enabled = false)", logger: logger)
                try await db.query(
                    """
                    INSERT INTO outbox (kind, record, state, due_at, created_at, updated_at)
                    SELECT 'event', '{}', 'pending', n, 0, 0 FROM generate_series(1, 20300) AS n
                    """, logger: logger)
                try await db.query(
                    "UPDATE outbox SET state = 'inflight', claimed_until = due_at + 300 WHERE due_at <= 20000",
                    logger: logger)
                try await db.query(
                    "UPDATE outbox SET state = 'sent', claimed_until = NULL WHERE state = 'inflight'", logger: logger)
                try await db.query(
                    "UPDATE outbox SET state = 'inflight', claimed_until = due_at WHERE due_at > 20290", logger: logger)
                try await db.query("BEGIN", logger: logger)
                try await db.query(PostgresDeliveryStore.claimPlanning, logger: logger)
                var plans: [String: String] = [:]
                let queries = [
                    "outbox_inflight_until": PostgresDeliveryStore.expiredClaims(at: 30_000, limit: 400),
                    "outbox_pending_due": PostgresDeliveryStore.pendingClaims(at: 30_000, limit: 400),
                ]
                for (index, query) in queries {
                    var lines: [String] = []
                    let explain = PostgresQuery(unsafeSQL: "EXPLAIN (COSTS OFF) " + query.sql, binds: query.binds)
                    for try await line in try await db.query(explain, logger: logger).decode(String.self) {
                        lines.append(line)
                    }
                    plans[index] = lines.joined(separator: "\n")
                }
                try await db.query("COMMIT", logger: logger)
                return plans
            }
            for (index, plan) in plans {
                #expect(plan.contains("Index Scan using \(index)"), "the plan:\n\(plan)")
                #expect(!plan.contains("Bitmap"), "the plan:\n\(plan)")
                #expect(!plan.contains("Seq Scan"), "the plan:\n\(plan)")
            }
        }
    }
}
