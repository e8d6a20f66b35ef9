import BridgeCore
import BridgeStore
import Foundation
import PostgresNIO

/// A group of webhooks in two statements, whatever its size: one that claims the delivery keys and stores the
/// deliveries and their outbox records, one that applies the aggregate updates. Each is a prepared statement (one
/// text, the rows passed as arrays and read back with `unnest`), so a group costs four round trips with BEGIN and
/// COMMIT, where one statement per row per table cost about seven round trips per webhook.
extension PostgresDeliveryStore {
    /// True when a webhook can go in the group's bulk statement: it has no per-item keys (a rule's `dedupe_key`),
    /// whose outcome (which outputs are kept, whether the whole webhook is a duplicate) depends on the keys of the
    /// items; those webhooks are stored one at a time, each in its savepoint.
    static func goesInBulk(_ d: NewDelivery) -> Bool {
        ItemDedupe.keys(of: d).isEmpty && d.followUps.allSatisfy { $0.dedupeKey == nil }
    }

    /// Claims the delivery keys of `deliveries` (in their order: the first of two equal keys wins, and a key taken
    /// before is left alone), and stores every webhook whose key was free with its outbox records. Returns, for each
    /// webhook in order, its outcome, and the aggregate updates of those stored, for `applyAggregates`.
    static func storeInBulk(_ deliveries: [NewDelivery], _ db: PostgresConnection, logger: Logger) async throws
        -> ([GroupOutcome], [AggregateUpsert])
    {
        let statement = BulkStore(deliveries)
        guard !db.isClosed else { throw ConnectionClosed() }
        var rows: [(Int64, Bool)] = []
        rows.reserveCapacity(deliveries.count)
        for try await row in try await db.execute(statement, logger: logger) { rows.append(row) }
        guard rows.count == deliveries.count else {
            throw StoreError(
                .unexpectedAnswer, "storing \(deliveries.count) webhooks returned \(rows.count) rows")
        }
        var outcomes: [GroupOutcome] = []
        outcomes.reserveCapacity(deliveries.count)
        var upserts: [AggregateUpsert] = []
        for ((id, stored), d) in zip(rows, deliveries) {
            if stored {
                outcomes.append(.stored(.stored(deliveryId: id, events: d.events.count, metrics: d.metrics.count)))
                let now = d.receivedAt.timeIntervalSince1970
                upserts += d.metrics.map { AggregateUpsert($0, deliveryID: id, time: now) }
            } else {
                outcomes.append(.duplicate(key: d.deliveryKey ?? ""))
            }
        }
        return (outcomes, upserts)
    }

    /// Last, just before COMMIT: concurrent webhooks of one hour's aggregate wait on its row from the upsert to the
    /// commit, so that window is one statement (every key's upsert and pending send) and the commit. Keys in a
    /// fixed order, so two transactions touching the same aggregates lock them in the same order. Several
    /// observations of one key (webhooks committed together) are one row: their sum, count, min and max.
    static func applyAggregates(_ upserts: [AggregateUpsert], _ db: PostgresConnection, logger: Logger) async throws {
        guard !upserts.isEmpty else { return }
        var byKey: [String: [AggregateUpsert]] = [:]
        for u in upserts { byKey[Self.indexKey(u.key), default: []].append(u) }
        var statement = BulkAggregates()
        for key in byKey.keys.sorted() {
            let group = byKey[key]!
            let first = group[0]
            let values = group.map(\.observation.value)
            statement.add(
                key: key, first.observation, streamRef: first.streamRef, sum: values.reduce(0, +),
                count: values.count, min: values.min()!, max: values.max()!, deliveryID: first.deliveryID,
                now: group.map(\.time).max()!)
        }
        guard !db.isClosed else { throw ConnectionClosed() }
        _ = try await db.execute(statement, logger: logger)
    }
}

