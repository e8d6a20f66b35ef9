import BridgeCloudthread
import BridgeCore
import BridgeStore
import Foundation

/// The forwarder's decisions, with no I/O and no clock of its own (docs/operations.md, "How the forwarder
/// decides"). Given its state, the claimed records, Cloudthread's answers and the time it is told, it returns what
/// to do: which request to send next, and the effects of each answer (mark sent, retry at a time, dead-letter with a
/// reason, pause, hold an endpoint). `Forwarder` is the thin shell that makes the requests and store calls; the
/// simulation in `Tests/BridgeSimulationTests` drives this core through thousands of fault schedules.
///
/// A round: `next(now:)` says whether to wait, probe the API key or claim; the shell claims and calls
/// `begin(_:teams:tokens:now:)`, then `nextRequest(now:)` / `answer(_:outcome:body:now:)` until no request is left,
/// then `finish(now:)`, which returns whatever was not attempted with the time it is due again.
public struct ForwarderCore: Sendable {
    public let configuration: ForwarderConfiguration
    public let dryRun: Bool

    /// Per endpoint: holds after retryable failures, and the counters the poison rule reads.
    public internal(set) var endpoints: [ForwarderEndpoint: EndpointHealth] = [:]
    /// Set while the API key is refused (401/403): nothing is sent before `until`, then the key is asked again.
    public private(set) var pause: Pause?
    /// Why forwarding is paused or failing; never contains the API key.
    public internal(set) var lastError: String?

    public struct Pause: Sendable, Equatable {
        public var status: Int
        public var endpoint: ForwarderEndpoint
        public var interval: TimeInterval
        public var until: Date
    }

    /// Evidence for the poison rule, per record that failed with a retryable answer (memory only: a restart
    /// forgets it, which can only delay a verdict, never hasten one).
    var marks: [Int64: FailureMark] = [:]
    var random: SeededRandom

    // The round in progress.
    var queue: [ForwarderRequest] = []
    var pending: [Int64: OutboxItem] = [:]
    var pendingOrder: [Int64] = []
    /// The stream tokens configured when the round began (a cost follow-up's data point needs its token).
    var tokens: StreamTokens?
    /// Endpoints whose last answer in this round was a lone, previously failed record's failure that did not hold
    /// the endpoint (`retryable`): the next failure there holds it.
    var unheldFailure: Set<ForwarderEndpoint> = []

    /// At most this many records keep poison evidence; past it the evidence is forgotten (conservative).
    static let markLimit = 100_000

    public init(configuration: ForwarderConfiguration, dryRun: Bool, seed: UInt64) {
        self.configuration = configuration
        self.dryRun = dryRun
        self.random = SeededRandom(seed: seed)
    }

    public var isPaused: Bool { pause != nil }

    static let sending: [ForwarderEndpoint] = [.events, .streamsIngest, .costMetric, .unitMetric]

    public func health(_ endpoint: ForwarderEndpoint) -> EndpointHealth { endpoints[endpoint] ?? EndpointHealth() }

    func isHeld(_ endpoint: ForwarderEndpoint, now: Date) -> Bool { health(endpoint).holdUntil > now }

    // MARK: between rounds

    public enum Next: Sendable, Equatable {
        /// Claim due records and run a round.
        case claim
        /// A pause has ended: ask `GET /teams` whether the API key is accepted again.
        case probe
        /// Nothing can be sent before this time.
        case wait(until: Date)
    }

    /// What to do now.
    public func next(now: Date) -> Next {
        if let pause { return pause.until <= now ? .probe : .wait(until: pause.until) }
        // The earliest time any endpoint records go to is free (GET /teams only delays events with team names).
        var free = Date.distantFuture
        for endpoint in Self.sending { free = min(free, health(endpoint).holdUntil) }
        return free > now ? .wait(until: free) : .claim
    }

    /// The answer of `GET /teams` asked as a check of the API key (at start-up, and when a pause ends): success
    /// ends a pause; 401/403 pause (or extend the pause); any other failure holds the teams endpoint with backoff,
    /// and keeps a pause going until the key can be checked.
    public mutating func probed(_ result: Result<Void, CloudthreadClientError>, now: Date) -> [ForwarderEffect] {
        switch result {
        case .success:
            accepted(.teams)
            return resume()
        case .failure(let error):
            let effects = teamsFailed(error.outcome, now: now)
            // Still paused and the key could not be checked: ask again when the teams endpoint's hold ends.
            if var p = pause, p.until <= now {
                p.until = max(health(.teams).holdUntil, now.addingTimeInterval(configuration.retry.floor))
                pause = p
            }
            return effects
        }
    }

    /// `GET /teams` failed while resolving team names (or probing the key).
    public mutating func teamsFailed(_ outcome: CloudthreadOutcome, now: Date) -> [ForwarderEffect] {
        switch outcome {
        case .unauthorized(let status):
            return [pauseForwarding(status: status, endpoint: .teams, now: now)]
        case .retry(let reason, let retryAfter):
            return [hold(.teams, reason: reason, retryAfter: retryAfter, now: now)]
        case .invalid(let message), .notFound(let message):
            return [hold(.teams, reason: "unexpected answer: \(message)", retryAfter: nil, now: now)]
        case .accepted:
            return [hold(.teams, reason: "the answer was not a list of teams", retryAfter: nil, now: now)]
        }
    }

