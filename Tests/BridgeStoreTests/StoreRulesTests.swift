import BridgeStore
import BridgeStoreTestKit
import Foundation
import Testing

@testable import BridgeCore

/// The dialect-free rules both stores use, without a database.
@Suite("Store rules")
struct StoreRulesTests {
    @Test func itemSelectionKeepsNewItemsAndItemlessOutputsAndSpotsADuplicate() {
        var d = delivery(events: 3)
        d.events[0].dedupeKey = "a"
        d.events[1].dedupeKey = "b"
        #expect(ItemDedupe.keys(of: d) == ["a", "b"])
        #expect(ItemDedupe.storedKey("a") == "item:a")

        let partly = ItemSelection(d, fresh: ["b"])
        #expect(partly.events.map(\.description) == ["d1", "d2"])
        #expect(!partly.isDuplicate)

        var itemsOnly = d
        itemsOnly.events.removeLast()
        let seen = ItemSelection(itemsOnly, fresh: [])
        #expect(seen.events.isEmpty)
        #expect(seen.isDuplicate)
        // Nothing to de-duplicate: never a duplicate, even with nothing to store.
        #expect(!ItemSelection(delivery(events: 0), fresh: []).isDuplicate)
    }

    @Test func anAggregateSendsItsValueByAggregation() {
        func row(_ agg: String, dims: String = #"{"service":"api"}"#) -> AggregateRow {
            AggregateRow(
                streamRef: "ref", metric: "m", aggregation: agg, dimensions: dims, hour: "2024-05-01 14:00:00",
                sum: 10, count: 4, min: 1, max: 7)
        }
        func value(_ r: AggregateRow) -> Double? {
            guard case .metric(_, _, _, _, _, let v)? = r.content else { return nil }
            return v
        }
        #expect(value(row("Sum")) == 10)
        #expect(value(row("Average")) == 2.5)
        #expect(value(row("Maximum")) == 7)
        #expect(value(row("Minimum")) == 1)
        #expect(row("median").content == nil)
        #expect(row("Sum", dims: #"{"n":1}"#).content == nil)
        #expect(AggregateRow.value(.average, sum: 3, count: 0, min: 0, max: 0) == 0)
    }

    @Test func rowsDecodeByKindAndUnreadableOnesAreNil() {
        let event = EventRecord(
            timestamp: "2024-05-01 14:00:00", team: nil, type: "deploy", description: "d", url: nil, rule: "r")
        let item = OutboxItem.decode(
            id: 1, kind: OutboxKind.event.rawValue, attempts: 2, strikes: 1, record: event.storedJSON,
            deliveryID: nil, aggregate: nil)
        #expect(item == OutboxItem(id: 1, attempts: 2, strikes: 1, content: .event(event)))
        #expect(
            OutboxItem.decode(
                id: 1, kind: "event", attempts: 0, strikes: 0, record: "{", deliveryID: nil, aggregate: nil) == nil)
        #expect(
            OutboxItem.decode(
                id: 1, kind: "metric", attempts: 0, strikes: 0, record: nil, deliveryID: nil, aggregate: nil) == nil)
        #expect(
            OutboxItem.decode(
                id: 1, kind: "other", attempts: 0, strikes: 0, record: event.storedJSON, deliveryID: nil,
                aggregate: nil) == nil)
    }

    @Test func statsCountStatesAndScheduledFollowUps() {
        let now = Date(timeIntervalSince1970: 1000)
        let stats = OutboxStats(
            rows: [
                (state: "pending", count: 3, oldest: 940), (state: "inflight", count: 1, oldest: nil),
                (state: "sent", count: 5, oldest: nil), (state: "dead", count: 2, oldest: nil),
                (state: OutboxStats.scheduledState, count: 4, oldest: nil), (state: "unknown", count: 9, oldest: nil),
            ], now: now)
        #expect(
            stats == OutboxStats(pending: 3, inflight: 1, sent: 5, dead: 2, oldestPendingAge: 60, scheduled: 4))
        #expect(OutboxStats.query(now: "?").contains("due_at > ?"))
    }

    @Test func recordTextForDeadLettersAndTheConsole() {
        let metric = StoredRecordText(
            kind: "metric", record: nil, metric: "m", aggregation: "sum", dimensions: #"{"service":"api"}"#,
            hour: "2024-05-01 14:00:00")
        #expect(metric.line == #"m (sum) for the hour 2024-05-01 14:00:00 {"service":"api"}"#)
        let json = try? JSONValue.parse(Array(metric.json.utf8))
        #expect(
            json
                == .object([
                    "metric": .string("m"), "aggregation": .string("sum"), "hour": .string("2024-05-01 14:00:00"),
                    "dimensions": .object(["service": .string("api")]),
                ]))
        let event = StoredRecordText(
            kind: "event", record: #"{"type":"deploy"}"#, metric: nil, aggregation: nil, dimensions: nil, hour: nil)
        #expect(event.json == #"{"type":"deploy"}"#)
        #expect(event.line == #"{"type":"deploy"}"#)
    }
}
