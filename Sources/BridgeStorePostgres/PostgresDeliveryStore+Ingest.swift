import BridgeCore
import BridgeStore
import Foundation
import PostgresNIO

/// Recording one webhook in one transaction. De-duplication is the dedupe table's primary key: the key is
/// inserted with `ON CONFLICT DO NOTHING`, and a webhook whose key was taken (by a committed transaction, or by
/// one that commits while this one waits on the key) is rolled back and answered as a duplicate.
extension PostgresDeliveryStore {
    /// One webhook in a transaction of its own (a group of one).
    func recordOne(_ delivery: NewDelivery) async throws -> RecordResult {
        do {
            let result = try await transaction("record a webhook", timeout: writeTimeout) { [logger] db in
                try await Self.insert(delivery, db, logger: logger)
            }
            noteSuccess()
            return result
        } catch let duplicate as DuplicateDelivery {
            return .duplicate(originalDeliveryId: try await original(source: delivery.source, key: duplicate.key))
        } catch {
            noteFailure(error)
            throw error
        }
    }

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

    static func insert(_ d: NewDelivery, _ db: PostgresConnection, logger: Logger) async throws -> RecordResult {
        let (result, upserts) = try await insertDeferringAggregates(d, db, logger: logger)
        try await applyAggregates(upserts, db, logger: logger)
        return result
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

    /// Last, just before COMMIT: concurrent webhooks of one hour's aggregate wait on its row from the upsert to the
    /// commit, so that window is one statement per key (the upsert and the key's pending send together) and the
    /// commit. Keys in a fixed order, so two transactions touching the same aggregates lock them in the same order.
    /// Several observations of one key (webhooks committed together) are one upsert.
    static func applyAggregates(_ upserts: [AggregateUpsert], _ db: PostgresConnection, logger: Logger) async throws {
        var byKey: [String: [AggregateUpsert]] = [:]
        for u in upserts { byKey[u.key, default: []].append(u) }
        for key in byKey.keys.sorted() {
            let group = byKey[key]!
            let first = group[0]
            let values = group.map(\.observation.value)
            try await insertAggregate(
                first.observation, key: key, streamRef: first.streamRef, sum: values.reduce(0, +), count: values.count,
                min: values.min()!, max: values.max()!, deliveryID: first.deliveryID,
                now: group.map(\.time).max()!, db, logger: logger)
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
