import BridgeCore
import BridgeStore
import Foundation

/// The web console's queries: a page of deliveries, one delivery with its request and records, activity per
/// source, and discarding dead letters.
extension SQLiteDeliveryStore {
    public func deliveries(before: Int64?, limit: Int, source: String?, status: String?, origin: DeliveryOrigin?)
        async throws -> [DeliverySummary]
    {
        try await perform { db in
            var clauses: [String] = []
            var values: [SQLiteValue] = []
            if let before {
                clauses.append("id < ?")
                values.append(.integer(before))
            }
            if let source {
                clauses.append("source = ?")
                values.append(.text(source))
            }
            if let status {
                clauses.append("status = ?")
                values.append(.text(status))
            }
            if let origin {
                let prefix = DeliveryOrigin.backfillKeyPrefix
                clauses.append("(substr(coalesce(delivery_key, ''), 1, ?) = ?) = ?")
                values += [.int(prefix.utf8.count), .text(prefix), .int(origin == .backfill ? 1 : 0)]
            }
            let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            values.append(.int(max(0, limit)))
            return try db.query(
                "SELECT \(Self.deliveryColumns) FROM deliveries \(filter) ORDER BY id DESC LIMIT ?", values
            ).compactMap(SQLiteDeliveryStore.summary)
        }
    }

    public func deliveryDetail(id: Int64) async throws -> DeliveryDetail? {
        try await perform { db in
            guard
                let row = try db.first(
                    """
                    SELECT \(Self.deliveryColumns), client_address, headers, body, body_size, body_day, body_offset,
                      body_length FROM deliveries WHERE id = ?
                    """,
                    [.integer(id)]),
                let summary = SQLiteDeliveryStore.summary(Array(row.prefix(9)))
            else { return nil }
            var request: StoredRequest?
            if row.count == 16, row[10] != .null || row[11] != .null || row[13] != .null {
                var body = row[11].bytes ?? []
                var lost = false
                if let day = row[13].integer, let offset = row[14].integer, let length = row[15].integer {
                    // In the day's file (`SQLiteBodyFiles`): gone once the day is pruned, or its end after a power cut.
                    if let kept = SQLiteBodyFiles.read(
                        self.bodiesDirectory, day: Int(day), offset: Int(offset), length: Int(length))
                    {
                        body = kept
                    } else {
                        lost = true
                    }
                }
                request = StoredRequest(
                    clientAddress: row[9].text, headers: StoredRequest.headers(fromJSON: row[10].text ?? "[]"),
                    body: body, bodySize: Int(row[12].integer ?? Int64(body.count)))
                request?.bodyLost = lost
            }
            let records = try db.query(
                """
                SELECT o.id, o.kind, o.state, o.attempts, o.last_error, o.record, o.updated_at,
                       a.metric, a.aggregation, a.dimensions, a.hour
                FROM outbox o LEFT JOIN aggregates a ON a.key = o.agg_key
                WHERE o.delivery_id = ? ORDER BY o.id
                """, [.integer(id)]
            ).compactMap { r -> DeliveryDetail.Record? in
                guard let rid = r[0].integer else { return nil }
                let kind = r[1].text ?? ""
                let text = StoredRecordText(
                    kind: kind, record: r[5].text, metric: r[7].text, aggregation: r[8].text, dimensions: r[9].text,
                    hour: r[10].text
                ).line
                return DeliveryDetail.Record(
                    id: rid, kind: kind, state: r[2].text ?? "", attempts: Int(r[3].integer ?? 0), lastError: r[4].text,
                    record: text, updatedAt: Date(timeIntervalSince1970: r[6].real ?? 0))
            }
            return DeliveryDetail(summary: summary, request: request, records: records)
        }
    }

