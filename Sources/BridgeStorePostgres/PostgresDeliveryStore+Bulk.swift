import BridgeCore
import BridgeStore
import Foundation
import PostgresNIO

/// A group of webhooks in one statement, whatever its size: it claims the dedupe keys, stores the deliveries and
/// their outbox records and applies the aggregate updates, and PostgreSQL runs it as a transaction of its own (no
/// BEGIN or COMMIT: one round trip); first, when a webhook of the group has item keys (a rule's `dedupe_key`), one
/// statement looks up which keys of the group are taken. Each is a prepared statement (one text, the rows passed as
/// arrays and read back with `unnest`), where a transaction of separate statements cost four or five round trips a
/// group, and one statement per row per table about seven round trips per webhook.
extension PostgresDeliveryStore {
    /// A dedupe key as the table keys it: the webhook's source and the key's `indexKey`.
    struct ClaimKey: Hashable, Sendable {
        var source: String
        var key: String
    }

    /// A webhook of a group as the bulk statement stores it: the outputs its item keys leave (all of them when it
    /// has none) and the keys it claims, its delivery key first, then its fresh item keys in `ItemDedupe` order,
    /// as `insertDeferringAggregates` claims them one at a time.
    struct BulkWebhook: Sendable {
        var delivery: NewDelivery
        var selection: ItemSelection
        var claims: [String]
        var hasItems: Bool
    }

    /// What a webhook of a group comes to before the statement: stored (if its claims hold), or a duplicate.
    enum Resolution: Sendable {
        case store(BulkWebhook)
        case duplicate(key: String)
    }

    /// Decides the group in Swift, in its order, as one webhook at a time would: a webhook whose delivery key is
    /// `taken` (stored before, or by a webhook ahead of it in the group) is a duplicate; otherwise its item keys
    /// not taken are fresh, the outputs of the others are left out (`ItemSelection`), and a webhook left with no
    /// output is a duplicate of its first item key seen before (and claims nothing, as its savepoint would have
    /// been rolled back). The keys of every webhook kept are taken for those after it.
    static func resolve(_ deliveries: [NewDelivery], itemKeys: [[String]], taken: Set<ClaimKey>) -> [Resolution] {
        var taken = taken
        var resolutions: [Resolution] = []
        resolutions.reserveCapacity(deliveries.count)
        for (d, items) in zip(deliveries, itemKeys) {
            if let key = d.deliveryKey, taken.contains(ClaimKey(source: d.source, key: indexKey(key))) {
                resolutions.append(.duplicate(key: key))
                continue
            }
            var fresh = Set<String>()
            var freshKeys: [String] = []
            var firstSeen: String?
            for key in items {
                let stored = indexKey(ItemDedupe.storedKey(key))
                if taken.contains(ClaimKey(source: d.source, key: stored)) {
                    firstSeen = firstSeen ?? ItemDedupe.storedKey(key)
                } else {
                    fresh.insert(key)
                    freshKeys.append(stored)
                }
            }
            let selection = ItemSelection(d, fresh: fresh)
            if selection.isDuplicate, let firstSeen {
                resolutions.append(.duplicate(key: firstSeen))
                continue
            }
            let claims = (d.deliveryKey.map { [indexKey($0)] } ?? []) + freshKeys
            for key in claims { taken.insert(ClaimKey(source: d.source, key: key)) }
            resolutions.append(
                .store(BulkWebhook(delivery: d, selection: selection, claims: claims, hasItems: !items.isEmpty)))
        }
        return resolutions
    }

    /// The dedupe keys of `deliveries` (delivery keys and item keys, `itemKeys[i]` those of `deliveries[i]`)
    /// already in the table, in one statement; none asked when no webhook of the group has item keys (the bulk
    /// statement's `ON CONFLICT` then decides alone).
    static func takenKeys(
        _ deliveries: [NewDelivery], itemKeys: [[String]], _ db: PostgresConnection, logger: Logger
    ) async throws -> Set<ClaimKey> {
        guard itemKeys.contains(where: { !$0.isEmpty }) else { return [] }
        var statement = BulkTakenKeys()
        for (d, items) in zip(deliveries, itemKeys) {
            if let key = d.deliveryKey { statement.add(d.source, indexKey(key)) }
            for key in items { statement.add(d.source, indexKey(ItemDedupe.storedKey(key))) }
        }
        guard !db.isClosed else { throw ConnectionClosed() }
        var taken = Set<ClaimKey>()
        for try await (source, key) in try await db.execute(statement, logger: logger) {
            taken.insert(ClaimKey(source: source, key: key))
        }
        return taken
    }

