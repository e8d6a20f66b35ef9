import BridgeCore
import BridgeDelivery
import BridgeStore
import Foundation

@testable import BridgeCloudthread

/// Cloudthread as the schedule says it behaves: outages per endpoint, refusals of the API key, random flaky
/// answers, slow answers, invalid and poison records, an unknown team and a deleted stream. It keeps a log of every
/// request (the evidence the invariants read) and what it committed: events by id, and each metric key's last value.
final class SimCloudthread: @unchecked Sendable {
    enum Result: Equatable {
        case accepted
        /// A retryable answer (408, 429, 5xx, a network error).
        case retryable
        case refused(Int)
        case invalid
        case notFound
    }

    struct Request {
        var generation: Int
        var time: Date
        var endpoint: ForwarderEndpoint
        var events: [Int]
        var keys: [String]
        var result: Result
        /// Committed, but the answer never reached the bridge.
        var lost = false
    }

    let schedule: Schedule
    let clock: SimClock
    let start: Date
    let ledger: Ledger
    var random: SeededRandom
    private(set) var log: [Request] = []
    /// Commits of each event: indexes into `log`.
    private(set) var commits: [Int: [Int]] = [:]
    private(set) var lastValue: [String: Double] = [:]
    /// Requests so far that decide a crash (`Schedule.crashes`).
    private var requestCount = 0
    /// False once the schedule's faults are over (the drain).
    var faulty = true
    let teams = [CloudthreadTeam(id: 1, name: "platform")]

    /// When the simulation's cost follow-ups deployed: ten days before the schedules start, so they are due at once.
    static let deployAt = Simulation.start.addingTimeInterval(-10 * 86400)

    /// A Cost View's daily cost around `deployAt`: 100 a day before the deploy, 130 after.
    static let costSeries: [UInt8] = {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd"
        formatter.timeZone = TimeZone(identifier: "UTC")
        let days = (-20...9).map { d -> String in
            let day = deployAt.addingTimeInterval(Double(d) * 86400)
            return "{\"date\":\"\(formatter.string(from: day))\",\"current_timeframe_cost\":\(d < 0 ? 100 : 130)}"
        }
        return Array("{\"data\":[\(days.joined(separator: ","))]}".utf8)
    }()

    init(schedule: Schedule, clock: SimClock, start: Date, ledger: Ledger) {
        self.schedule = schedule
        self.clock = clock
        self.start = start
        self.ledger = ledger
        self.random = SeededRandom(seed: schedule.seed ^ 0x5EED)
    }

    static let fingerprints = Dictionary(
        uniqueKeysWithValues: Schedule.Stream.allCases.map { ($0.token.string, StreamTokenRef.fingerprint($0.token)) })

    static func key(_ point: IngestRequest.Point, token: String) -> String {
        Ledger.metricKey(
            name: point.metricName, dimensions: point.customDimensions ?? [:], hour: point.timestamp,
            stream: fingerprints[token] ?? StreamTokenRef.fingerprint(Secret(token)))
    }

    /// The fault, if any, that the schedule puts on a request to `endpoint` now.
    private func fault(_ endpoint: ForwarderEndpoint) -> (CloudthreadOutcome, commits: Bool)? {
        guard faulty else { return nil }
        let t = clock.now().timeIntervalSince(start)
        var chosen: (Schedule.Fault, TimeInterval)?
        if let o = schedule.outages.first(where: { $0.from <= t && t < $0.to && $0.endpoints.contains(endpoint) }) {
            chosen = (o.fault, o.retryAfter)
        } else if schedule.flake > 0, Double.random(in: 0..<1, using: &random) < schedule.flake {
            chosen = (Schedule.Fault.allCases.randomElement(using: &random)!, 1)
        }
        guard let (f, retryAfter) = chosen else { return nil }
        switch f {
        case .unavailable503: return (.retry(reason: "HTTP 503: service unavailable", retryAfter: nil), false)
        case .error500: return (.retry(reason: "HTTP 500: internal error", retryAfter: nil), false)
        case .dropped: return (.retry(reason: "the connection was closed before an answer", retryAfter: nil), false)
        case .lostAfterCommit:
            return (.retry(reason: "the connection was closed before an answer", retryAfter: nil), true)
        case .throttled: return (.retry(reason: "HTTP 429: slow down", retryAfter: retryAfter), false)
        }
    }

    private func latency() async {
        var seconds = Double.random(in: 0.005...0.3, using: &random)
        if schedule.slow > 0, Double.random(in: 0..<1, using: &random) < schedule.slow {
            seconds = Double.random(in: 1...60, using: &random)
        }
        await clock.sleep(for: .milliseconds(Int(seconds * 1000)))
    }

