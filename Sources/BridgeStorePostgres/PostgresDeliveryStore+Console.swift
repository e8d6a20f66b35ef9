import BridgeCore
import BridgeStore
import Foundation
import PostgresNIO

/// The web console's queries on PostgreSQL: the same answers as the SQLite store's.
extension PostgresDeliveryStore {
    public func deliveries(before: Int64?, limit: Int, source: String?, status: String?, origin: DeliveryOrigin?)
        async throws -> [DeliverySummary]
    {
        let backfilled = origin.map { $0 == .backfill }
        let prefix = DeliveryOrigin.backfillKeyPrefix
        let prefixLength = prefix.utf8.count
        return try await perform("list deliveries") { [logger] client in
            // NULL parameters switch a filter off, so one prepared statement serves every combination.
            try await Self.summaries(
                try await client.query(
                    """
                    SELECT \(unescaped: Self.deliveryColumns) FROM deliveries
                    WHERE (\(before)::BIGINT IS NULL OR id < \(before)::BIGINT)
                      AND (\(source)::TEXT IS NULL OR source = \(source)::TEXT)
                      AND (\(status)::TEXT IS NULL OR status = \(status)::TEXT)
                      AND (\(backfilled)::BOOLEAN IS NULL
                           OR (substr(coalesce(delivery_key, ''), 1, \(prefixLength)::INTEGER) = \(prefix)::TEXT)
                              = \(backfilled)::BOOLEAN)
                    ORDER BY id DESC LIMIT \(max(0, limit))
                    """, logger: logger))
        }
    }

    public func deliveryDetail(id: Int64) async throws -> DeliveryDetail? {
        try await perform("read a delivery") { [logger] client in
            guard
                let summary = try await Self.summaries(
                    try await client.query(
                        "SELECT \(unescaped: Self.deliveryColumns) FROM deliveries WHERE id = \(id)", logger: logger)
                ).first
            else { return nil }
            var request: StoredRequest?
            for try await (address, headers, body, size) in try await client.query(
                "SELECT client_address, headers, body, body_size FROM deliveries WHERE id = \(id)", logger: logger
            ).decode((String?, String?, ByteBuffer?, Int?).self) where headers != nil || body != nil {
                let bytes = body.map { Array($0.readableBytesView) } ?? []
                request = StoredRequest(
                    clientAddress: address, headers: StoredRequest.headers(fromJSON: headers ?? "[]"), body: bytes,
                    bodySize: size ?? bytes.count)
            }
            var records: [DeliveryDetail.Record] = []
            for try await (rid, kind, state, attempts, error, record, updated, metric, agg, dims, hour)
                in try await client.query(
                    """
                    SELECT o.id, o.kind, o.state, o.attempts, o.last_error, o.record, o.updated_at,
                           a.metric, a.aggregation, a.dimensions, a.hour
                    FROM outbox o LEFT JOIN aggregates a ON a.key = o.agg_key
                    WHERE o.delivery_id = \(id) ORDER BY o.id
                    """, logger: logger
                ).decode(
                    (Int64, String, String, Int, String?, String?, Double, String?, String?, String?, String?).self)
            {
                let text = StoredRecordText(
                    kind: kind, record: record, metric: metric, aggregation: agg, dimensions: dims, hour: hour
                ).line
                records.append(
                    DeliveryDetail.Record(
                        id: rid, kind: kind, state: state, attempts: attempts, lastError: error, record: text,
                        updatedAt: Date(timeIntervalSince1970: updated)))
            }
            return DeliveryDetail(summary: summary, request: request, records: records)
        }
    }

