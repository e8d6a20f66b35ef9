import BridgeStore
import BridgeStoreTestKit
import Foundation
import PostgresNIO
import Testing

@testable import BridgeCore
@testable import BridgeStorePostgres

/// A webhook whose events carry `items` as their item keys (nil: an event without one), and whose metrics carry
/// `metricItems` (one observation each, value 1, 2, ...).
private func itemDelivery(
    _ key: String?, items: [String?], metricItems: [String?] = [], followUpItem: String? = nil
) throws -> NewDelivery {
    var d = delivery(
        key: key, metrics: metricItems.indices.map { observation(Double($0 + 1)) }, events: items.count)
    for (i, item) in items.enumerated() { d.events[i].dedupeKey = item }
    for (i, item) in metricItems.enumerated() { d.metrics[i].dedupeKey = item }
    if let followUpItem {
        d.followUps = [
            try PostgresCostFollowUpTests.followUp(
                at: Date(timeIntervalSince1970: 1_714_572_300), dedupeKey: followUpItem)
        ]
    }
    return d
}

/// A webhook's answer with its delivery id replaced by the rank of that id among the stored deliveries, so that two
/// schemas (whose sequences differ: a duplicate rolled back in its savepoint still took an id) can be compared.
private enum Answer: Equatable {
    case stored(rank: Int, events: Int, metrics: Int)
    case duplicate(rank: Int)
}

/// Records `deliveries` as one group, in bulk (`storeInBulk`, its own statement) or in one transaction one webhook
/// at a time (`recordOneByOne`, each in its savepoint), and answers each as `recordGroup` does.
private func record(_ store: PostgresDeliveryStore, _ deliveries: [NewDelivery], bulk: Bool) async throws
    -> [RecordResult]
{
    let logger = store.logger
    let outcomes =
        bulk
        ? try await store.withConnection("record a test group") { db in
            try await PostgresDeliveryStore.storeInBulk(deliveries, db, logger: logger)
        }
        : try await store.transaction("record a test group") { db in
            try await PostgresDeliveryStore.recordOneByOne(deliveries, db, logger: logger)
        }
    #expect(outcomes.count == deliveries.count)
    var results: [RecordResult] = []
    for (d, outcome) in zip(deliveries, outcomes) {
        switch outcome {
        case .stored(let r): results.append(r)
        case .duplicate(let key):
            results.append(.duplicate(originalDeliveryId: try await store.original(source: d.source, key: key)))
        case .failed(let error): throw error
        }
    }
    return results
}

/// Everything a store holds after some groups, with delivery ids as ranks: the deliveries, the dedupe keys, the
/// outbox records and the aggregates, each as lines in a fixed order.
private func contents(_ store: PostgresDeliveryStore) async throws -> (ranks: [Int64: Int], lines: [String]) {
    var ranks: [Int64: Int] = [:]
    var lines: [String] = []
    let deliveries = try await store.client.query(
        "SELECT id, source, delivery_key, events, metrics FROM deliveries ORDER BY id")
    for try await (id, source, key, events, metrics) in deliveries.decode((Int64, String, String?, Int, Int).self) {
        ranks[id] = ranks.count
        lines.append("delivery \(ranks[id]!) \(source) \(key ?? "-") events \(events) metrics \(metrics)")
    }
    let rank = { (id: Int64?) in id.map { ranks[$0].map(String.init) ?? "unknown \($0)" } ?? "-" }
    let dedupe = try await store.client.query("SELECT source, key, delivery_id FROM dedupe ORDER BY source, key")
    for try await (source, key, id) in dedupe.decode((String, String, Int64).self) {
        lines.append("dedupe \(source) \(key) \(rank(id))")
    }
    let outbox = try await store.client.query(
        "SELECT kind, delivery_id, record, agg_key, state, due_at FROM outbox ORDER BY id")
    for try await (kind, id, record, agg, state, due) in outbox.decode(
        (String, Int64?, String?, String?, String, Double).self)
    {
        let time = kind == OutboxKind.costFollowUp.rawValue ? " due \(due)" : ""
        lines.append("outbox \(kind) \(rank(id)) \(state) \(record ?? "-") \(agg ?? "-")\(time)")
    }
    let aggregates = try await store.client.query("SELECT key, sum, count, min, max FROM aggregates ORDER BY key")
    for try await (key, sum, count, min, max) in aggregates.decode((String, Double, Int, Double, Double).self) {
        lines.append("aggregate \(key) \(sum) \(count) \(min) \(max)")
    }
    return (ranks, lines)
}