    // MARK: a round

    /// Team names the shell should resolve before `begin` (none in dry run, none while the teams endpoint is held).
    public func teamNames(in items: [OutboxItem], now: Date) -> [String] {
        if dryRun || isHeld(.teams, now: now) || pause != nil { return [] }
        var seen = Set<String>()
        var names: [String] = []
        for item in items {
            if case .event(let event) = item.content, case .name(let name)? = event.team,
                seen.insert(name.lowercased()).inserted
            {
                names.append(name)
            }
        }
        return names
    }

    /// Plans the round for the claimed `items`. `teams` holds the lookups of the names `teamNames` listed (a name
    /// missing there was not resolved: its events wait for the teams endpoint). Records that failed before are sent
    /// alone, so a bad record cannot hold back its batch-mates.
    public mutating func begin(
        _ items: [OutboxItem], teams: [String: TeamDirectory.Lookup], tokens: StreamTokens, now: Date
    ) -> [ForwarderEffect] {
        queue = []
        pending = [:]
        pendingOrder = []
        unheldFailure = []
        self.tokens = tokens
        var effects: [ForwarderEffect] = []
        var events: [OutboxItem] = []
        var eventItems: [Int64: EventsRequest.Item] = [:]
        var metricGroups: [String: (Secret, Aggregation, [OutboxItem])] = [:]
        var groupOrder: [String] = []
        var reads: [ForwarderRequest] = []

        for item in items {
            pending[item.id] = item
            pendingOrder.append(item.id)
            switch item.content {
            case .event(let event):
                var teamID: Int?
                switch event.team {
                case nil: teamID = nil
                case .id(let n)?: teamID = n
                case .name(let name)?:
                    if dryRun { break }
                    switch teams[name] {
                    case .found(let id)?: teamID = id
                    case .unknown(let known)?:
                        let list = known.isEmpty ? "" : " (known teams: \(known.prefix(20).joined(separator: ", ")))"
                        effects.append(
                            decide(
                                .dead(
                                    ids: [item.id], kind: .event,
                                    reason: "unknown Cloudthread team '\(name)'\(list)")))
                        continue
                    case .unavailable?, nil:
                        continue  // waits for the teams endpoint: returned by `finish`
                    }
                }
                events.append(item)
                eventItems[item.id] = EventsRequest.Item(
                    timestamp: event.timestamp, teamID: teamID,
                    payload: .init(type: event.type, description: event.description, eventURL: event.url))
            case .metric(let ref, _, let agg, _, _, _):
                guard let token = tokens.token(for: ref) else {
                    effects.append(
                        decide(
                            .dead(
                                ids: [item.id], kind: .metric,
                                reason:
                                    "the data stream token of this record (fingerprint \(ref)) is no longer configured"
                            )))
                    continue
                }
                let key = ref + "|" + agg.rawValue
                if metricGroups[key] == nil { groupOrder.append(key) }
                metricGroups[key, default: (token, agg, [])].2.append(item)
            case .costFollowUp(let followUp, _):
                if let effect = planFollowUp(item, followUp) {
                    effects.append(decide(effect))
                } else {
                    let request = CostWindows.request(
                        source: followUp.spec.source,
                        range: (try? CostWindows(deployAt: followUp.deployAt, spec: followUp.spec))!.queryRange,
                        options: followUp.spec.query)
                    reads.append(.costRead(item, followUp, path: request.path, query: request.query))
                }
            }
        }
        plan(events) { list in .events(list.map { ($0, eventItems[$0.id]!) }) }
        for key in groupOrder {
            let (token, agg, list) = metricGroups[key]!
            plan(list) { .metrics(token: token, aggregation: agg, $0) }
        }
        queue += reads
        return effects
    }

    /// Batches of records that have not failed before, then each record that has, alone, those that failed longest
    /// ago first (a record that keeps failing goes last, so it cannot keep the others from being tried).
    private mutating func plan(_ list: [OutboxItem], make: ([OutboxItem]) -> ForwarderRequest) {
        let after = configuration.isolateAfterAttempts
        let isolate = { (item: OutboxItem) in item.attempts >= after || item.strikes > 0 }
        let together = list.filter { !isolate($0) }
        var alone = list.filter { isolate($0) }
        // Those that failed longest ago first (a record with no failure in this process first of all), then in the
        // order of claiming.
        let marks = self.marks
        let rank = { (item: OutboxItem, offset: Int) in
            ((marks[item.id]?.failedAt ?? .distantPast).timeIntervalSince1970, offset)
        }
        alone = alone.enumerated().sorted { rank($0.element, $0.offset) < rank($1.element, $1.offset) }
            .map { $0.element }
        for chunk in together.chunked(max(1, configuration.batchSize)) { queue.append(make(chunk)) }
        for one in alone { queue.append(make([one])) }
    }

