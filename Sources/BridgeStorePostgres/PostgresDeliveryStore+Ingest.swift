import BridgeCore
import BridgeStore
import Foundation
import PostgresNIO

/// Recording one webhook at a time, in its savepoint: every webhook of a group whose bulk statement failed or lost a
/// claim to another replica (`+GroupCommit`). De-duplication is the dedupe table's primary key: the key is
/// inserted with `ON CONFLICT DO NOTHING`, and a webhook whose key was taken (by a committed transaction, or by
/// one that commits while this one waits on the key) is rolled back and answered as a duplicate.
extension PostgresDeliveryStore {
    /// The delivery that took a dedupe key first.
    func original(source: String, key: String) async throws -> Int64 {
        do {
            return try await perform("look up a duplicate", timeout: writeTimeout) { [logger] client in
                var id: Int64 = 0
                let rows = try await client.query(
                    "SELECT delivery_id FROM dedupe WHERE source = \(source) AND key = \(Self.indexKey(key))",
                    logger: logger)
                for try await v in rows.decode(Int64.self) { id = v }
                return id
            }
        } catch {
            noteFailure(error)
            throw error
        }
    }

    /// An aggregate update of one delivery, applied after everything else of its transaction.
    struct AggregateUpsert: Sendable {
        var key: String
        var streamRef: String
        var observation: MetricObservation
        var deliveryID: Int64
        var time: Double

        init(_ m: MetricObservation, deliveryID: Int64, time: Double) {
            streamRef = StreamTokenRef.fingerprint(m.streamToken)
            key = AggregateKey.of(m, streamRef: streamRef)
            observation = m
            self.deliveryID = deliveryID
            self.time = time
        }
    }

    /// Everything of one delivery but its aggregate updates, which are returned for `applyAggregates`.
    static func insertDeferringAggregates(_ d: NewDelivery, _ db: PostgresConnection, logger: Logger) async throws
        -> (RecordResult, [AggregateUpsert])
    {
        let now = d.receivedAt.timeIntervalSince1970
        let explanation = d.explanation.storedJSON
        var id: Int64?
        for try await v in try await db.query(
            """
            INSERT INTO deliveries (source, delivery_key, received_at, status, http_status, explanation,
              client_address, headers, body, body_size)
            VALUES (\(d.source), \(d.deliveryKey.map(Self.text)), \(now), \(d.status.rawValue), \(d.httpStatus), \(explanation),
              \(d.request?.clientAddress), \(d.request?.headersJSON), \(d.request.map { ByteBuffer(bytes: $0.body) }),
              \(d.request?.bodySize))
            RETURNING id
            """, logger: logger
        ).decode(Int64.self) {
            id = v
        }
        guard let id else { throw StoreError(.unexpectedAnswer, "insert into deliveries returned no id") }

        func claimKey(_ key: String) async throws -> Bool {
            var inserted = false
            for try await _ in try await db.query(
                """
                INSERT INTO dedupe (source, key, delivery_id, created_at)
                VALUES (\(d.source), \(Self.indexKey(key)), \(id), \(now))
                ON CONFLICT DO NOTHING RETURNING delivery_id
                """, logger: logger
            ).decode(Int64.self) {
                inserted = true
            }
            return inserted
        }
        if let key = d.deliveryKey, try await !claimKey(key) { throw DuplicateDelivery(key: key) }

        // Per-item keys (a rule's dedupe_key): outputs of items seen before are left out (`ItemSelection`).
        var fresh = Set<String>()
        var firstSeen: String?
        for key in ItemDedupe.keys(of: d) {
            if try await claimKey(ItemDedupe.storedKey(key)) {
                fresh.insert(key)
            } else {
                firstSeen = firstSeen ?? ItemDedupe.storedKey(key)
            }
        }
        let kept = ItemSelection(d, fresh: fresh)
        if kept.isDuplicate, let firstSeen { throw DuplicateDelivery(key: firstSeen) }
        let events = kept.events
        let metrics = kept.metrics

        try await db.query(
            "UPDATE deliveries SET events = \(events.count), metrics = \(metrics.count) WHERE id = \(id)",
            logger: logger)
        for event in events {
            let json = event.storedJSON
            try await db.query(
                """
                INSERT INTO outbox (kind, delivery_id, record, state, due_at, created_at, updated_at)
                VALUES (\(unescaped: OutboxKind.event.sql), \(id), \(json), \(unescaped: OutboxState.pending.sql), \(now), \(now), \(now))
                """, logger: logger)
        }
        try await insertFollowUps(kept.followUps, deliveryID: id, now: now, db, logger: logger)
        let upserts = metrics.map { AggregateUpsert($0, deliveryID: id, time: now) }
        return (.stored(deliveryId: id, events: events.count, metrics: metrics.count), upserts)
    }
}
