import BridgeCore
import BridgeStore
import Foundation

/// A webhook on its way to the writer, with the texts it stores already encoded: the caller (an event loop)
/// encodes them, so that the one writer thread, which every webhook waits for, does not.
package struct EncodedDelivery: Sendable {
    let delivery: NewDelivery
    let explanationJSON: String
    let headersJSON: String?

    init(_ delivery: NewDelivery) {
        self.delivery = delivery
        explanationJSON = delivery.explanation.storedJSON
        headersJSON = delivery.request?.headersJSON
    }
}

/// Recording one webhook: its delivery, outbox records, aggregate updates and dedupe keys.
extension SQLiteDeliveryStore {
    public func record(_ delivery: NewDelivery) async throws -> RecordResult {
        let encoded = EncodedDelivery(delivery)
        return try await withCheckedThrowingContinuation { continuation in
            if !writer.submit(.record(encoded, continuation)) {
                continuation.resume(throwing: StoreError(.closed, "the store is closed"))
            }
        }
    }

    /// Inserts one delivery inside the open transaction (and savepoint) of its group. Its metric observations are
    /// added to `observations`, which the group applies (`GroupObservations.apply`).
    func insert(_ encoded: EncodedDelivery, _ db: SQLiteDatabase, observations: inout GroupObservations) throws
        -> RecordResult
    {
        let d = encoded.delivery
        let now = d.receivedAt.timeIntervalSince1970
        let source = SQLiteValue.text(d.source)
        if let key = d.deliveryKey,
            let existing = try db.first(
                "SELECT delivery_id FROM dedupe WHERE source = ? AND key = ?", [source, .text(key)])?.first?.integer
        {
            return .duplicate(originalDeliveryId: existing)
        }
        // Per-item keys (a rule's dedupe_key): outputs of items seen before are left out (`ItemSelection`).
        var fresh = Set<String>()
        var firstSeen: Int64?
        for key in ItemDedupe.keys(of: d) {
            if let existing = try db.first(
                "SELECT delivery_id FROM dedupe WHERE source = ? AND key = ?",
                [source, .text(ItemDedupe.storedKey(key))]
            )?.first?.integer {
                firstSeen = firstSeen ?? existing
            } else {
                fresh.insert(key)
            }
        }
        let kept = ItemSelection(d, fresh: fresh)
        if kept.isDuplicate, let firstSeen { return .duplicate(originalDeliveryId: firstSeen) }
        let events = kept.events
        let metrics = kept.metrics
        // The body goes to the day's file (`SQLiteBodyFiles`, written before the group's COMMIT); an empty one stays
        // in the row, as every body did before schema 4.
        var body = (blob: SQLiteValue.null, day: SQLiteValue.null, offset: SQLiteValue.null, length: SQLiteValue.null)
        if let request = d.request {
            if let bodies, !request.body.isEmpty {
                let day = SQLiteBodyFiles.day(of: d.receivedAt)
                body.day = .int(day)
                body.offset = .int(try bodies.append(request.body, day: day))
                body.length = .int(request.body.count)
            } else {
                body.blob = .blob(request.body)
            }
        }
        guard
            let id = try db.first(
                """
                INSERT INTO deliveries (source, delivery_key, received_at, status, http_status, events, metrics,
                  explanation, client_address, headers, body, body_size, body_day, body_offset, body_length)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                RETURNING id
                """,
                [
                    source, d.deliveryKey.map(SQLiteValue.text) ?? .null, .real(now), .text(d.status.rawValue),
                    .int(d.httpStatus), .int(events.count), .int(metrics.count), .text(encoded.explanationJSON),
                    d.request?.clientAddress.map(SQLiteValue.text) ?? .null,
                    encoded.headersJSON.map(SQLiteValue.text) ?? .null, body.blob,
                    d.request.map { .int($0.bodySize) } ?? .null, body.day, body.offset, body.length,
                ])?.first?.integer
        else {
            throw StoreError(.unexpectedAnswer, "insert into deliveries returned no id")
        }
        let insertKey = "INSERT INTO dedupe (source, key, delivery_id, created_at) VALUES (?, ?, ?, ?)"
        if let key = d.deliveryKey {
            try db.query(insertKey, [source, .text(key), .integer(id), .real(now)])
        }
        for key in fresh.sorted() {
            try db.query(insertKey, [source, .text(ItemDedupe.storedKey(key)), .integer(id), .real(now)])
        }
        for event in events {
            let json = event.storedJSON
            try db.query(
                SQLiteDeliveryStore.insertEventSQL, [.integer(id), .text(json), .real(now), .real(now), .real(now)])
        }
        for f in kept.followUps {
            let stored = StoredCostFollowUp(f, streamRef: f.streamToken.map(StreamTokenRef.fingerprint))
            try db.query(
                SQLiteDeliveryStore.insertFollowUpSQL,
                [.integer(id), .text(stored.json), .real(f.due.timeIntervalSince1970), .real(now), .real(now)])
        }
        // Last: a webhook whose statements failed leaves nothing in the group's sums.
        for m in metrics { observations.add(m, deliveryID: id, now: now) }
        return .stored(deliveryId: id, events: events.count, metrics: metrics.count)
    }

    /// Adds one observation to its hourly aggregate and makes the aggregate's key due (one pending send per key).
    static func insertObservation(_ m: MetricObservation, deliveryID id: Int64, now: Double, _ db: SQLiteDatabase)
        throws
    {
        var one = GroupObservations()
        one.add(m, deliveryID: id, now: now)
        try one.apply(db)
    }

    // The outbox inserts of every webhook, built once: interpolating them per row allocated a new string each time
    // (the statement cache is keyed by the text).
    static let insertEventSQL = """
        INSERT INTO outbox (kind, delivery_id, record, state, due_at, created_at, updated_at)
        VALUES (\(OutboxKind.event.sql), ?, ?, \(OutboxState.pending.sql), ?, ?, ?)
        """
    static let insertFollowUpSQL = """
        INSERT INTO outbox (kind, delivery_id, record, state, due_at, created_at, updated_at)
        VALUES (\(OutboxKind.costFollowUp.sql), ?, ?, \(OutboxState.pending.sql), ?, ?, ?)
        """
    static let insertMetricSQL = """
        INSERT INTO outbox (kind, delivery_id, agg_key, state, due_at, created_at, updated_at)
        VALUES (\(OutboxKind.metric.sql), ?, ?, \(OutboxState.pending.sql), ?, ?, ?)
        ON CONFLICT(agg_key) WHERE state = \(OutboxState.pending.sql) AND agg_key IS NOT NULL DO NOTHING
        """
}
