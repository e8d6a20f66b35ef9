import BridgeCore
import BridgeStore
import Foundation
import Logging

/// The schema and its migrations, numbered by `PRAGMA user_version`.
extension SQLiteDeliveryStore {
    static let pragmas = """
        PRAGMA journal_mode=WAL;
        PRAGMA synchronous=FULL;
        PRAGMA busy_timeout=5000;
        PRAGMA foreign_keys=OFF;
        """

    /// Version 1: leases on claims, poison strikes, stream tokens kept only as fingerprints.
    static let schemaVersion1 = """
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
        );
        CREATE INDEX IF NOT EXISTS deliveries_source ON deliveries(source, id);
        CREATE TABLE IF NOT EXISTS dedupe (
          source TEXT NOT NULL,
          key TEXT NOT NULL,
          delivery_id INTEGER NOT NULL,
          created_at REAL NOT NULL,
          PRIMARY KEY (source, key)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS aggregates (
          key TEXT PRIMARY KEY,
          stream_ref TEXT NOT NULL,
          metric TEXT NOT NULL,
          aggregation TEXT NOT NULL,
          dimensions TEXT NOT NULL,
          hour TEXT NOT NULL,
          sum REAL NOT NULL,
          count INTEGER NOT NULL,
          min REAL NOT NULL,
          max REAL NOT NULL,
          updated_at REAL NOT NULL
        );
        CREATE TABLE IF NOT EXISTS outbox (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          kind TEXT NOT NULL,
          delivery_id INTEGER,
          record TEXT,
          agg_key TEXT,
          state TEXT NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0,
          strikes INTEGER NOT NULL DEFAULT 0,
          due_at REAL NOT NULL,
          claimed_until REAL,
          created_at REAL NOT NULL,
          updated_at REAL NOT NULL,
          last_error TEXT
        );
        CREATE UNIQUE INDEX IF NOT EXISTS outbox_pending_key ON outbox(agg_key)
          WHERE state = 'pending' AND agg_key IS NOT NULL;
        CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, due_at);
        CREATE INDEX IF NOT EXISTS outbox_delivery ON outbox(delivery_id);
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        """

    /// Version 2: each delivery keeps its request for the console (client address, headers with sensitive values
    /// masked, the body's first 64 KiB and its full size); an index on the time received (covering source and
    /// status) for the overview.
    static let schemaVersion2 = """
        ALTER TABLE deliveries ADD COLUMN client_address TEXT;
        ALTER TABLE deliveries ADD COLUMN headers TEXT;
        ALTER TABLE deliveries ADD COLUMN body BLOB;
        ALTER TABLE deliveries ADD COLUMN body_size INTEGER;
        CREATE INDEX IF NOT EXISTS deliveries_received ON deliveries(received_at, source, status);
        """

    /// Version 3: an index on the time an outbox record last changed, for the console's forwarder chart and
    /// timeline (records sent or dead-lettered in a window, the newest events first).
    static let schemaVersion3 = """
        CREATE INDEX IF NOT EXISTS outbox_updated ON outbox(updated_at);
        """

    /// Version 4: a request's body is kept in the day's file beside the database (`SQLiteBodyFiles`); the row holds
    /// the day, the offset and the length. Bodies kept before stay in the `body` column.
    static let schemaVersion4 = """
        ALTER TABLE deliveries ADD COLUMN body_day INTEGER;
        ALTER TABLE deliveries ADD COLUMN body_offset INTEGER;
        ALTER TABLE deliveries ADD COLUMN body_length INTEGER;
        """

    static func migrate(_ db: SQLiteDatabase, logger: Logger) throws {
        try db.execute(pragmas)
        let version = try db.first("PRAGMA user_version")?.first?.integer ?? 0
        if version < 1 { try migrateToVersion1(db, logger: logger) }
        for (number, script) in [(2, schemaVersion2), (3, schemaVersion3), (4, schemaVersion4)] where version < number {
            try db.execute("BEGIN IMMEDIATE")
            do {
                try db.execute(script)
                try db.execute("PRAGMA user_version = \(number)")
                try db.execute("COMMIT")
            } catch {
                try? db.execute("ROLLBACK")
                throw error
            }
        }
    }

    private static func migrateToVersion1(_ db: SQLiteDatabase, logger: Logger) throws {
        try db.execute("BEGIN IMMEDIATE")
        do {
            let hadAggregates =
                try db.first(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'aggregates'") != nil
            if hadAggregates {
                try migrateFromVersion0(db, logger: logger)
            } else {
                try db.execute(schemaVersion1)
            }
            try db.execute("PRAGMA user_version = 1")
            try db.execute("COMMIT")
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
    }

    /// One process uses an SQLite file: claims left by the previous run are released at start-up instead of
    /// waiting for their leases (at-least-once). A newer pending send of the same aggregate supersedes them.
    static func releaseClaims(_ db: SQLiteDatabase) throws {
        try db.execute(
            """
            DELETE FROM outbox WHERE state = 'inflight' AND agg_key IS NOT NULL
              AND EXISTS (SELECT 1 FROM outbox o WHERE o.agg_key = outbox.agg_key AND o.state = 'pending');
            UPDATE outbox SET state = 'pending', claimed_until = NULL WHERE state = 'inflight';
            """)
    }

    /// The first release kept stream tokens in clear and claims without a lease.
    private static func migrateFromVersion0(_ db: SQLiteDatabase, logger: Logger) throws {
        try db.execute(
            """
            ALTER TABLE outbox ADD COLUMN strikes INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE outbox ADD COLUMN claimed_until REAL;
            ALTER TABLE aggregates ADD COLUMN stream_ref TEXT NOT NULL DEFAULT '';
            """)
        for row in try db.query("SELECT DISTINCT stream_token FROM aggregates") {
            guard let token = row.first?.text else { continue }
            try db.query(
                "UPDATE aggregates SET stream_ref = ? WHERE stream_token = ?",
                [.text(StreamTokenRef.fingerprint(Secret(token))), .text(token)])
        }
        try db.execute("ALTER TABLE aggregates DROP COLUMN stream_token")
        try db.execute(schemaVersion1)
        logger.notice("store migrated to schema 1: stream tokens are no longer stored, claims have leases")
    }
}
