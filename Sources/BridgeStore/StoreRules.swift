import BridgeCore
import Foundation

/// Per-item de-duplication (a rule's `dedupe_key`), the same in both stores: each item key is kept in the dedupe
/// table under `prefix`, beside the delivery keys; the outputs of an item seen before are left out, and a delivery
/// whose every output was left out is a duplicate of the delivery that first had one of its items.
public enum ItemDedupe {
    /// What keeps item keys apart from delivery keys in the dedupe table.
    public static let prefix = "item:"

    /// The dedupe table's key for an item key.
    public static func storedKey(_ key: String) -> String { prefix + key }

    /// The item keys of a delivery's events and metrics, each once, sorted (the order both stores take them in).
    public static func keys(of d: NewDelivery) -> [String] {
        Set(d.events.compactMap(\.dedupeKey) + d.metrics.compactMap(\.dedupeKey)).sorted()
    }
}

/// What a delivery stores once its item keys are checked: the outputs without an item key, and those whose item
/// key was seen for the first time (`fresh`). A cost follow-up goes with its item.
public struct ItemSelection: Sendable {
    public var events: [EventRecord]
    public var metrics: [MetricObservation]
    public var followUps: [CostFollowUp]
    /// True when every output was left out because its item was seen before: the delivery is a duplicate.
    public var isDuplicate: Bool

    public init(_ d: NewDelivery, fresh: Set<String>) {
        let keep = { (key: String?) in key.map { fresh.contains($0) } ?? true }
        events = d.events.filter { keep($0.dedupeKey) }
        metrics = d.metrics.filter { keep($0.dedupeKey) }
        followUps = d.followUps.filter { keep($0.dedupeKey) }
        isDuplicate = events.isEmpty && metrics.isEmpty && ItemDedupe.keys(of: d).contains { !fresh.contains($0) }
    }
}

/// An hourly aggregate as a store reads it back: the columns of the `aggregates` table.
public struct AggregateRow: Sendable {
    public var streamRef: String
    public var metric: String
    public var aggregation: String
    /// The dimensions as stored (a JSON object of strings).
    public var dimensions: String
    public var hour: String
    public var sum: Double
    public var count: Int64
    public var min: Double
    public var max: Double

    public init(
        streamRef: String, metric: String, aggregation: String, dimensions: String, hour: String, sum: Double,
        count: Int64, min: Double, max: Double
    ) {
        self.streamRef = streamRef
        self.metric = metric
        self.aggregation = aggregation
        self.dimensions = dimensions
        self.hour = hour
        self.sum = sum
        self.count = count
        self.min = min
        self.max = max
    }

    /// The value sent for an aggregate: its sum, mean, maximum or minimum.
    public static func value(_ aggregation: Aggregation, sum: Double, count: Int64, min: Double, max: Double)
        -> Double
    {
        switch aggregation {
        case .sum: sum
        case .average: count > 0 ? sum / Double(count) : 0
        case .maximum: max
        case .minimum: min
        }
    }

    /// The send of this aggregate's current value; nil when the row cannot be read.
    public var content: OutboxItem.Content? {
        guard let agg = Aggregation(rawValue: aggregation),
            case .object(let fields)? = try? JSONValue.parse(Array(dimensions.utf8))
        else { return nil }
        var dims: [String: String] = [:]
        for (key, value) in fields {
            guard case .string(let s) = value else { return nil }
            dims[key] = s
        }
        return .metric(
            streamRef: streamRef, name: metric, aggregation: agg, dimensions: dims, hour: hour,
            value: Self.value(agg, sum: sum, count: count, min: min, max: max))
    }
}

extension OutboxItem {
    /// Decodes a claimed outbox row by its kind: an event's stored JSON, a cost follow-up's, or a metric send's
    /// aggregate. Nil when it cannot be read (the store then dead-letters it).
    public static func decode(
        id: Int64, kind: String, attempts: Int, strikes: Int, record: String?, deliveryID: Int64?,
        aggregate: AggregateRow?
    ) -> OutboxItem? {
        let content: Content?
        switch OutboxKind(rawValue: kind) {
        case .event?:
            content = record.flatMap(EventRecord.init(storedJSON:)).map(Content.event)
        case .costFollowUp?:
            content = record.flatMap { try? StoredCostFollowUp.decode($0) }.map {
                Content.costFollowUp($0, deliveryID: deliveryID)
            }
        case .metric?:
            content = aggregate?.content
        case nil:
            content = nil
        }
        return content.map { OutboxItem(id: id, attempts: attempts, strikes: strikes, content: $0) }
    }