    /// Handles one request of `generation`; returns the answer and whether the process dies after it.
    func handle(
        generation: Int, endpoint: ForwarderEndpoint, events: [(Int, Int?)], keys: [String], values: [Double],
        gone: Bool
    ) async -> (CloudthreadOutcome, crash: Bool) {
        await latency()
        requestCount += 1
        let crash = faulty && schedule.crashes.contains(requestCount)
        let now = clock.now()
        let ids = events.map(\.0)
        if endpoint != .teams { ledger.sending(events: ids, keys: keys, generation: generation, now: now) }
        var entry = Request(
            generation: generation, time: now, endpoint: endpoint, events: ids, keys: keys, result: .accepted)
        var content: CloudthreadOutcome?
        if let bad = ids.first(where: { isBad($0) }) {
            content = .invalid("{\"message\":\"r\(bad) is invalid\"}")
        } else if let team = events.first(where: { $0.1 == 999 }) {
            content = .notFound("{\"message\":\"team 999 of r\(team.0) not found\"}")
        } else if gone {
            content = .notFound("{\"message\":\"data stream not found\"}")
        }
        let outcome: CloudthreadOutcome
        var commit = false
        let t = now.timeIntervalSince(start)
        if faulty, let r = schedule.refusals.first(where: { $0.from <= t && t < $0.to }) {
            outcome = .unauthorized(r.status)
        } else if let poison = ids.first(where: { isPoison($0) }) {
            outcome = .retry(reason: "HTTP 503: record r\(poison) breaks the API", retryAfter: nil)
        } else if let (o, commits) = fault(endpoint) {
            outcome = o
            commit = commits && content == nil
        } else if let content {
            outcome = content
        } else {
            outcome = .accepted
            commit = true
        }
        switch outcome {
        case .accepted: entry.result = .accepted
        case .retry: entry.result = .retryable
        case .unauthorized(let s): entry.result = .refused(s)
        case .invalid: entry.result = .invalid
        case .notFound: entry.result = .notFound
        }
        entry.lost = commit && outcome != .accepted
        if commit { ledger.accepted(events: ids, keys: keys) }
        log.append(entry)
        if Ledger.trace {
            print(
                "request \(log.count - 1) by \(generation) at \(Int(now.timeIntervalSince(start))) s: \(endpoint.request) "
                    + "events \(ids) keys \(keys.count): \(outcome)")
        }
        if commit && endpoint != .teams {
            for id in ids { commits[id, default: []].append(log.count - 1) }
            for (key, value) in zip(keys, values) { lastValue[key] = value }
        }
        return (outcome, crash)
    }

    private var kinds: [Int: Schedule.Event] = [:]
    func register(_ events: [Schedule.Event]) { for e in events { kinds[e.id] = e } }
    func isPoison(_ id: Int) -> Bool { kinds[id]?.poison ?? false }
    func isBad(_ id: Int) -> Bool { kinds[id]?.bad ?? false }
}

/// Cloudthread as one process of the bridge reaches it: once the process has died, nothing more gets out.
final class ProcessClient: CloudthreadClient, @unchecked Sendable {
    let server: SimCloudthread
    let generation: Int
    var dead = false
    var onCrash: () -> Void = {}

    init(server: SimCloudthread, generation: Int) {
        self.server = server
        self.generation = generation
    }

    private static let down = CloudthreadOutcome.retry(reason: "the process has died", retryAfter: nil)

    private func call(
        _ endpoint: ForwarderEndpoint, events: [(Int, Int?)] = [], keys: [String] = [], values: [Double] = [],
        gone: Bool = false
    ) async -> CloudthreadOutcome {
        if dead { return Self.down }
        let (outcome, crash) = await server.handle(
            generation: generation, endpoint: endpoint, events: events, keys: keys, values: values, gone: gone)
        if crash {
            dead = true
            onCrash()
            return Self.down
        }
        return outcome
    }

    func postEvents(_ request: EventsRequest) async -> CloudthreadOutcome {
        let events = request.data.map { (Schedule.eventID($0.payload.description) ?? 0, $0.teamID) }
        return await call(.events, events: events)
    }

    func ingest(_ request: IngestRequest) async -> CloudthreadOutcome {
        let keys = request.data.map { SimCloudthread.key($0, token: request.dataStreamToken) }
        let gone = request.dataStreamToken == Schedule.Stream.gone.token.string
        return await call(.streamsIngest, keys: keys, values: request.data.map(\.metricValue), gone: gone)
    }

    func teams() async -> Result<[CloudthreadTeam], CloudthreadClientError> {
        let outcome = await call(.teams)
        if outcome == .accepted { return .success(server.teams) }
        return .failure(CloudthreadClientError(outcome: outcome))
    }

    func get(path: String, query: [(String, String)]) async -> (outcome: CloudthreadOutcome, body: [UInt8]) {
        let outcome = await call(.costMetric)
        return (outcome, outcome == .accepted ? SimCloudthread.costSeries : [])
    }
}