    public func activity(since: Date, now: Date) async throws -> [SourceActivity] {
        try await perform { db in
            let start = since.timeIntervalSince1970
            let hours = max(1, Int((now.timeIntervalSince1970 - start) / 3600.0.rounded(.up)))
            var bySource: [String: SourceActivity] = [:]
            // Through the covering index on (received_at, source, status): without it the planner may prefer the
            // (source, id) index and read every row of the table, bodies included (100 ms at 100,000 deliveries).
            for row in try db.query(
                """
                SELECT source, status, CAST((? - received_at) / 3600 AS INTEGER), COUNT(*)
                FROM deliveries INDEXED BY deliveries_received WHERE received_at >= ? GROUP BY 1, 2, 3
                """, [.real(now.timeIntervalSince1970), .real(start)])
            {
                guard let source = row[0].text, let status = row[1].text, let age = row[2].integer,
                    let count = row[3].integer
                else { continue }
                var a =
                    bySource[source]
                    ?? SourceActivity(
                        source: source, counts: [:], hourly: Array(repeating: 0, count: hours), lastReceivedAt: nil)
                a.add(status: status, age: age, count: Int(count))
                bySource[source] = a
            }
            // The newest delivery of each source through the (source, id) index, skipping from one source to the
            // next (a few index lookups per source, instead of a GROUP BY that reads every entry of the index).
            for row in try db.query(
                """
                WITH RECURSIVE s(source) AS (
                    SELECT MIN(source) FROM deliveries
                    UNION ALL
                    SELECT (SELECT MIN(source) FROM deliveries WHERE source > s.source) FROM s
                    WHERE s.source IS NOT NULL)
                SELECT s.source,
                       (SELECT received_at FROM deliveries WHERE source = s.source ORDER BY id DESC LIMIT 1)
                FROM s WHERE s.source IS NOT NULL
                """)
            {
                guard let source = row[0].text, let last = row[1].real else { continue }
                var a =
                    bySource[source]
                    ?? SourceActivity(
                        source: source, counts: [:], hourly: Array(repeating: 0, count: hours), lastReceivedAt: nil)
                a.lastReceivedAt = Date(timeIntervalSince1970: last)
                bySource[source] = a
            }
            return bySource.values.sorted { $0.source < $1.source }
        }
    }

    public func forwarderActivity(since: Date, now: Date) async throws -> ForwarderActivity {
        try await perform { db in
            let start = since.timeIntervalSince1970
            let end = now.timeIntervalSince1970
            let hours = max(1, Int((end - start) / 3600.0.rounded(.up)))
            var activity = ForwarderActivity(hours: hours)
            // Sent and dead records by the time they were marked, through the index on updated_at; pending and
            // in-flight ones through the (state, due_at) index, by the time they were created.
            let marked = try db.query(
                """
                SELECT state, CAST((? - updated_at) / 3600 AS INTEGER), COUNT(*) FROM outbox INDEXED BY outbox_updated
                WHERE updated_at >= ? AND state IN (\(OutboxState.sent.sql), \(OutboxState.dead.sql))
                GROUP BY 1, 2
                """, [.real(end), .real(start)])
            let waiting = try db.query(
                """
                SELECT state, CAST((? - created_at) / 3600 AS INTEGER), COUNT(*) FROM outbox
                WHERE state IN (\(OutboxState.pending.sql), \(OutboxState.inflight.sql)) GROUP BY 1, 2
                """, [.real(end)])
            for row in marked + waiting {
                guard let state = row[0].text, let age = row[1].integer, let count = row[2].integer else { continue }
                activity.add(state: state, age: age, count: Int(count))
            }
            return activity
        }
    }

    public func timeline(since: Date, limit: Int) async throws -> [TimelineRecord] {
        try await perform { db in
            // A record is last updated when (or after) it is created: the newest first through the index on
            // updated_at, stopping after `limit`.
            try db.query(
                """
                SELECT id, kind, state, record, delivery_id, created_at, updated_at FROM outbox INDEXED BY outbox_updated
                WHERE updated_at >= ? AND created_at >= ?
                  AND kind IN (\(OutboxKind.event.sql), \(OutboxKind.costFollowUp.sql))
                ORDER BY updated_at DESC LIMIT ?
                """, [.real(since.timeIntervalSince1970), .real(since.timeIntervalSince1970), .int(max(0, limit))]
            ).reversed().compactMap { r -> TimelineRecord? in
                guard let id = r[0].integer, let kind = r[1].text, let state = r[2].text, let record = r[3].text
                else { return nil }
                return TimelineRecord(
                    id: id, kind: kind, state: state, record: record, deliveryId: r[4].integer,
                    createdAt: Date(timeIntervalSince1970: r[5].real ?? 0),
                    updatedAt: Date(timeIntervalSince1970: r[6].real ?? 0))
            }
        }
    }

    public func discardDeadLetters(_ ids: [Int64]) async throws -> Int {
        try await transaction { db in
            var count = 0
            for id in ids {
                count += try db.query(
                    "DELETE FROM outbox WHERE id = ? AND state = \(OutboxState.dead.sql) RETURNING id", [.integer(id)]
                ).count
            }
            return count
        }
    }
}
