import BridgeCloudthread
import BridgeCore
import BridgeVerification
import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLiteNIO
import ServiceLifecycle
import Synchronization

/// The schema and its migration.
extension SQLiteDeliveryStore {
    static let schema = [
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=FULL",
        "PRAGMA busy_timeout=5000",
        """
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
        )
        """,
        "CREATE INDEX IF NOT EXISTS deliveries_source ON deliveries(source, id)",
        """
        CREATE TABLE IF NOT EXISTS dedupe (
          source TEXT NOT NULL,
          key TEXT NOT NULL,
          delivery_id INTEGER NOT NULL,
          created_at REAL NOT NULL,
          PRIMARY KEY (source, key)
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS aggregates (
          key TEXT PRIMARY KEY,
          stream_token TEXT NOT NULL,
          metric TEXT NOT NULL,
          aggregation TEXT NOT NULL,
          dimensions TEXT NOT NULL,
          hour TEXT NOT NULL,
          sum REAL NOT NULL,
          count INTEGER NOT NULL,
          min REAL NOT NULL,
          max REAL NOT NULL,
          updated_at REAL NOT NULL
        )
        """,
        """
        CREATE TABLE IF NOT EXISTS outbox (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          kind TEXT NOT NULL,
          delivery_id INTEGER,
          record TEXT,
          agg_key TEXT,
          state TEXT NOT NULL,
          attempts INTEGER NOT NULL DEFAULT 0,
          due_at REAL NOT NULL,
          created_at REAL NOT NULL,
          updated_at REAL NOT NULL,
          last_error TEXT
        )
        """,
        "CREATE UNIQUE INDEX IF NOT EXISTS outbox_pending_key ON outbox(agg_key) WHERE state = 'pending' AND agg_key IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, due_at)",
    ]

    func migrate() async throws {
        for statement in SQLiteDeliveryStore.schema {
            _ = try await connection.query(statement)
        }
        // Records in flight when the process stopped go back to pending (at-least-once).
        try await releaseInflight()
    }

    func releaseInflight() async throws {
        let now = Date().timeIntervalSince1970
        _ = try await connection.query(
            "DELETE FROM outbox WHERE state = 'inflight' AND agg_key IS NOT NULL AND EXISTS (SELECT 1 FROM outbox o WHERE o.agg_key = outbox.agg_key AND o.state = 'pending')"
        )
        _ = try await connection.query(
            "UPDATE outbox SET state = 'pending', updated_at = ? WHERE state = 'inflight'", [.float(now)])
    }
}