private func answers(_ results: [RecordResult], _ ranks: [Int64: Int]) -> [Answer] {
    results.map {
        switch $0 {
        case .stored(let id, let events, let metrics): .stored(rank: ranks[id] ?? -1, events: events, metrics: metrics)
        case .duplicate(let id): .duplicate(rank: ranks[id] ?? -1)
        }
    }
}

@Suite(
    "PostgreSQL: webhooks with item keys in the group's bulk statement",
    .enabled(
        if: TestPostgres.isAvailable, "no PostgreSQL for the tests (the note at the start of the output says why)"))
struct PostgresItemKeyBulkTests {
    /// Groups mixing item keys, items repeated inside a group, items and delivery keys stored before, and webhooks
    /// without item keys.
    static func groups() throws -> [[NewDelivery]] {
        [
            // Stored before the groups below.
            [try itemDelivery("pre", items: ["x"]), delivery(key: "p0", events: 1)],
            [
                try itemDelivery("a", items: ["x", "y"]),  // x seen before: only y's event
                delivery(key: "b", events: 2),
                try itemDelivery("c", items: ["y"]),  // y taken by a: a duplicate of a
                try itemDelivery(nil, items: ["z", nil], metricItems: ["z", "m1"]),
                try itemDelivery("a", items: ["w"]),  // a's delivery key again: w is not claimed
                try itemDelivery("d", items: ["x", nil]),  // x seen: only the event without a key
                try itemDelivery("p0", items: ["q"]),  // delivery key stored before: q is not claimed
                try itemDelivery("e", items: ["q", "w"], followUpItem: "q"),  // q and w still free
                try itemDelivery("f", items: [], metricItems: ["m1", nil]),  // m1 taken: one metric of two
                delivery(key: nil, metrics: [observation(5)], events: 1),
            ],
            [
                try itemDelivery("g", items: ["z", "y"]),  // both seen: a duplicate of the first seen (y, sorted)
                delivery(key: "a", events: 1),  // stored in an earlier group
                try itemDelivery("h", items: ["v"], followUpItem: "v"),
                try itemDelivery("i", items: ["v"], followUpItem: "v"),  // v taken by h
                try itemDelivery("j", items: ["u", "u"]),  // one item twice in one webhook
                try itemDelivery("k", items: [], followUpItem: "orphan"),  // a follow-up whose item has no output
            ],
        ]
    }

