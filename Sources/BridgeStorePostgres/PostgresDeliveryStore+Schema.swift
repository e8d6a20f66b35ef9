import BridgeStore
import Foundation
import Logging
import PostgresNIO

/// The schema and its migrations, numbered in `bridge_schema`, applied under an advisory lock so that replicas
/// starting together do not race (the others wait, then find the schema current).
extension PostgresDeliveryStore {
    /// The advisory lock of migrations (any number; the same in every replica).
    static let migrationLock: Int64 = 0x6272_6964_6765_0001
    /// The advisory lock of pruning: one replica prunes at a time.
    static let pruneLock: Int64 = 0x6272_6964_6765_0002

    static let schemaVersion1: [String] = [
        """
        CREATE TABLE IF NOT EXISTS deliveries (
          id BIGSERIAL PRIMARY KEY,
          source TEXT NOT NULL,
          delivery_key TEXT,
          received_at DOUBLE PRECISION NOT NULL,
          status TEXT NOT NULL,
          http_status INTEGER NOT NULL,
          events INTEGER NOT NULL DEFAULT 0,
          metrics INTEGER NOT NULL DEFAULT 0,
          explanation TEXT
        )
        """,
        "CREATE INDEX IF NOT EXISTS deliveries_source ON deliveries(source, id)",
        "CREATE INDEX IF NOT EXISTS deliveries_received ON deliveries(received_at)",
        """
        CREATE TABLE IF NOT EXISTS dedupe (
          source TEXT NOT NULL,
          key TEXT NOT NULL,
          delivery_id BIGINT NOT NULL,
          created_at DOUBLE PRECISION NOT NULL,
          PRIMARY KEY (source, key)
        )
        """,
        "CREATE INDEX IF NOT EXISTS dedupe_created ON dedupe(created_at)",
        """
        CREATE TABLE IF NOT EXISTS aggregates (
          key TEXT PRIMARY KEY,
          stream_ref TEXT NOT NULL,
          metric TEXT NOT NULL,
          aggregation TEXT NOT NULL,
          dimensions TEXT NOT NULL,
          hour TEXT NOT NULL,
          sum DOUBLE PRECISION NOT NULL,
          count BIGINT NOT NULL,
          min DOUBLE PRECISION NOT NULL,
          max DOUBLE PRECISION NOT NULL,
          updated_at DOUBLE PRECISION NOT NULL
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS outbox (
          id BIGSERIAL PRIMARY KEY,
          kind TEXT NOT NULL,
          delivery_id BIGINT,
          record TEXT,
          agg_key TEXT,
          state TEXT NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0,
          strikes INTEGER NOT NULL DEFAULT 0,
          due_at DOUBLE PRECISION NOT NULL,
          claimed_by TEXT,
          claimed_until DOUBLE PRECISION,
          created_at DOUBLE PRECISION NOT NULL,
          updated_at DOUBLE PRECISION NOT NULL,
          last_error TEXT
        )
        """,
        """
        CREATE UNIQUE INDEX IF NOT EXISTS outbox_pending_key ON outbox(agg_key)
          WHERE state = 'pending' AND agg_key IS NOT NULL
        """,
        "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, due_at)",
        "CREATE INDEX IF NOT EXISTS outbox_agg ON outbox(agg_key, state) WHERE agg_key IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS outbox_delivery ON outbox(delivery_id)",
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ]

    /// Version 2: each delivery keeps its request for the console (client address, masked headers, the first
    /// 64 KiB of body and the body's size), as in the SQLite store.
    static let schemaVersion2: [String] = [
        "ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS client_address TEXT",
        "ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS headers TEXT",
        "ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS body BYTEA",
        "ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS body_size INTEGER",
        "CREATE INDEX IF NOT EXISTS deliveries_received_source ON deliveries(received_at, source, status)",
    ]

    /// Version 3: an index on the time an outbox record last changed, for the console's forwarder chart and
    /// timeline, as in the SQLite store.
    static let schemaVersion3: [String] = [
        "CREATE INDEX IF NOT EXISTS outbox_updated ON outbox(updated_at)"
    ]

    /// Version 4: the forwarders' claims read the records due through indexes of their own, in the order they are
    /// claimed, so that a claim stops at its limit and marks the dead entries it passes (left by every claim and mark
    /// until autovacuum runs) for the next to skip. Without them the claim's plan was a bitmap scan of `outbox_due`
    /// that read every entry of the state, live or dead: 12-20 ms a claim after 10 s of load.
    static let schemaVersion4: [String] = [
        "CREATE INDEX IF NOT EXISTS outbox_pending_due ON outbox(due_at, id) WHERE state = 'pending'",
        "CREATE INDEX IF NOT EXISTS outbox_inflight_until ON outbox(claimed_until, id) WHERE state = 'inflight'",
    ]

    /// Applies the migrations not yet applied, in one transaction under the migration lock.
    public func migrate() async throws {
        let schema = url.schema
        let logger = self.logger
        let applied = try await transaction("migrate") { db -> Int in
            try await db.query("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: logger)
            if let schema {
                try await db.query("CREATE SCHEMA IF NOT EXISTS \(unescaped: schema)", logger: logger)
            }
            try await db.query(
                "CREATE TABLE IF NOT EXISTS bridge_schema (version INTEGER NOT NULL)", logger: logger)
            var version = 0
            for try await v in try await db.query("SELECT MAX(version) FROM bridge_schema", logger: logger)
                .decode(Int?.self)
            {
                version = v ?? 0
            }
            let migrations = [Self.schemaVersion1, Self.schemaVersion2, Self.schemaVersion3, Self.schemaVersion4]
            guard version < migrations.count else { return 0 }
            for (i, statements) in migrations.enumerated() where i + 1 > version {
                for statement in statements {
                    try await db.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await db.query("INSERT INTO bridge_schema (version) VALUES (\(i + 1))", logger: logger)
            }
            return migrations.count
        }
        if applied > 0 { logger.notice("store: PostgreSQL schema migrated to version \(applied)") }
    }
}
