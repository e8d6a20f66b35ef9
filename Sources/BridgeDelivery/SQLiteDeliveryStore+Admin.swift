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

/// Inspection and replay for the admin API and the CLI, readiness and retention.
extension SQLiteDeliveryStore {
    static func summary(_ row: SQLiteRow) -> DeliverySummary? {
        guard let id = row.column("id")?.integer, let source = row.column("source")?.string else { return nil }
        let explanation = row.column("explanation")?.string.flatMap {
            try? JSONDecoder().decode(Explanation.self, from: Data($0.utf8))
        }
        return DeliverySummary(
            id: Int64(id), source: source, deliveryKey: row.column("delivery_key")?.string,
            receivedAt: Date(timeIntervalSince1970: row.column("received_at")?.double ?? 0),
            status: row.column("status")?.string ?? "",
            httpStatus: row.column("http_status")?.integer ?? 0,
            events: row.column("events")?.integer ?? 0, metrics: row.column("metrics")?.integer ?? 0,
            explanation: explanation)
    }

    public func deliveries(limit: Int, source: String?) async throws -> [DeliverySummary] {
        try await perform { connection in
            let rows: [SQLiteRow]
            if let source {
                rows = try await connection.query(
                    "SELECT * FROM deliveries WHERE source = ? ORDER BY id DESC LIMIT ?",
                    [.text(source), .integer(limit)])
            } else {
                rows = try await connection.query(
                    "SELECT * FROM deliveries ORDER BY id DESC LIMIT ?", [.integer(limit)])
            }
            return rows.compactMap(SQLiteDeliveryStore.summary)
        }
    }

    public func delivery(id: Int64) async throws -> DeliverySummary? {
        try await perform { connection in
            try await connection.query("SELECT * FROM deliveries WHERE id = ?", [.integer(Int(id))]).first.flatMap(
                SQLiteDeliveryStore.summary)
        }
    }

    public func deadLetters(limit: Int) async throws -> [DeadLetter] {
        try await perform { connection in
            let rows = try await connection.query(
                """
                SELECT o.id, o.delivery_id, o.kind, o.attempts, o.last_error, o.record, o.updated_at,
                       a.metric, a.aggregation, a.dimensions, a.hour
                FROM outbox o LEFT JOIN aggregates a ON a.key = o.agg_key
                WHERE o.state = 'dead' ORDER BY o.id DESC LIMIT ?
                """, [.integer(limit)])
            return rows.compactMap { row in
                guard let id = row.column("id")?.integer else { return nil }
                let kind = row.column("kind")?.string ?? ""
                let record =
                    kind == "event"
                    ? (row.column("record")?.string ?? "")
                    : "{\"metric\":\(JSONValue.quote(row.column("metric")?.string ?? "")),\"aggregation\":\(JSONValue.quote(row.column("aggregation")?.string ?? "")),\"dimensions\":\(row.column("dimensions")?.string ?? "{}"),\"hour\":\(JSONValue.quote(row.column("hour")?.string ?? ""))}"
                return DeadLetter(
                    id: Int64(id), deliveryId: row.column("delivery_id")?.integer.map(Int64.init), kind: kind,
                    attempts: row.column("attempts")?.integer ?? 0, reason: row.column("last_error")?.string ?? "",
                    record: record, updatedAt: Date(timeIntervalSince1970: row.column("updated_at")?.double ?? 0))
            }
        }
    }

    public func replayDeadLetters(_ ids: [Int64]?, now: Date) async throws -> Int {
        try await transaction { connection in
            let t = now.timeIntervalSince1970
            let selection: [Int]
            if let ids {
                selection = ids.map { Int($0) }
            } else {
                selection = try await connection.query("SELECT id FROM outbox WHERE state = 'dead'").compactMap {
                    $0.column("id")?.integer
                }
            }
            var count = 0
            for id in selection {
                _ = try await connection.query(
                    "DELETE FROM outbox WHERE id = ? AND state = 'dead' AND agg_key IS NOT NULL AND EXISTS (SELECT 1 FROM outbox o WHERE o.agg_key = outbox.agg_key AND o.state = 'pending')",
                    [.integer(id)])
                let rows = try await connection.query(
                    "UPDATE outbox SET state = 'pending', attempts = 0, due_at = ?, updated_at = ? WHERE id = ? AND state = 'dead' RETURNING id",
                    [.float(t), .float(t), .integer(id)])
                count += rows.count
            }
            return count
        }
    }

    public func isWritable() async -> Bool {
        do {
            try await perform { connection in
                _ = try await connection.query("BEGIN IMMEDIATE")
                _ = try await connection.query("ROLLBACK")
            }
            return true
        } catch {
            return false
        }
    }

    /// Deletes sent records and dedupe keys older than `age` seconds.
    public func prune(olderThan age: TimeInterval, now: Date) async throws {
        let cutoff = now.timeIntervalSince1970 - age
        try await transaction { connection in
            _ = try await connection.query(
                "DELETE FROM outbox WHERE state = 'sent' AND updated_at < ?", [.float(cutoff)])
            _ = try await connection.query("DELETE FROM dedupe WHERE created_at < ?", [.float(cutoff)])
            _ = try await connection.query(
                "DELETE FROM deliveries WHERE received_at < ? AND id NOT IN (SELECT delivery_id FROM outbox WHERE delivery_id IS NOT NULL)",
                [.float(cutoff)])
            _ = try await connection.query(
                "DELETE FROM aggregates WHERE updated_at < ? AND key NOT IN (SELECT agg_key FROM outbox WHERE agg_key IS NOT NULL AND state != 'sent')",
                [.float(cutoff)])
        }
    }
}