    /// The text of a record that cannot be read, as its dead letter says.
    public static let unreadable = "the stored record cannot be read"
}

/// An outbox row's record as people read it (dead letters, the console): an event's or a follow-up's stored JSON,
/// or the aggregate a metric send points at.
public struct StoredRecordText: Sendable {
    public var kind: String
    public var record: String?
    public var metric: String?
    public var aggregation: String?
    public var dimensions: String?
    public var hour: String?

    public init(
        kind: String, record: String?, metric: String?, aggregation: String?, dimensions: String?, hour: String?
    ) {
        self.kind = kind
        self.record = record
        self.metric = metric
        self.aggregation = aggregation
        self.dimensions = dimensions
        self.hour = hour
    }

    /// A dead letter's record: the stored JSON, or the metric's name, aggregation, hour and dimensions as JSON.
    public var json: String {
        guard kind == OutboxKind.metric.rawValue else { return record ?? "" }
        let fields: [String: JSONValue] = [
            "metric": .string(metric ?? ""), "aggregation": .string(aggregation ?? ""), "hour": .string(hour ?? ""),
            "dimensions": (try? JSONValue.parse(Array((dimensions ?? "{}").utf8))) ?? .object([:]),
        ]
        return JSONValue.object(fields).json
    }

    /// The console's line: the stored JSON, or "metric (aggregation) for the hour H {dimensions}".
    public var line: String {
        guard kind == OutboxKind.metric.rawValue else { return record ?? "" }
        return "\(metric ?? "?") (\(aggregation ?? "?")) for the hour \(hour ?? "?") \(dimensions ?? "{}")"
    }
}

extension OutboxStats {
    /// The pseudo-state of cost follow-ups not due yet in the stats query.
    public static let scheduledState = "scheduled"

    /// Counts by state; cost follow-ups not due yet count as `scheduled`, and a due follow-up's age counts from its
    /// due time (it was not waiting before). `now` is the placeholder of the time now (`?` or `$1`). Sent and dead
    /// records, the bulk of the table, are only counted, through the (state, due_at) index without reading their
    /// rows; only pending and in-flight records are read for their kinds and ages.
    public static func query(now: String) -> String {
        let followUp = OutboxKind.costFollowUp.sql
        let waiting = "\(OutboxState.pending.sql), \(OutboxState.inflight.sql)"
        let settled = "\(OutboxState.sent.sql), \(OutboxState.dead.sql)"
        return """
            SELECT CASE WHEN state = \(OutboxState.pending.sql) AND kind = \(followUp) AND due_at > \(now)
                        THEN '\(scheduledState)' ELSE state END AS s,
                   COUNT(*), MIN(CASE WHEN kind = \(followUp) THEN due_at ELSE created_at END)
            FROM outbox WHERE state IN (\(waiting)) GROUP BY s
            UNION ALL
            SELECT state, COUNT(*), NULL FROM outbox WHERE state IN (\(settled)) GROUP BY state
            """
    }

    /// The stats from the rows of `query`: state (or `scheduled`), count, and the oldest time of the state.
    public init(rows: [(state: String, count: Int, oldest: Double?)], now: Date) {
        self.init(pending: 0, inflight: 0, sent: 0, dead: 0, oldestPendingAge: 0)
        for row in rows {
            if row.state == Self.scheduledState {
                scheduled = row.count
                continue
            }
            switch OutboxState(rawValue: row.state) {
            case .pending?:
                pending = row.count
                if let oldest = row.oldest { oldestPendingAge = max(0, now.timeIntervalSince1970 - oldest) }
            case .inflight?: inflight = row.count
            case .sent?: sent = row.count
            case .dead?: dead = row.count
            case nil: break
            }
        }
    }
}
