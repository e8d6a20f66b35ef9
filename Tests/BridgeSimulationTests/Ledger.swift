import BridgeCore
import BridgeDelivery
import Foundation

/// Watches every store call that committed and every request that reached Cloudthread, and records what breaks the
/// outbox's rules as it happens: a record claimed twice while its lease runs, a record marked by a process that
/// did not hold it, a record sent that is not held by the sender or is already settled.
final class Ledger: @unchecked Sendable {
    struct Claim {
        var generation: Int
        var leaseEnd: Date
    }

    enum Settled { case sent, dead }

    private(set) var violations: [String] = []
    /// `BRIDGE_SIM_TRACE=1` prints every claim and mark (to follow a failing seed).
    static let trace = ProcessInfo.processInfo.environment["BRIDGE_SIM_TRACE"] != nil
    private var claims: [Int64: Claim] = [:]
    private var settled: [Int64: Settled] = [:]
    /// The process that last marked each row: a mark repeated after a write that committed but reported a failure
    /// is the same mark again.
    private var lastMarkedBy: [Int64: Int] = [:]
    /// What each row carries: an event's id in the schedule, or a metric key.
    private var eventOfRow: [Int64: Int] = [:]
    private var rowOfEvent: [Int: Int64] = [:]
    private var keyOfRow: [Int64: String] = [:]
    /// Rows whose send was accepted by Cloudthread but whose `markSent` never committed.
    private(set) var unmarkedAfterAccept: Set<Int64> = []

    func violation(_ text: String) {
        if violations.count < 20 { violations.append(text) }
    }

    static func metricKey(name: String, dimensions: [String: String], hour: String, stream: String) -> String {
        "\(stream)|\(name)|\(hour)|\(dimensions.keys.sorted().map { "\($0)=\(dimensions[$0]!)" })"
    }

    func claimed(_ items: [OutboxItem], generation: Int, now: Date, lease: TimeInterval) {
        for item in items {
            if let s = settled[item.id] { violation("row \(item.id) was claimed again after it was \(s)") }
            if Self.trace {
                print(
                    "claim row \(item.id) by \(generation) at \(now.timeIntervalSince1970), held: \(String(describing: claims[item.id]))"
                )
            }
            if let c = claims[item.id], c.leaseEnd.timeIntervalSince(now) > 0.001 {
                violation(
                    "row \(item.id) was claimed by process \(generation) while process \(c.generation)'s lease ran")
            }
            claims[item.id] = Claim(generation: generation, leaseEnd: now.addingTimeInterval(lease))
            switch item.content {
            case .event(let e):
                if let n = Schedule.eventID(e.description) {
                    eventOfRow[item.id] = n
                    rowOfEvent[n] = item.id
                }
            case .metric(let ref, let name, _, let dims, let hour, _):
                keyOfRow[item.id] = Self.metricKey(name: name, dimensions: dims, hour: hour, stream: ref)
            case .costFollowUp:
                break
            }
        }
    }

    /// A committed mark by `generation`.
    func marked(_ ids: [Int64], generation: Int, as state: Settled?) {
        if Self.trace {
            print("mark \(ids) by \(generation) as \(String(describing: state))")
        }
        for id in ids {
            guard let c = claims[id] else {
                if lastMarkedBy[id] != generation {
                    violation("row \(id) was marked by process \(generation) without a claim")
                }
                if let state { settled[id] = state }
                continue
            }
            lastMarkedBy[id] = generation
            if c.generation != generation {
                violation("row \(id) was marked by process \(generation) but held by process \(c.generation)")
            }
            claims[id] = nil
            if let state { settled[id] = state }
            if state == .sent { unmarkedAfterAccept.remove(id) }
        }
    }

    /// A restart that releases every claim (the SQLite store does at open).
    func released() { claims = [:] }

    func accepted(events: [Int], keys: [String]) {
        for e in events { if let row = rowOfEvent[e] { unmarkedAfterAccept.insert(row) } }
        _ = keys
    }

    /// Checks a request about to reach Cloudthread: each record must be held by the sending process and unsettled.
    func sending(events: [Int], keys: [String], generation: Int, now: Date) {
        for e in events {
            guard let row = rowOfEvent[e] else {
                violation("event r\(e) was sent but never claimed")
                continue
            }
            check(row, what: "event r\(e)", generation: generation, now: now)
        }
        for key in keys {
            let rows = claims.filter { keyOfRow[$0.key] == key && $0.value.generation == generation }
            if rows.isEmpty { violation("data point \(key) was sent by process \(generation) without a claim") }
        }
    }

    private func check(_ row: Int64, what: String, generation: Int, now: Date) {
        if let s = settled[row] { violation("\(what) was sent after it was \(s)") }
        guard let c = claims[row] else {
            violation("\(what) was sent by process \(generation) without a claim")
            return
        }
        if c.generation != generation {
            violation("\(what) was sent by process \(generation), held by \(c.generation)")
        }
    }

    func row(ofEvent id: Int) -> Int64? { rowOfEvent[id] }

    /// Cost follow-ups finished (a completion that committed), by row.
    private(set) var completions: [Int64: Int] = [:]

    func completed(_ id: Int64) { completions[id, default: 0] += 1 }
}
