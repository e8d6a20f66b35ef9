import BridgeCore
import BridgeDelivery
import Foundation

/// One simulated stretch of life, drawn from a seed: records arriving, Cloudthread's outages and refusals, flaky
/// answers, slow answers, crashes of the bridge and failing store writes. Times are seconds after `start`.
struct Schedule: CustomStringConvertible {
    enum Stream: String, CaseIterable {
        /// A configured stream Cloudthread knows.
        case live
        /// A stream Cloudthread answers 404 for (deleted there).
        case gone
        /// A configured stream whose token is removed from the configuration at `tokenRemovedAt`.
        case retired

        var token: Secret { Secret("sim-token-\(rawValue)") }
    }

    struct Event {
        var id: Int
        var team: TeamRef?
        /// Cloudthread answers 400 naming it.
        var bad = false
        /// Cloudthread fails every request that carries it with 503 (a record that breaks the API).
        var poison = false

        var description: String { "r\(id)" }
    }

    struct Metric {
        var stream: Stream
        var name: String
        var hour: String
        var value: Double
    }

    struct Arrival {
        var at: TimeInterval
        var events: [Event]
        var metrics: [Metric]
        /// Cost follow-ups (ids), of deploys ten days before the schedule starts: due at once.
        var followUps: [Int] = []
    }

    /// The schedule id of an event by its description: `r12` is event 12, and a cost follow-up's event (its
    /// description starts with the follow-up's, `f3`) is -3.
    static func eventID(_ description: String?) -> Int? {
        guard let d = description, let first = d.first else { return nil }
        let digits = d.dropFirst().prefix { $0.isNumber }
        guard let n = Int(digits) else { return nil }
        return first == "r" ? n : first == "f" ? -n : nil
    }

    enum Fault: CaseIterable {
        case unavailable503, error500, dropped, lostAfterCommit, throttled
    }

    struct Outage {
        var from: TimeInterval
        var to: TimeInterval
        var endpoints: Set<ForwarderEndpoint>
        var fault: Fault
        var retryAfter: TimeInterval
    }

    var seed: UInt64
    var arrivals: [Arrival] = []
    var outages: [Outage] = []
    /// Windows in which Cloudthread refuses the API key (401 or 403) on every endpoint.
    var refusals: [(from: TimeInterval, to: TimeInterval, status: Int)] = []
    /// The chance that any one request fails with a random retryable fault.
    var flake = 0.0
    /// The chance that a request takes up to a minute.
    var slow = 0.0
    /// Request numbers after which the bridge's process dies (its memory is lost, the store stays).
    var crashes: Set<Int> = []
    /// Whether a restart releases the dead process's claims (SQLite does at open) or waits for their lease
    /// (another replica taking over).
    var releaseOnRestart = true
    /// The chance that a store call fails: half of them before committing, half after (the caller sees an error).
    var storeFaults = 0.0
    var tokenRemovedAt: TimeInterval?
    var batchSize = 100
    /// Faults happen only before this time; then the simulation drains.
    var length: TimeInterval = 3600

    var eventCount: Int { arrivals.reduce(0) { $0 + $1.events.count } }

    var description: String {
        let events = arrivals.flatMap(\.events)
        return "seed \(seed): \(events.count) events (\(events.filter(\.bad).count) invalid, "
            + "\(events.filter(\.poison).count) poison), \(arrivals.reduce(0) { $0 + $1.metrics.count }) data points, "
            + "\(arrivals.reduce(0) { $0 + $1.followUps.count }) cost follow-ups, \(outages.count) outages, \(refusals.count) key refusals, flake \(flake), \(crashes.count) crashes, "
            + "store faults \(storeFaults), batch \(batchSize), \(Int(length)) s"
    }

    /// The schedule of a seed. `quiet` draws no random per-request failures (outages only), where no healthy
    /// record may ever be judged poison.
    static func make(seed: UInt64) -> Schedule {
        var r = SeededRandom(seed: seed)
        var s = Schedule(seed: seed)
        func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &r) < p }
        func pick<T>(_ xs: [T]) -> T { xs[Int.random(in: 0..<xs.count, using: &r)] }

        s.length = pick([120, 600, 1800, 3600, 4 * 3600])
        s.batchSize = pick([1, 2, 3, 5, 10, 100])
        let arrivals = Int.random(in: 1...pick([4, 12, 30]), using: &r)
        var nextID = 1
        let names = ["deploys", "incidents", "rollbacks"]
        let hours = ["2026-01-01 10:00:00", "2026-01-01 11:00:00"]
        let odd = chance(0.5)  // whether this schedule has invalid, poison and unknown-team records at all
        for _ in 0..<arrivals {
            var a = Arrival(at: Double.random(in: 0..<s.length, using: &r), events: [], metrics: [])
            for _ in 0..<Int.random(in: 0...3, using: &r) {
                var e = Event(id: nextID)
                nextID += 1
                if odd {
                    e.bad = chance(0.05)
                    e.poison = !e.bad && chance(0.03)
                }
                let t = Double.random(in: 0..<1, using: &r)
                if t < 0.1 {
                    e.team = .id(1)
                } else if t < 0.22 {
                    e.team = .name("platform")
                } else if odd && t < 0.25 {
                    e.team = .id(999)
                } else if odd && t < 0.28 {
                    e.team = .name("ghost")
                }
                a.events.append(e)
            }
            if chance(0.1) {
                a.followUps.append(nextID)
                nextID += 1
            }
            for _ in 0..<Int.random(in: 0...2, using: &r) {
                let stream: Stream = odd && chance(0.1) ? pick([.gone, .retired]) : .live
                a.metrics.append(
                    Metric(
                        stream: stream, name: pick(names), hour: pick(hours),
                        value: Double(Int.random(in: 1...9, using: &r))))
            }
            s.arrivals.append(a)
        }
        s.arrivals.sort { $0.at < $1.at }

        let endpointSets: [Set<ForwarderEndpoint>] = [
            [.events], [.streamsIngest], [.teams], [.events, .streamsIngest, .teams],
        ]
        for _ in 0..<Int.random(in: 0...pick([1, 3, 6]), using: &r) {
            let from = Double.random(in: 0..<s.length, using: &r)
            let span = pick([5.0, 45, 300, 1800, 7200])
            s.outages.append(
                Outage(
                    from: from, to: min(s.length, from + Double.random(in: 1...span, using: &r)),
                    endpoints: pick(endpointSets), fault: pick(Fault.allCases),
                    retryAfter: pick([1, 5, 60, 120])))
        }
        if chance(0.2) {
            let from = Double.random(in: 0..<s.length, using: &r)
            s.refusals.append(
                (
                    from, min(s.length, from + Double.random(in: 1...pick([30.0, 600, 3600]), using: &r)),
                    pick([401, 403])
                ))
        }
        s.flake = chance(0.4) ? pick([0.02, 0.1, 0.3]) : 0
        s.slow = chance(0.3) ? 0.05 : 0
        for _ in 0..<(chance(0.3) ? Int.random(in: 1...3, using: &r) : 0) {
            s.crashes.insert(Int.random(in: 1...40, using: &r))
        }
        s.releaseOnRestart = chance(0.5)
        s.storeFaults = chance(0.2) ? pick([0.01, 0.05]) : 0
        if chance(0.3) { s.tokenRemovedAt = Double.random(in: 0..<s.length, using: &r) }
        return s
    }

    /// True when the schedule draws random failures of single requests (then a healthy record may, very rarely,
    /// fail alone often enough, with the evidence the poison rule asks for, to be judged poison).
    var hasRandomFailures: Bool { flake > 0 }
}