/// The deliveries of a group, their dedupe keys and their outbox records (events and cost follow-ups) in one
/// statement. Arrays cannot hold NULL here (postgres-nio binds `[String]`, not `[String?]`), so a nullable column
/// comes with a flag array (`has_key`, `has_request`, `has_client`).
///
/// `ids` numbers every webhook from the deliveries' sequence; `claimed` inserts the delivery keys with
/// `ON CONFLICT DO NOTHING` in the group's order, which leaves out a key stored before (or by a transaction that
/// commits while this one waits on it) and the second of two equal keys of the group; `kept` is every webhook
/// without a key or whose key was claimed; the last line answers, per webhook in order, its id and whether it was
/// stored.
struct BulkStore: PostgresPreparedStatement {
    static let name = "bridge_store_webhooks_v1"
    static let sql = """
        WITH input AS (
          SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::float8[], $6::text[],
            $7::bigint[], $8::bigint[], $9::bigint[], $10::text[], $11::bool[], $12::text[], $13::bool[],
            $14::text[], $15::bytea[], $16::bigint[])
            WITH ORDINALITY AS t(source, delivery_key, dedupe_key, has_key, received_at, status, http_status, events,
              metrics, explanation, has_request, client_address, has_client, headers, body, body_size, ord)),
        ids AS MATERIALIZED (SELECT input.*, nextval('deliveries_id_seq') AS id FROM input ORDER BY ord),
        claimed AS (
          INSERT INTO dedupe (source, key, delivery_id, created_at)
          SELECT source, dedupe_key, id, received_at FROM ids WHERE has_key ORDER BY ord
          ON CONFLICT DO NOTHING RETURNING delivery_id),
        kept AS (SELECT * FROM ids WHERE NOT has_key OR id IN (SELECT delivery_id FROM claimed)),
        stored AS (
          INSERT INTO deliveries (id, source, delivery_key, received_at, status, http_status, events, metrics,
            explanation, client_address, headers, body, body_size)
          SELECT id, source, CASE WHEN has_key THEN delivery_key END, received_at, status, http_status::integer,
            events::integer, metrics::integer, explanation, CASE WHEN has_request AND has_client THEN client_address END,
            CASE WHEN has_request THEN headers END, CASE WHEN has_request THEN body END,
            CASE WHEN has_request THEN body_size::integer END
          FROM kept ORDER BY ord),
        outboxed AS (
          INSERT INTO outbox (kind, delivery_id, record, state, due_at, created_at, updated_at)
          SELECT o.kind, kept.id, o.record, \(OutboxState.pending.sql), o.due_at, kept.received_at, kept.received_at
          FROM unnest($17::bigint[], $18::text[], $19::text[], $20::float8[])
            WITH ORDINALITY AS o(webhook, kind, record, due_at, n)
          JOIN kept ON kept.ord = o.webhook ORDER BY o.n)
        SELECT id, (NOT has_key OR id IN (SELECT delivery_id FROM claimed)) FROM ids ORDER BY ord
        """
    typealias Row = (Int64, Bool)

    var source: [String] = []
    var deliveryKey: [String] = []
    var dedupeKey: [String] = []
    var hasKey: [Bool] = []
    var receivedAt: [Double] = []
    var status: [String] = []
    var httpStatus: [Int] = []
    var events: [Int] = []
    var metrics: [Int] = []
    var explanation: [String] = []
    var hasRequest: [Bool] = []
    var clientAddress: [String] = []
    var hasClient: [Bool] = []
    var headers: [String] = []
    var body: [ByteBuffer] = []
    var bodySize: [Int] = []
    /// Outbox records: the webhook (its 1-based position), kind, record and due time.
    var recordWebhook: [Int] = []
    var recordKind: [String] = []
    var record: [String] = []
    var recordDue: [Double] = []

