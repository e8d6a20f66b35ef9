import BridgeCore
import Foundation
import Logging

@testable import BridgeDelivery

/// The real SQLite store (a temporary file) under the simulation.
final class SQLiteOutbox: SimulatedOutbox, @unchecked Sendable {
    let store: SQLiteDeliveryStore

    init(path: String) async throws {
        store = try await SQLiteDeliveryStore.open(path: path, logger: Logger(label: "simulation"))
    }

    func ingest(events: [EventRecord], metrics: [MetricObservation], followUps: [CostFollowUp], now: Date) async throws
    {
        _ = try await store.record(
            NewDelivery(
                source: "simulation", deliveryKey: nil, receivedAt: now, status: .accepted, events: events,
                metrics: metrics, followUps: followUps, explanation: Explanation(source: "simulation")))
    }

    func releaseClaims() async throws {
        try await store.perform { try SQLiteDeliveryStore.releaseClaims($0) }
    }

    func rows() async throws -> [OutboxRow] { try await rows(open: false) }
    func openRows() async throws -> [OutboxRow] { try await rows(open: true) }

    private func rows(open: Bool) async throws -> [OutboxRow] {
        let filter = open ? "WHERE o.state IN ('pending', 'inflight')" : ""
        return try await store.perform { db in
            try db.query(
                """
                SELECT o.id, o.kind, o.state, o.last_error, o.record, a.stream_ref, a.metric, a.dimensions, a.hour,
                       a.aggregation, a.sum, a.count, a.min, a.max
                FROM outbox o LEFT JOIN aggregates a ON a.key = o.agg_key \(filter) ORDER BY o.id
                """
            ).map { r in
                let kind: OutboxRow.Kind =
                    r[1].text == "event" ? .event : r[1].text == "cost_followup" ? .followUp : .metric
                var row = OutboxRow(id: r[0].integer ?? 0, kind: kind, state: r[2].text ?? "", lastError: r[3].text)
                if kind == .followUp, let text = r[4].text, let f = try? StoredCostFollowUp.decode(text) {
                    row.event = Schedule.eventID(f.description)
                } else if kind == .event, let text = r[4].text, let e = EventRecord(storedJSON: text) {
                    row.event = Schedule.eventID(e.description)
                } else if let ref = r[5].text, let name = r[6].text, let dimsText = r[7].text, let hour = r[8].text {
                    var dims: [String: String] = [:]
                    if case .object(let fields)? = try? JSONValue.parse(Array(dimsText.utf8)) {
                        for (k, v) in fields { if case .string(let s) = v { dims[k] = s } }
                    }
                    row.key = Ledger.metricKey(name: name, dimensions: dims, hour: hour, stream: ref)
                    row.value = r[10].real  // the simulation's data points are sums
                }
                return row
            }
        }
    }

    func claimDue(now: Date, limit: Int, lease: TimeInterval) async throws -> [OutboxItem] {
        try await store.claimDue(now: now, limit: limit, lease: lease)
    }
    func markSent(_ ids: [Int64], now: Date) async throws { try await store.markSent(ids, now: now) }
    func markRetry(_ ids: [Int64], dueAt: Date, error: String, countAttempt: Bool, strikes: Int?, now: Date)
        async throws
    {
        try await store.markRetry(
            ids, dueAt: dueAt, error: error, countAttempt: countAttempt, strikes: strikes, now: now)
    }
    func completeFollowUp(_ id: Int64, _ completion: CostFollowUpCompletion, now: Date) async throws -> Bool {
        try await store.completeFollowUp(id, completion, now: now)
    }
    func markDead(_ ids: [Int64], reason: String, now: Date) async throws {
        try await store.markDead(ids, reason: reason, now: now)
    }
    func nextDue() async throws -> Date? { try await store.nextDue() }
}

struct InjectedStoreFault: Error, CustomStringConvertible {
    var description: String { "the simulated disk failed" }
}

/// The store as one process of the bridge sees it: each call may fail before or after committing (as drawn by the
/// schedule), every committed call is reported to the ledger, and once the process has died every call fails.
final class ProcessStore: OutboxStore, @unchecked Sendable {
    let base: any SimulatedOutbox
    let ledger: Ledger
    let generation: Int
    let lease: TimeInterval
    var faults: Double
    var random: SeededRandom
    var dead = false
    /// Rows whose `markSent` failed without committing (their send may be repeated after their lease).
    var failedSentMarks = 0

    init(base: any SimulatedOutbox, ledger: Ledger, generation: Int, lease: TimeInterval, faults: Double, seed: UInt64)
    {
        self.base = base
        self.ledger = ledger
        self.generation = generation
        self.lease = lease
        self.faults = faults
        self.random = SeededRandom(seed: seed)
    }

    private enum Fault { case none, before, after }

    private func draw() throws -> Fault {
        if dead { throw InjectedStoreFault() }
        guard faults > 0, Double.random(in: 0..<1, using: &random) < faults else { return .none }
        return Bool.random(using: &random) ? .before : .after
    }

    func claimDue(now: Date, limit: Int, lease: TimeInterval) async throws -> [OutboxItem] {
        let fault = try draw()
        if fault == .before { throw InjectedStoreFault() }
        let items = try await base.claimDue(now: now, limit: limit, lease: lease)
        ledger.claimed(items, generation: generation, now: now, lease: lease)
        if fault == .after { throw InjectedStoreFault() }
        return items
    }

    private func mark(_ ids: [Int64], as state: Ledger.Settled?, _ body: () async throws -> Void) async throws {
        let fault = try draw()
        if fault == .before { throw InjectedStoreFault() }
        try await body()
        ledger.marked(ids, generation: generation, as: state)
        if fault == .after { throw InjectedStoreFault() }
    }

    func markSent(_ ids: [Int64], now: Date) async throws {
        try await mark(ids, as: .sent) { try await base.markSent(ids, now: now) }
    }

    func markRetry(_ ids: [Int64], dueAt: Date, error: String, countAttempt: Bool, strikes: Int?, now: Date)
        async throws
    {
        try await mark(ids, as: nil) {
            try await base.markRetry(
                ids, dueAt: dueAt, error: error, countAttempt: countAttempt, strikes: strikes, now: now)
        }
    }

    func completeFollowUp(_ id: Int64, _ completion: CostFollowUpCompletion, now: Date) async throws -> Bool {
        var done = false
        try await mark([id], as: .sent) {
            done = try await base.completeFollowUp(id, completion, now: now)
            if done { ledger.completed(id) }
        }
        return done
    }

    func markDead(_ ids: [Int64], reason: String, now: Date) async throws {
        try await mark(ids, as: .dead) { try await base.markDead(ids, reason: reason, now: now) }
    }

    func nextDue() async throws -> Date? {
        if dead { throw InjectedStoreFault() }
        return try await base.nextDue()
    }
}