    /// Stores a group in bulk: the keys taken before in one statement, the group decided in Swift (`resolve`),
    /// then the webhooks kept in one statement (`BulkStore`) that claims their keys with `ON CONFLICT DO NOTHING`,
    /// stores those whose every claim held and adds their observations to the aggregates. The unique key still
    /// decides: a webhook without item keys whose delivery key another transaction took since the look-up is a
    /// duplicate; a webhook with item keys that loses a claim fails the statement (nothing of it is kept), and the
    /// group is stored again one webhook at a time. Returns, for each webhook in order, its outcome.
    static func storeInBulk(_ deliveries: [NewDelivery], _ db: PostgresConnection, logger: Logger) async throws
        -> [GroupOutcome]
    {
        let itemKeys = deliveries.map(ItemDedupe.keys(of:))  // each webhook's, worked out once for both steps
        let taken = try await takenKeys(deliveries, itemKeys: itemKeys, db, logger: logger)
        let resolutions = resolve(deliveries, itemKeys: itemKeys, taken: taken)
        var webhooks: [BulkWebhook] = []
        webhooks.reserveCapacity(deliveries.count)
        for case .store(let w) in resolutions { webhooks.append(w) }
        var rows: [(Int64, Bool)] = []
        if !webhooks.isEmpty {
            let statement = BulkStore(webhooks)
            guard !db.isClosed else { throw ConnectionClosed() }
            rows.reserveCapacity(webhooks.count)
            for try await (id, stored, _) in try await db.execute(statement, logger: logger) {
                rows.append((id, stored))
            }
            guard rows.count == webhooks.count else {
                throw StoreError(.unexpectedAnswer, "storing \(webhooks.count) webhooks returned \(rows.count) rows")
            }
        }
        var outcomes: [GroupOutcome] = []
        outcomes.reserveCapacity(deliveries.count)
        var next = 0
        for resolution in resolutions {
            guard case .store(let w) = resolution else {
                if case .duplicate(let key) = resolution { outcomes.append(.duplicate(key: key)) }
                continue
            }
            let (id, stored) = rows[next]
            next += 1
            let d = w.delivery
            if stored {
                let kept = w.selection
                outcomes.append(
                    .stored(.stored(deliveryId: id, events: kept.events.count, metrics: kept.metrics.count)))
            } else if w.hasItems {
                // Not reached: the statement fails when a webhook with item keys loses a claim.
                throw lostClaim()
            } else {
                outcomes.append(.duplicate(key: d.deliveryKey ?? ""))
            }
        }
        return outcomes
    }

    /// The CTE `upserted` of both bulk statements: the rows of `source` (one per aggregate key, with `sum`, `count`,
    /// `min`, `max` and `now`) added to their aggregates in byte order of their keys, the keys returned.
    static func upsertAggregatesSQL(from source: String) -> String {
        """
        upserted AS (
          INSERT INTO aggregates (key, stream_ref, metric, aggregation, dimensions, hour, sum, count, min, max,
            updated_at)
          SELECT key, stream_ref, metric, aggregation, dimensions, hour, sum, count, min, max, now
          FROM \(source) ORDER BY key COLLATE "C"
          \(mergeAggregateSQL)
          RETURNING key)
        """
    }

    /// A webhook with item keys lost a claim to another transaction between the look-up and the statement: nothing
    /// of the group is kept, and the group is stored again one webhook at a time (as after a failed statement,
    /// `recordGroup`), where the unique key decides each claim.
    static func lostClaim() -> StoreError {
        StoreError(.database, BulkStore.lostClaim)
    }