    /// The next request to send, or nil when the round is over. Requests to a held endpoint are skipped (their
    /// records are returned by `finish` with the hold's end as due time); nothing is sent while paused.
    public mutating func nextRequest(now: Date) -> ForwarderRequest? {
        while !queue.isEmpty {
            if pause != nil { return nil }
            let request = queue.removeFirst()
            if isHeld(request.endpoint, now: now) { continue }
            return request
        }
        return nil
    }

    /// Ends the round: every claimed record not decided is due again (no attempt counted) when what held it back
    /// ends: the pause, its endpoint's hold, or the teams endpoint for an event whose team name was not resolved.
    public mutating func finish(now: Date) -> [ForwarderEffect] {
        queue = []
        let floor = now.addingTimeInterval(configuration.retry.floor)
        var byDue: [Date: [Int64]] = [:]
        var dueOrder: [Date] = []
        for id in pendingOrder {
            guard let item = pending[id] else { continue }
            var due = floor
            if let pause {
                due = max(due, pause.until)
            } else {
                due = max(due, health(Self.endpoint(of: item)).holdUntil)
                if case .event(let event) = item.content, case .name? = event.team, !dryRun {
                    due = max(due, health(.teams).holdUntil)
                }
            }
            if byDue[due] == nil { dueOrder.append(due) }
            byDue[due, default: []].append(id)
        }
        pending = [:]
        pendingOrder = []
        return dueOrder.map {
            .retry(
                ids: byDue[$0]!, dueAt: $0, reason: lastError ?? "not attempted in this round", countAttempt: false,
                strikes: nil)
        }
    }

    static func endpoint(of item: OutboxItem) -> ForwarderEndpoint {
        switch item.content {
        case .event: .events
        case .metric: .streamsIngest
        case .costFollowUp(let f, _):
            switch f.spec.source {
            case .costView: .costMetric
            case .unitMetric: .unitMetric
            }
        }
    }

    // MARK: state changes shared by the answers

    /// Records an effect that settles records: they leave the round and their poison evidence is dropped when
    /// they are done.
    mutating func decide(_ effect: ForwarderEffect) -> ForwarderEffect {
        switch effect {
        case .sent(let ids, _), .dead(let ids, _, _):
            for id in ids {
                pending[id] = nil
                marks[id] = nil
            }
        case .retry(let ids, _, _, _, _):
            for id in ids { pending[id] = nil }
        case .complete(let id, _):
            pending[id] = nil
            marks[id] = nil
        case .paused, .resumed, .held:
            break
        }
        return effect
    }

    mutating func accepted(_ endpoint: ForwarderEndpoint) {
        var h = health(endpoint)
        h.accepted += 1
        h.failuresInRow = 0
        h.holdUntil = .distantPast
        h.lastError = nil
        endpoints[endpoint] = h
        if pause == nil, endpoints.values.allSatisfy({ $0.lastError == nil }) { lastError = nil }
    }

    /// A retryable failure of the endpoint: hold it with exponential backoff and full jitter, or for `Retry-After`.
    mutating func hold(_ endpoint: ForwarderEndpoint, reason: String, retryAfter: TimeInterval?, now: Date)
        -> ForwarderEffect
    {
        var h = health(endpoint)
        let delay = configuration.retry.delay(attempt: h.failuresInRow, retryAfter: retryAfter, using: &random)
        h.failed += 1
        h.failuresInRow += 1
        h.holdUntil = now.addingTimeInterval(delay)
        h.lastError = reason
        endpoints[endpoint] = h
        lastError = "\(endpoint.request) failed: \(reason)"
        return .held(endpoint: endpoint, reason: reason, delay: delay)
    }

    /// 401/403: everything waits; the wait doubles (with jitter) up to `maxPauseInterval`.
    mutating func pauseForwarding(status: Int, endpoint: ForwarderEndpoint, now: Date) -> ForwarderEffect {
        let interval =
            pause.map {
                min(configuration.maxPauseInterval, max(configuration.pauseInterval, $0.interval * 2))
            } ?? configuration.pauseInterval
        let until = now.addingTimeInterval(interval * Double.random(in: 0.9...1.1, using: &random))
        pause = Pause(status: status, endpoint: endpoint, interval: interval, until: until)
        lastError =
            "Cloudthread refused the API key (HTTP \(status)) on \(endpoint.request): forwarding is paused and asked "
            + "again in \(Int(interval)) s; nothing is dropped. Check CLOUDTHREAD_API_KEY."
        return .paused(status: status, endpoint: endpoint, interval: interval)
    }

    mutating func resume() -> [ForwarderEffect] {
        guard pause != nil else { return [] }
        pause = nil
        lastError = nil
        return [.resumed]
    }

    mutating func remember(_ mark: FailureMark, for id: Int64) {
        if marks.count >= Self.markLimit, marks[id] == nil { marks.removeAll(keepingCapacity: true) }
        marks[id] = mark
    }
}

extension Array {
    func chunked(_ size: Int) -> [[Element]] {
        guard size > 0 else { return [self] }
        return stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