    @Test func bulkStoresAndAnswersExactlyAsOneWebhookAtATime() async throws {
        let groups = try Self.groups()
        try await withReplicas(1) { bulkStores in
            try await withReplicas(1) { oneByOneStores in
                var bulkResults: [[RecordResult]] = []
                var oneByOneResults: [[RecordResult]] = []
                for group in groups {
                    bulkResults.append(try await record(bulkStores[0], group, bulk: true))
                    oneByOneResults.append(try await record(oneByOneStores[0], group, bulk: false))
                }
                let bulk = try await contents(bulkStores[0])
                let oneByOne = try await contents(oneByOneStores[0])
                #expect(bulk.lines == oneByOne.lines)
                let bulkAnswers = bulkResults.map { answers($0, bulk.ranks) }
                let oneByOneAnswers = oneByOneResults.map { answers($0, oneByOne.ranks) }
                #expect(bulkAnswers == oneByOneAnswers)

                // And what both should be, so that the comparison cannot pass with both wrong the same way.
                #expect(
                    bulkAnswers[1] == [
                        .stored(rank: 2, events: 1, metrics: 0), .stored(rank: 3, events: 2, metrics: 0),
                        .duplicate(rank: 2), .stored(rank: 4, events: 2, metrics: 2), .duplicate(rank: 2),
                        .stored(rank: 5, events: 1, metrics: 0), .duplicate(rank: 1),
                        .stored(rank: 6, events: 2, metrics: 0), .stored(rank: 7, events: 0, metrics: 1),
                        .stored(rank: 8, events: 1, metrics: 1),
                    ])
                #expect(
                    bulkAnswers[2] == [
                        .duplicate(rank: 2), .duplicate(rank: 2), .stored(rank: 9, events: 1, metrics: 0),
                        .duplicate(rank: 9), .stored(rank: 10, events: 2, metrics: 0),
                        .stored(rank: 11, events: 0, metrics: 0),
                    ])
                #expect(bulk.lines.filter { $0.hasPrefix("outbox \(OutboxKind.costFollowUp.rawValue)") }.count == 2)
                #expect(bulk.lines.contains("dedupe s item:q 6"))
                #expect(!bulk.lines.contains { $0.hasPrefix("dedupe s item:orphan") })
            }
        }
    }

    @Test func aGroupWithItemKeysIsOneTransactionWithoutSavepoints() async throws {
        try await withReplicas(1) { stores in
            let store = stores[0]
            _ = try await store.record(try itemDelivery("first", items: ["x"]))
            let before = store.recordTransactions.withLock { $0 }
            let group = [
                try itemDelivery("i1", items: ["x", "y"]), delivery(key: "plain", events: 2),
                try itemDelivery("i2", items: ["y"]), try itemDelivery("i3", items: ["x"]),
            ]
            let results = await recordAsOneGroup(store, group)
            #expect(store.recordTransactions.withLock { $0 } == before + 1, "one transaction, no fallback")
            guard case .success(.stored(let i1, 1, 0)) = results[0] else {
                Issue.record("the webhook with a new item was answered \(results[0])")
                return
            }
            #expect(storedID(results[1]) != nil)
            #expect((try? results[2].get()) == .duplicate(originalDeliveryId: i1))
            guard case .success(.duplicate) = results[3] else {
                Issue.record("the webhook with an item seen before was answered \(results[3])")
                return
            }
        }
    }

    /// The look-up of taken keys reads the primary key's index, also in a generic plan PostgreSQL made while the
    /// table was young and kept as it grew (no ANALYZE in between, as in a new database before autovacuum's first
    /// pass). The join it replaced was planned there as a hash join over the whole table, read for every group.
    @Test func theTakenKeysLookUpReadsTheIndexOnAYoungTable() async throws {
        try await withReplicas(1) { stores in
            let store = stores[0]
            let logger = store.logger
            let plan = try await store.client.withConnection { db -> [String] in
                try await db.query("SET plan_cache_mode = force_generic_plan", logger: logger)
                try await db.query(
                    PostgresQuery(unsafeSQL: "PREPARE taken_probe(text[], text[]) AS \(BulkTakenKeys.sql)"),
                    logger: logger)
                try await db.query("EXECUTE taken_probe('{s}', '{key-1}')", logger: logger)  // planned now
                try await db.query(
                    """
                    INSERT INTO dedupe (source, key, delivery_id, created_at)
                    SELECT 's', prefix || 'key-' || n, n, 0
                    FROM generate_series(1, 5000) AS n, unnest(ARRAY['', 'item:']) AS prefix
                    """, logger: logger)
                var lines: [String] = []
                for try await line in try await db.query(
                    "EXPLAIN (COSTS OFF) EXECUTE taken_probe('{s,s}', '{key-7,key-x}')", logger: logger
                ).decode(String.self) {
                    lines.append(line)
                }
                try await db.query("DEALLOCATE taken_probe", logger: logger)
                try await db.query("RESET plan_cache_mode", logger: logger)
                return lines
            }
            let text = plan.joined(separator: "\n")
            #expect(text.contains("Index Only Scan using dedupe_pkey"), "the plan:\n\(text)")
            #expect(!text.contains("Seq Scan"), "the plan:\n\(text)")
            let taken = try await store.client.withConnection { db in
                try await PostgresDeliveryStore.takenKeys(
                    [delivery(key: "key-9"), delivery(key: "key-new")], itemKeys: [["key-7", "item-new"], []], db,
                    logger: store.logger)
            }
            #expect(
                taken == [.init(source: "s", key: "key-9"), .init(source: "s", key: ItemDedupe.storedKey("key-7"))])
        }
    }

    /// Another replica's transaction holds an item key the group's look-up did not see (not committed yet): the
    /// bulk claim waits, loses when that transaction commits, the statement fails as a whole, and the group is stored
    /// again one webhook at a time, where the key's unique constraint decides.
    @Test func anItemKeyClaimedByAnotherReplicaMeanwhileGoesBackToOneAtATime() async throws {
        try await withReplicas(2) { stores in
            let store = stores[0]
            guard case .stored(let otherID, _, _) = try await stores[1].record(delivery(key: "other", events: 1))
            else {
                Issue.record("the other replica's webhook was not stored")
                return
            }
            let before = store.recordTransactions.withLock { $0 }
            let group = [try itemDelivery("r1", items: ["r"]), delivery(key: "plain", events: 1)]
            let results = try await stores[1].client.withConnection { connection in
                try await connection.query("BEGIN", logger: store.logger)
                try await connection.query(
                    "INSERT INTO dedupe (source, key, delivery_id, created_at) VALUES ('s', 'item:r', \(otherID), 0)",
                    logger: store.logger)
                let recording = Task { await recordAsOneGroup(store, group) }
                try await Task.sleep(for: .milliseconds(500))
                try await connection.query("COMMIT", logger: store.logger)
                return await recording.value
            }
            #expect(store.recordTransactions.withLock { $0 } == before + 2, "the bulk statement, then one by one")
            #expect((try? results[0].get()) == .duplicate(originalDeliveryId: otherID))
            #expect(storedID(results[1]) != nil)
            let rows = try await store.client.query("SELECT count(*) FROM deliveries WHERE delivery_key = 'r1'")
            for try await n in rows.decode(Int.self) { #expect(n == 0) }
            // The failed statement kept none of its claims: not r1's delivery key, and item:r stays the other's.
            let claims = try await store.client.query(
                "SELECT count(*) FROM dedupe WHERE key = 'r1' OR (key = 'item:r' AND delivery_id <> \(otherID))")
            for try await n in claims.decode(Int.self) { #expect(n == 0) }
        }
    }

    /// Two replicas commit groups sharing item keys at the same time: each item is stored once, with its event.
    @Test func twoReplicasRacingOnTheSameItemsStoreEachItemOnce() async throws {
        try await withReplicas(2) { stores in
            let items = (0..<40).map { "item-\($0)" }
            let groups = try stores.indices.map { r in
                try items.shuffled().enumerated().map { i, item in
                    try itemDelivery("replica\(r)-\(i)", items: [item])
                }
            }
            let results = await withTaskGroup(of: [Result<RecordResult, any Error>].self) { group in
                for (store, deliveries) in zip(stores, groups) {
                    group.addTask { await recordAsOneGroup(store, deliveries) }
                }
                var all: [Result<RecordResult, any Error>] = []
                for await r in group { all += r }
                return all
            }
            #expect(results.compactMap(storedID).count == items.count)
            #expect(results.filter { if case .success(.duplicate) = $0 { true } else { false } }.count == items.count)
            let events = try await stores[0].client.query("SELECT count(*) FROM outbox WHERE kind = 'event'")
            for try await n in events.decode(Int.self) { #expect(n == items.count) }
            let keys = try await stores[0].client.query("SELECT count(*) FROM dedupe WHERE key LIKE 'item:%'")
            for try await n in keys.decode(Int.self) { #expect(n == items.count) }
        }
    }
}
