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

/// The forwarder's side: claiming due records and marking the outcome of each send.
extension SQLiteDeliveryStore {
    public func claimDue(now: Date, limit: Int) async throws -> [OutboxItem] {
        try await transaction { connection in
            let rows = try await connection.query(
                """
                SELECT o.id, o.kind, o.attempts, o.record, a.stream_token, a.metric, a.aggregation, a.dimensions, a.hour,
                       a.sum, a.count, a.min, a.max
                FROM outbox o LEFT JOIN aggregates a ON a.key = o.agg_key
                WHERE o.state = 'pending' AND o.due_at <= ?
                ORDER BY o.due_at, o.id LIMIT ?
                """,
                [.float(now.timeIntervalSince1970), .integer(limit)])
            var items: [OutboxItem] = []
            var broken: [Int] = []
            for row in rows {
                guard let id = row.column("id")?.integer, let kind = row.column("kind")?.string else { continue }
                let attempts = row.column("attempts")?.integer ?? 0
                if kind == "event" {
                    guard let text = row.column("record")?.string,
                        let event = try? JSONDecoder().decode(EventRecord.self, from: Data(text.utf8))
                    else {
                        broken.append(id)
                        continue
                    }
                    items.append(OutboxItem(id: Int64(id), attempts: attempts, content: .event(event)))
                } else {
                    guard let token = row.column("stream_token")?.string, let name = row.column("metric")?.string,
                        let agg = row.column("aggregation")?.string.flatMap(Aggregation.init(rawValue:)),
                        let dimsText = row.column("dimensions")?.string,
                        let dims = try? JSONDecoder().decode([String: String].self, from: Data(dimsText.utf8)),
                        let hour = row.column("hour")?.string, let sum = row.column("sum")?.double,
                        let count = row.column("count")?.integer, let min = row.column("min")?.double,
                        let max = row.column("max")?.double
                    else {
                        broken.append(id)
                        continue
                    }
                    let value: Double
                    switch agg {
                    case .sum: value = sum
                    case .average: value = count > 0 ? sum / Double(count) : 0
                    case .maximum: value = max
                    case .minimum: value = min
                    }
                    items.append(
                        OutboxItem(
                            id: Int64(id), attempts: attempts,
                            content: .metric(
                                streamToken: token, name: name, aggregation: agg, dimensions: dims, hour: hour,
                                value: value)))
                }
            }
            let t = now.timeIntervalSince1970
            for item in items {
                _ = try await connection.query(
                    "UPDATE outbox SET state = 'inflight', updated_at = ? WHERE id = ?",
                    [.float(t), .integer(Int(item.id))])
            }
            for id in broken {
                _ = try await connection.query(
                    "UPDATE outbox SET state = 'dead', last_error = 'the stored record cannot be read', updated_at = ? WHERE id = ?",
                    [.float(t), .integer(id)])
            }
            return items
        }
    }

    public func markSent(_ ids: [Int64], now: Date) async throws {
        guard !ids.isEmpty else { return }
        try await transaction { connection in
            for id in ids {
                _ = try await connection.query(
                    "UPDATE outbox SET state = 'sent', attempts = attempts + 1, last_error = NULL, updated_at = ? WHERE id = ?",
                    [.float(now.timeIntervalSince1970), .integer(Int(id))])
            }
        }
    }

    public func markRetry(_ ids: [Int64], dueAt: Date, error: String, countAttempt: Bool, now: Date) async throws {
        guard !ids.isEmpty else { return }
        try await transaction { connection in
            for id in ids {
                // A newer pending send of the same aggregate makes this one redundant.
                _ = try await connection.query(
                    "DELETE FROM outbox WHERE id = ? AND agg_key IS NOT NULL AND EXISTS (SELECT 1 FROM outbox o WHERE o.agg_key = outbox.agg_key AND o.state = 'pending' AND o.id != outbox.id)",
                    [.integer(Int(id))])
                _ = try await connection.query(
                    "UPDATE outbox SET state = 'pending', due_at = ?, attempts = attempts + ?, last_error = ?, updated_at = ? WHERE id = ?",
                    [
                        .float(dueAt.timeIntervalSince1970), .integer(countAttempt ? 1 : 0), .text(error),
                        .float(now.timeIntervalSince1970), .integer(Int(id)),
                    ])
            }
        }
    }

    public func markDead(_ ids: [Int64], reason: String, now: Date) async throws {
        guard !ids.isEmpty else { return }
        try await transaction { connection in
            for id in ids {
                _ = try await connection.query(
                    "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?, updated_at = ? WHERE id = ?",
                    [.text(reason), .float(now.timeIntervalSince1970), .integer(Int(id))])
            }
        }
    }

    public func nextDue() async throws -> Date? {
        try await perform { connection in
            let rows = try await connection.query("SELECT MIN(due_at) AS due FROM outbox WHERE state = 'pending'")
            return rows.first?.column("due")?.double.map { Date(timeIntervalSince1970: $0) }
        }
    }

    public func stats(now: Date) async throws -> OutboxStats {
        try await perform { connection in
            let rows = try await connection.query(
                "SELECT state, COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox GROUP BY state")
            var s = OutboxStats(pending: 0, inflight: 0, sent: 0, dead: 0, oldestPendingAge: 0)
            for row in rows {
                let n = row.column("n")?.integer ?? 0
                switch row.column("state")?.string {
                case "pending":
                    s.pending = n
                    if let oldest = row.column("oldest")?.double {
                        s.oldestPendingAge = max(0, now.timeIntervalSince1970 - oldest)
                    }
                case "inflight": s.inflight = n
                case "sent": s.sent = n
                case "dead": s.dead = n
                default: break
                }
            }
            return s
        }
    }
}