    /// The aggregate updates of webhooks stored one at a time (`recordOneByOne`), last, just before COMMIT:
    /// concurrent webhooks of one hour's aggregate wait on its row from the upsert to the commit, so that window is
    /// one statement (every key's upsert and pending send) and the commit. Keys in a
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

/// The deliveries of a group, their dedupe keys, their outbox records (events and cost follow-ups) and their
/// aggregate updates in one statement. Arrays cannot hold NULL here (postgres-nio binds `[String]`, not
/// `[String?]`), so a nullable column comes with a flag array (`has_key`, `has_request`, `has_client`).
///
/// `ids` numbers every webhook from the deliveries' sequence; `claimed` inserts the claimed keys (delivery keys and
/// fresh item keys, each with its webhook's 1-based position) with `ON CONFLICT DO NOTHING` in key order, which
/// leaves out a key stored by a transaction that committed since the look-up (or commits while this one waits on
/// it); `kept` is every webhook whose claims all held. `summed` adds up the observations of the webhooks kept, one
/// row per aggregate key, and `upserted` applies them in key order (byte order, as every statement that waits on
/// aggregate rows takes them, so two transactions do not deadlock), each key's row locked from its update to the
/// statement's end; `outboxed` inserts the records of the webhooks kept in their order, then one pending send per
/// key updated (none when one is pending already), as one webhook at a time would number them. The last line answers, per webhook in order, its id
/// and whether it was stored; a webhook with item keys whose claims did not all hold fails the whole statement
/// there (a cast of the message `lostClaim`, the one way plain SQL has to raise an error), so that none of its
/// keys stays claimed for a delivery that was not stored. Every part of the statement reads its input only through
/// `claimed` and `kept`, so the claims are all made before anything else of the group is written.
struct BulkStore: PostgresPreparedStatement {
    static let name = "bridge_store_webhooks_v3"
    static let lostClaim = "a dedupe key of the group was claimed by another transaction meanwhile"
    static let sql = """
        WITH input AS (
          SELECT * FROM unnest($1::text[], $2::text[], $3::bool[], $4::float8[], $5::text[], $6::bigint[],
            $7::bigint[], $8::bigint[], $9::text[], $10::bool[], $11::text[], $12::bool[], $13::text[], $14::bytea[],
            $15::bigint[], $16::bigint[], $17::bool[])
            WITH ORDINALITY AS t(source, delivery_key, has_key, received_at, status, http_status, events, metrics,
              explanation, has_request, client_address, has_client, headers, body, body_size, claims, has_items, ord)),
        ids AS MATERIALIZED (SELECT input.*, nextval('deliveries_id_seq') AS id FROM input ORDER BY ord),
        claimed AS (
          INSERT INTO dedupe (source, key, delivery_id, created_at)
          SELECT ids.source, c.key, ids.id, ids.received_at
          FROM unnest($18::bigint[], $19::text[]) WITH ORDINALITY AS c(webhook, key, n)
          JOIN ids ON ids.ord = c.webhook ORDER BY c.n
          ON CONFLICT DO NOTHING RETURNING delivery_id),
        held AS MATERIALIZED (
          SELECT ids.id, ids.ord, ids.has_items,
            ids.claims = (SELECT count(*) FROM claimed WHERE claimed.delivery_id = ids.id) AS ok
          FROM ids),
        kept AS MATERIALIZED (SELECT ids.* FROM ids JOIN held ON held.id = ids.id WHERE held.ok),
        stored AS (
          INSERT INTO deliveries (id, source, delivery_key, received_at, status, http_status, events, metrics,
            explanation, client_address, headers, body, body_size)
          SELECT id, source, CASE WHEN has_key THEN delivery_key END, received_at, status, http_status::integer,
            events::integer, metrics::integer, explanation, CASE WHEN has_request AND has_client THEN client_address END,
            CASE WHEN has_request THEN headers END, CASE WHEN has_request THEN body END,
            CASE WHEN has_request THEN body_size::integer END
          FROM kept ORDER BY ord),
        summed AS MATERIALIZED (
          SELECT m.key, min(m.stream_ref) AS stream_ref, min(m.metric) AS metric, min(m.aggregation) AS aggregation,
            min(m.dimensions) AS dimensions, min(m.hour) AS hour, sum(m.value) AS sum, count(*) AS count,
            min(m.value) AS min, max(m.value) AS max, max(kept.received_at) AS now, min(kept.id) AS delivery_id
          FROM unnest($24::bigint[], $25::text[], $26::text[], $27::text[], $28::text[], $29::text[], $30::text[],
            $31::float8[]) AS m(webhook, key, stream_ref, metric, aggregation, dimensions, hour, value)
          JOIN kept ON kept.ord = m.webhook
          GROUP BY m.key),
        \(PostgresDeliveryStore.upsertAggregatesSQL(from: "summed")),
        outboxed AS (
          INSERT INTO outbox (kind, delivery_id, record, agg_key, state, due_at, created_at, updated_at)
          SELECT kind, delivery_id, record, agg_key, \(OutboxState.pending.sql), due_at, created_at, created_at
          FROM (
            SELECT 1 AS part, o.n, o.kind, kept.id AS delivery_id, o.record, NULL AS agg_key, o.due_at,
              kept.received_at AS created_at
            FROM unnest($20::bigint[], $21::text[], $22::text[], $23::float8[])
              WITH ORDINALITY AS o(webhook, kind, record, due_at, n)
            JOIN kept ON kept.ord = o.webhook
            UNION ALL
            SELECT 2, 0, \(OutboxKind.metric.sql), summed.delivery_id, NULL, upserted.key, summed.now, summed.now
            FROM upserted JOIN summed ON summed.key = upserted.key) AS records
          ORDER BY part, n, agg_key COLLATE "C"
          ON CONFLICT DO NOTHING)
        SELECT id, ok, CAST(CASE WHEN has_items AND NOT ok THEN '\(lostClaim)' ELSE '0' END AS integer)
        FROM held ORDER BY ord
        """
    typealias Row = (Int64, Bool, Int)

