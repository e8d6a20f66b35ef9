import BridgeCore
import BridgeStore
import Foundation

@testable import BridgeDelivery

/// The rows of an outbox as the invariants read them at the end of a schedule.
struct OutboxRow {
    enum Kind { case event, metric, followUp }
    var id: Int64
    var kind: Kind
    var state: String
    var lastError: String?
    /// The event's id in the schedule (`Schedule.eventID`), or the cost follow-up's.
    var event: Int?
    /// The metric key (`Ledger.metricKey`) and its stored value.
    var key: String?
    var value: Double?
}

/// What the simulation needs of a store beside the forwarder's side.
protocol SimulatedOutbox: OutboxStore {
    func ingest(events: [EventRecord], metrics: [MetricObservation], followUps: [CostFollowUp], now: Date) async throws
    /// A restart of the process: claims are released, as opening the SQLite store does.
    func releaseClaims() async throws
    func rows() async throws -> [OutboxRow]
    /// The rows still pending or in flight.
    func openRows() async throws -> [OutboxRow]
}

/// An in-memory model of the outbox with the semantics of the SQLite store's SQL: leases, one sender per aggregate
/// key, the value read at claim time, a newer pending send making an older one redundant. Fast enough for tens of
/// thousands of schedules; the same schedules also run against the real SQLite store.
final class ModelOutbox: SimulatedOutbox, @unchecked Sendable {
    final class Row {
        let id: Int64
        let event: EventRecord?
        let aggKey: String?
        var followUp: StoredCostFollowUp?
        var state = "pending"
        var dueAt: Date
        var claimedUntil: Date?
        var attempts = 0
        var strikes = 0
        var lastError: String?

        init(id: Int64, event: EventRecord? = nil, aggKey: String? = nil, dueAt: Date) {
            self.id = id
            self.event = event
            self.aggKey = aggKey
            self.dueAt = dueAt
        }
    }

    struct Aggregate {
        var ref: String
        var name: String
        var aggregation: Aggregation
        var dimensions: [String: String]
        var hour: String
        var sum = 0.0
        var count = 0
        var min = Double.infinity
        var max = -Double.infinity

        var value: Double {
            switch aggregation {
            case .sum: sum
            case .average: count > 0 ? sum / Double(count) : 0
            case .maximum: max
            case .minimum: min
            }
        }
    }

    private var table: [Int64: Row] = [:]
    /// The rows still pending or in flight: all that the forwarder's queries look at.
    private var open: [Int64: Row] = [:]
    private var aggregates: [String: Aggregate] = [:]
    private var nextID: Int64 = 1

    private func pendingRow(of key: String, except id: Int64? = nil) -> Bool {
        open.values.contains { $0.aggKey == key && $0.state == "pending" && $0.id != id }
    }

    private func insert(_ row: Row) {
        table[row.id] = row
        open[row.id] = row
    }

    private func remove(_ id: Int64) {
        table[id] = nil
        open[id] = nil
    }

    func ingest(events: [EventRecord], metrics: [MetricObservation], followUps: [CostFollowUp], now: Date) async throws
    {
        for f in followUps {
            let row = Row(id: nextID, dueAt: f.due)
            row.followUp = StoredCostFollowUp(f, streamRef: f.streamToken.map(StreamTokenRef.fingerprint))
            insert(row)
            nextID += 1
        }
        for e in events {
            insert(Row(id: nextID, event: e, dueAt: now))
            nextID += 1
        }
        for m in metrics {
            let ref = StreamTokenRef.fingerprint(m.streamToken)
            let key = Ledger.metricKey(name: m.name, dimensions: m.dimensions, hour: m.hour, stream: ref)
            var a =
                aggregates[key]
                ?? Aggregate(ref: ref, name: m.name, aggregation: m.aggregation, dimensions: m.dimensions, hour: m.hour)
            a.sum += m.value
            a.count += 1
            a.min = Swift.min(a.min, m.value)
            a.max = Swift.max(a.max, m.value)
            aggregates[key] = a
            if !pendingRow(of: key) {
                insert(Row(id: nextID, aggKey: key, dueAt: now))
                nextID += 1
            }
        }
    }

    /// Claims whose lease ended: redundant ones go, the others are pending again.
    private func expire(now: Date?) {
        for row in open.values
        where row.state == "inflight" && now.map({ (row.claimedUntil ?? .distantPast) <= $0 }) ?? true {
            if let key = row.aggKey, pendingRow(of: key) {
                remove(row.id)
            } else {
                row.state = "pending"
                row.claimedUntil = nil
            }
        }
    }