    init(_ deliveries: [NewDelivery]) {
        for (i, d) in deliveries.enumerated() {
            let now = d.receivedAt.timeIntervalSince1970
            source.append(d.source)
            deliveryKey.append(d.deliveryKey.map(PostgresDeliveryStore.text) ?? "")
            dedupeKey.append(d.deliveryKey.map(PostgresDeliveryStore.indexKey) ?? "")
            hasKey.append(d.deliveryKey != nil)
            receivedAt.append(now)
            status.append(d.status.rawValue)
            httpStatus.append(d.httpStatus)
            events.append(d.events.count)
            metrics.append(d.metrics.count)
            explanation.append(d.explanation.storedJSON)
            hasRequest.append(d.request != nil)
            clientAddress.append(d.request?.clientAddress ?? "")
            hasClient.append(d.request?.clientAddress != nil)
            headers.append(d.request?.headersJSON ?? "")
            body.append(d.request.map { ByteBuffer(bytes: $0.body) } ?? ByteBuffer())
            bodySize.append(d.request?.bodySize ?? 0)
            for event in d.events {
                recordWebhook.append(i + 1)
                recordKind.append(OutboxKind.event.rawValue)
                record.append(event.storedJSON)
                recordDue.append(now)
            }
            for f in d.followUps {
                recordWebhook.append(i + 1)
                recordKind.append(OutboxKind.costFollowUp.rawValue)
                record.append(StoredCostFollowUp(f, streamRef: f.streamToken.map(StreamTokenRef.fingerprint)).json)
                recordDue.append(f.due.timeIntervalSince1970)
            }
        }
    }

    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings(capacity: 20)
        b.append(source)
        b.append(deliveryKey)
        b.append(dedupeKey)
        b.append(hasKey)
        b.append(receivedAt)
        b.append(status)
        b.append(httpStatus)
        b.append(events)
        b.append(metrics)
        b.append(explanation)
        b.append(hasRequest)
        b.append(clientAddress)
        b.append(hasClient)
        b.append(headers)
        b.append(body)
        b.append(bodySize)
        b.append(recordWebhook)
        b.append(recordKind)
        b.append(record)
        b.append(recordDue)
        return b
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}

/// The aggregate updates of a group, one row per key in key order: each adds its observations to the key's hourly
/// aggregate (`ON CONFLICT DO UPDATE`, atomic) and makes the key due (one pending send per key).
struct BulkAggregates: PostgresPreparedStatement {
    static let name = "bridge_upsert_aggregates_v1"
    static let sql = """
        WITH input AS (
          SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[],
            $8::bigint[], $9::float8[], $10::float8[], $11::float8[], $12::bigint[])
            WITH ORDINALITY AS t(key, stream_ref, metric, aggregation, dimensions, hour, sum, count, min, max, now,
              delivery_id, ord)),
        upserted AS (
          INSERT INTO aggregates (key, stream_ref, metric, aggregation, dimensions, hour, sum, count, min, max,
            updated_at)
          SELECT key, stream_ref, metric, aggregation, dimensions, hour, sum, count, min, max, now
          FROM input ORDER BY ord
          ON CONFLICT (key) DO UPDATE SET sum = aggregates.sum + excluded.sum,
            count = aggregates.count + excluded.count,
            min = LEAST(aggregates.min, excluded.min), max = GREATEST(aggregates.max, excluded.max),
            updated_at = excluded.updated_at
          RETURNING key)
        INSERT INTO outbox (kind, delivery_id, agg_key, state, due_at, created_at, updated_at)
        SELECT \(OutboxKind.metric.sql), input.delivery_id, upserted.key, \(OutboxState.pending.sql), input.now,
          input.now, input.now
        FROM upserted JOIN input ON input.key = upserted.key ORDER BY input.ord
        ON CONFLICT (agg_key) WHERE state = \(OutboxState.pending.sql) AND agg_key IS NOT NULL DO NOTHING
        """
    typealias Row = ()

    var key: [String] = []
    var streamRef: [String] = []
    var metric: [String] = []
    var aggregation: [String] = []
    var dimensions: [String] = []
    var hour: [String] = []
    var sum: [Double] = []
    var count: [Int] = []
    var min: [Double] = []
    var max: [Double] = []
    var now: [Double] = []
    var deliveryID: [Int64] = []

    mutating func add(
        key k: String, _ m: MetricObservation, streamRef ref: String, sum s: Double, count c: Int, min lo: Double,
        max hi: Double, deliveryID id: Int64, now t: Double
    ) {
        key.append(k)
        streamRef.append(ref)
        metric.append(PostgresDeliveryStore.text(m.name))
        aggregation.append(m.aggregation.rawValue)
        dimensions.append(m.dimensions.storedJSON)
        hour.append(m.hour)
        sum.append(s)
        count.append(c)
        min.append(lo)
        max.append(hi)
        now.append(t)
        deliveryID.append(id)
    }

    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings(capacity: 12)
        b.append(key)
        b.append(streamRef)
        b.append(metric)
        b.append(aggregation)
        b.append(dimensions)
        b.append(hour)
        b.append(sum)
        b.append(count)
        b.append(min)
        b.append(max)
        b.append(now)
        b.append(deliveryID)
        return b
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {}
}