    var source: [String] = []
    var deliveryKey: [String] = []
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
    var claims: [Int] = []
    var hasItems: [Bool] = []
    /// Claimed keys: the webhook (its 1-based position) and the key's `indexKey`.
    var claimWebhook: [Int] = []
    var claimKey: [String] = []
    /// Outbox records: the webhook (its 1-based position), kind, record and due time.
    var recordWebhook: [Int] = []
    var recordKind: [String] = []
    var record: [String] = []
    var recordDue: [Double] = []
    /// Metric observations: the webhook (its 1-based position), the aggregate's `indexKey` and row, the value.
    var observationWebhook: [Int] = []
    var observationKey: [String] = []
    var observationStreamRef: [String] = []
    var observationMetric: [String] = []
    var observationAggregation: [String] = []
    var observationDimensions: [String] = []
    var observationHour: [String] = []
    var observationValue: [Double] = []

    init(_ webhooks: [PostgresDeliveryStore.BulkWebhook]) {
        var allClaims: [(source: String, key: String, webhook: Int)] = []
        for (i, w) in webhooks.enumerated() {
            let d = w.delivery
            let kept = w.selection
            let now = d.receivedAt.timeIntervalSince1970
            source.append(d.source)
            deliveryKey.append(d.deliveryKey.map(PostgresDeliveryStore.text) ?? "")
            hasKey.append(d.deliveryKey != nil)
            receivedAt.append(now)
            status.append(d.status.rawValue)
            httpStatus.append(d.httpStatus)
            events.append(kept.events.count)
            metrics.append(kept.metrics.count)
            explanation.append(d.explanation.storedJSON)
            hasRequest.append(d.request != nil)
            clientAddress.append(d.request?.clientAddress ?? "")
            hasClient.append(d.request?.clientAddress != nil)
            headers.append(d.request?.headersJSON ?? "")
            body.append(d.request.map { ByteBuffer(bytes: $0.body) } ?? ByteBuffer())
            bodySize.append(d.request?.bodySize ?? 0)
            claims.append(w.claims.count)
            hasItems.append(w.hasItems)
            for key in w.claims { allClaims.append((d.source, key, i + 1)) }
            for event in kept.events {
                recordWebhook.append(i + 1)
                recordKind.append(OutboxKind.event.rawValue)
                record.append(event.storedJSON)
                recordDue.append(now)
            }
            for f in kept.followUps {
                recordWebhook.append(i + 1)
                recordKind.append(OutboxKind.costFollowUp.rawValue)
                record.append(StoredCostFollowUp(f, streamRef: f.streamToken.map(StreamTokenRef.fingerprint)).json)
                recordDue.append(f.due.timeIntervalSince1970)
            }
            for m in kept.metrics {
                let ref = StreamTokenRef.fingerprint(m.streamToken)
                observationWebhook.append(i + 1)
                observationKey.append(PostgresDeliveryStore.indexKey(AggregateKey.of(m, streamRef: ref)))
                observationStreamRef.append(ref)
                observationMetric.append(PostgresDeliveryStore.text(m.name))
                observationAggregation.append(m.aggregation.rawValue)
                observationDimensions.append(m.dimensions.storedJSON)
                observationHour.append(m.hour)
                observationValue.append(m.value)
            }
        }
        // Claimed in key order, whatever the order of their webhooks: two replicas claiming the same keys wait on
        // each other in one order, and do not deadlock. (The group holds each key once, so the order decides
        // nothing else.)
        allClaims.sort { ($0.source, $0.key) < ($1.source, $1.key) }
        claimWebhook = allClaims.map(\.webhook)
        claimKey = allClaims.map(\.key)
    }

    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings(capacity: 31)
        b.append(source)
        b.append(deliveryKey)
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
        b.append(claims)
        b.append(hasItems)
        b.append(claimWebhook)
        b.append(claimKey)
        b.append(recordWebhook)
        b.append(recordKind)
        b.append(record)
        b.append(recordDue)
        b.append(observationWebhook)
        b.append(observationKey)
        b.append(observationStreamRef)
        b.append(observationMetric)
        b.append(observationAggregation)
        b.append(observationDimensions)
        b.append(observationHour)
        b.append(observationValue)
        return b
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}

/// The aggregate updates of webhooks stored one at a time, one row per key in key order (byte order, as
/// `BulkStore`): each adds its observations to the key's hourly aggregate (`ON CONFLICT DO UPDATE`, atomic) and
/// makes the key due (one pending send per key).
struct BulkAggregates: PostgresPreparedStatement {
    static let name = "bridge_upsert_aggregates_v2"
    static let sql = """
        WITH input AS (
          SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::float8[],
            $8::bigint[], $9::float8[], $10::float8[], $11::float8[], $12::bigint[])
            WITH ORDINALITY AS t(key, stream_ref, metric, aggregation, dimensions, hour, sum, count, min, max, now,
              delivery_id, ord)),
        \(PostgresDeliveryStore.upsertAggregatesSQL(from: "input"))
        INSERT INTO outbox (kind, delivery_id, agg_key, state, due_at, created_at, updated_at)
        SELECT \(OutboxKind.metric.sql), input.delivery_id, upserted.key, \(OutboxState.pending.sql), input.now,
          input.now, input.now
        FROM upserted JOIN input ON input.key = upserted.key ORDER BY input.key COLLATE "C"
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

/// The dedupe keys of a group already stored: `(source, key)` pairs passed as two arrays, the rows found returned.
///
/// One look-up of the primary key per wanted key (`LATERAL ... LIMIT 1`), not a join: PostgreSQL keeps a prepared
/// statement's generic plan until the table's statistics change, and a join planned while `dedupe` was young (a new
/// database, before autovacuum first analyzed it) hashed the wanted keys and read the whole table for every group
/// (8 ms at 40,000 keys, growing with the table). A look-up per key is the cheaper plan at any size, so it is the
/// one planned.
struct BulkTakenKeys: PostgresPreparedStatement {
    static let name = "bridge_taken_keys_v2"
    static let sql = """
        SELECT wanted.source, wanted.key
        FROM unnest($1::text[], $2::text[]) AS wanted(source, key)
        CROSS JOIN LATERAL (
          SELECT 1 FROM dedupe WHERE dedupe.source = wanted.source AND dedupe.key = wanted.key LIMIT 1) AS hit
        """
    typealias Row = (String, String)

    var source: [String] = []
    var key: [String] = []

    mutating func add(_ s: String, _ k: String) {
        source.append(s)
        key.append(k)
    }

    func makeBindings() throws -> PostgresBindings {
        var b = PostgresBindings(capacity: 2)
        b.append(source)
        b.append(key)
        return b
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        try row.decode(Row.self)
    }
}