    func claimDue(now: Date, limit: Int, lease: TimeInterval) async throws -> [OutboxItem] {
        expire(now: now)
        let busy = Set(open.values.filter { $0.state == "inflight" }.compactMap(\.aggKey))
        let due = open.values.filter {
            $0.state == "pending" && $0.dueAt <= now && ($0.aggKey.map { !busy.contains($0) } ?? true)
        }
        .sorted { ($0.dueAt, $0.id) < ($1.dueAt, $1.id) }
        .prefix(limit)
        var items: [OutboxItem] = []
        for row in due {
            row.state = "inflight"
            row.claimedUntil = now.addingTimeInterval(lease)
            if let followUp = row.followUp {
                items.append(
                    OutboxItem(
                        id: row.id, attempts: row.attempts, strikes: row.strikes,
                        content: .costFollowUp(followUp, deliveryID: nil)))
            } else if let event = row.event {
                items.append(
                    OutboxItem(id: row.id, attempts: row.attempts, strikes: row.strikes, content: .event(event)))
            } else if let key = row.aggKey, let a = aggregates[key] {
                items.append(
                    OutboxItem(
                        id: row.id, attempts: row.attempts, strikes: row.strikes,
                        content: .metric(
                            streamRef: a.ref, name: a.name, aggregation: a.aggregation, dimensions: a.dimensions,
                            hour: a.hour, value: a.value)))
            }
        }
        return items
    }

    private func settle(_ id: Int64, as state: String, error: String?) {
        guard let row = table[id] else { return }
        row.state = state
        row.attempts += 1
        row.lastError = error
        row.claimedUntil = nil
        open[id] = nil
    }

    func markSent(_ ids: [Int64], now: Date) async throws {
        for id in ids { settle(id, as: "sent", error: nil) }
    }

    func markDead(_ ids: [Int64], reason: String, now: Date) async throws {
        for id in ids { settle(id, as: "dead", error: reason) }
    }

    func markRetry(_ ids: [Int64], dueAt: Date, error: String, countAttempt: Bool, strikes: Int?, now: Date)
        async throws
    {
        for id in ids {
            guard let row = table[id] else { continue }
            if let key = row.aggKey, pendingRow(of: key, except: id) {
                remove(id)
                continue
            }
            row.state = "pending"
            row.dueAt = dueAt
            row.attempts += countAttempt ? 1 : 0
            if let strikes { row.strikes = strikes }
            row.lastError = error
            row.claimedUntil = nil
            open[id] = row
        }
    }

    func completeFollowUp(_ id: Int64, _ completion: CostFollowUpCompletion, now: Date) async throws -> Bool {
        guard let row = table[id], row.state == "inflight" else { return false }
        row.state = "sent"
        row.attempts += 1
        row.claimedUntil = nil
        open[id] = nil
        try await ingest(
            events: completion.event.map { [$0] } ?? [], metrics: completion.metric.map { [$0] } ?? [], followUps: [],
            now: now)
        return true
    }

    func nextDue() async throws -> Date? {
        var next: Date?
        let busy = Set(open.values.filter { $0.state == "inflight" }.compactMap(\.aggKey))
        for row in open.values where !(row.state == "pending" && row.aggKey.map(busy.contains) == true) {
            let t: Date? = row.state == "pending" ? row.dueAt : row.state == "inflight" ? row.claimedUntil : nil
            if let t, next.map({ t < $0 }) ?? true { next = t }
        }
        return next
    }

    func releaseClaims() async throws { expire(now: nil) }

    func openRows() async throws -> [OutboxRow] { open.values.map(row) }

    func rows() async throws -> [OutboxRow] { table.values.sorted { $0.id < $1.id }.map(row) }

    private func row(_ row: Row) -> OutboxRow {
        let a = row.aggKey.flatMap { aggregates[$0] }
        return OutboxRow(
            id: row.id, kind: row.followUp != nil ? .followUp : row.event == nil ? .metric : .event, state: row.state,
            lastError: row.lastError,
            event: row.followUp.map { Schedule.eventID($0.description) ?? 0 }
                ?? Schedule.eventID(row.event?.description),
            key: row.aggKey, value: a?.value)
    }
}