    public func activity(since: Date, now: Date) async throws -> [SourceActivity] {
        let start = since.timeIntervalSince1970
        let end = now.timeIntervalSince1970
        let hours = max(1, Int((end - start) / 3600.0.rounded(.up)))
        return try await perform("read activity") { [logger] client in
            var bySource: [String: SourceActivity] = [:]
            func entry(_ source: String) -> SourceActivity {
                bySource[source]
                    ?? SourceActivity(
                        source: source, counts: [:], hourly: Array(repeating: 0, count: hours), lastReceivedAt: nil)
            }
            for try await (source, status, age, count) in try await client.query(
                """
                SELECT source, status, FLOOR((\(end) - received_at) / 3600)::BIGINT, COUNT(*)
                FROM deliveries WHERE received_at >= \(start) GROUP BY 1, 2, 3
                """, logger: logger
            ).decode((String, String, Int64, Int64).self) {
                var a = entry(source)
                a.add(status: status, age: age, count: Int(count))
                bySource[source] = a
            }
            for try await (source, last) in try await client.query(
                """
                SELECT d.source, d.received_at FROM deliveries d
                JOIN (SELECT source, MAX(id) AS id FROM deliveries GROUP BY source) m ON d.id = m.id
                """, logger: logger
            ).decode((String, Double).self) {
                var a = entry(source)
                a.lastReceivedAt = Date(timeIntervalSince1970: last)
                bySource[source] = a
            }
            return bySource.values.sorted { $0.source < $1.source }
        }
    }

    public func forwarderActivity(since: Date, now: Date) async throws -> ForwarderActivity {
        let start = since.timeIntervalSince1970
        let end = now.timeIntervalSince1970
        let hours = max(1, Int((end - start) / 3600.0.rounded(.up)))
        return try await perform("read the forwarder's activity") { [logger] client in
            var activity = ForwarderActivity(hours: hours)
            for try await (state, age, count) in try await client.query(
                """
                SELECT state, FLOOR((\(end) - updated_at) / 3600)::BIGINT, COUNT(*) FROM outbox
                WHERE updated_at >= \(start)
                  AND state IN (\(unescaped: OutboxState.sent.sql), \(unescaped: OutboxState.dead.sql))
                GROUP BY 1, 2
                UNION ALL
                SELECT state, FLOOR((\(end) - created_at) / 3600)::BIGINT, COUNT(*) FROM outbox
                WHERE state IN (\(unescaped: OutboxState.pending.sql), \(unescaped: OutboxState.inflight.sql))
                GROUP BY 1, 2
                """, logger: logger
            ).decode((String, Int64, Int64).self) {
                activity.add(state: state, age: age, count: Int(count))
            }
            return activity
        }
    }

    public func timeline(since: Date, limit: Int) async throws -> [TimelineRecord] {
        let start = since.timeIntervalSince1970
        return try await perform("read the timeline") { [logger] client in
            var out: [TimelineRecord] = []
            // A record is last updated when (or after) it is created: the newest first through the index on
            // updated_at, stopping after `limit`.
            for try await (id, kind, state, record, delivery, created, updated) in try await client.query(
                """
                SELECT id, kind, state, record, delivery_id, created_at, updated_at FROM outbox
                WHERE updated_at >= \(start) AND created_at >= \(start)
                  AND kind IN (\(unescaped: OutboxKind.event.sql), \(unescaped: OutboxKind.costFollowUp.sql))
                  AND record IS NOT NULL
                ORDER BY updated_at DESC LIMIT \(max(0, limit))
                """, logger: logger
            ).decode((Int64, String, String, String, Int64?, Double, Double).self) {
                out.append(
                    TimelineRecord(
                        id: id, kind: kind, state: state, record: record, deliveryId: delivery,
                        createdAt: Date(timeIntervalSince1970: created), updatedAt: Date(timeIntervalSince1970: updated)
                    ))
            }
            return out.reversed()
        }
    }

    public func discardDeadLetters(_ ids: [Int64]) async throws -> Int {
        guard !ids.isEmpty else { return 0 }
        return try await transaction("discard dead letters") { [logger] db in
            var count = 0
            for id in ids {
                for try await _ in try await db.query(
                    "DELETE FROM outbox WHERE id = \(id) AND state = \(unescaped: OutboxState.dead.sql) RETURNING id",
                    logger: logger
                ).decode(Int64.self) {
                    count += 1
                }
            }
            return count
        }
    }
}
