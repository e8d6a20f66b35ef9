import BridgeCloudthread
import BridgeCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Sends due outbox records to Cloudthread and classifies the answers (DESIGN.md section 1).
///
/// Every claimed record ends a round marked sent, due again (retry or pause) or dead-lettered; only when the store
/// itself fails after retries is a record left to its lease, which makes it due again. While the API key is refused
/// or the API is unreachable, the forwarder sleeps with backoff instead of polling.
public final class Forwarder: Service {
    struct State {
        /// Set while the API key is refused (401/403): nothing is sent before `holdUntil`, then the key is probed.
        var paused = false
        var pauseInterval: TimeInterval = 0
        /// Nothing is sent before this time (after a pause, or a retryable failure: backoff for the whole API).
        var holdUntil = Date.distantPast
        var failures = 0
        var stopping = false
        var lastError: String?
        var lastSuccess = Date.distantPast
    }

    let store: any DeliveryStore
    let client: any CloudthreadClient
    let teams: TeamDirectory
    let tokens: @Sendable () -> StreamTokens
    let configuration: ForwarderConfiguration
    let dryRun: Bool
    let logger: Logger
    let metrics: any MetricsRecorder
    private let signal = WakeSignal()
    let state = Mutex(State())

    public init(
        store: any DeliveryStore, client: any CloudthreadClient, tokens: @escaping @Sendable () -> StreamTokens,
        configuration: ForwarderConfiguration = .init(), dryRun: Bool, logger: Logger, metrics: any MetricsRecorder
    ) {
        self.store = store
        self.client = client
        self.teams = TeamDirectory(client: client)
        self.tokens = tokens
        self.configuration = configuration
        self.dryRun = dryRun
        self.logger = logger
        self.metrics = metrics
    }

    /// Wakes the forwarder (a new record was stored).
    public func notify() { signal.notify() }

    /// True while the API key is refused (401/403).
    public var isPaused: Bool { state.withLock { $0.paused } }

    /// Why forwarding is paused or failing; never contains the API key or Cloudthread's answer body for a 401.
    public var lastError: String? { state.withLock { $0.lastError } }

    public func run() async throws {
        await withGracefulShutdownHandler {
            // Find out at start-up whether Cloudthread accepts the API key, so the logs and metrics say so.
            if !self.dryRun { await self.probeAPIKey() }
            while !self.state.withLock({ $0.stopping }) {
                await self.step()
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.stopping = true }
            self.signal.notify()
        }
    }

    /// One turn of the loop: wait out a hold, or claim and send what is due, or sleep until something is.
    func step() async {
        let now = Date()
        let (holdUntil, paused) = state.withLock { ($0.holdUntil, $0.paused) }
        let clockNow = configuration.clock()
        if holdUntil > now {
            await signal.wait(timeout: Self.duration(holdUntil.timeIntervalSince(now)))
            return
        }
        if paused {
            // The pause is over: ask again, even with nothing to send.
            await probeAPIKey()
            return
        }
        let items: [OutboxItem]
        do {
            items = try await store.claimDue(
                now: clockNow, limit: configuration.batchSize * 4, lease: configuration.lease)
        } catch {
            storeFailed("claim due records", error)
            await signal.wait(timeout: .seconds(1))
            return
        }
        if items.isEmpty {
            var timeout = configuration.pollInterval
            if let due = try? await store.nextDue() {
                let wait = due.timeIntervalSince(clockNow)
                // At least 50 ms: a due record may be held back by a send of the same key still in flight.
                if wait < 1 { timeout = Self.duration(max(0.05, wait)) }
            }
            await signal.wait(timeout: timeout)
            return
        }
        await process(items)
    }

    static func duration(_ seconds: TimeInterval) -> Duration {
        .milliseconds(Int(min(max(seconds, 0.001), 86400) * 1000))
    }

    /// `GET /teams` as a check of the API key: success ends a pause; 401/403 pause (or extend the pause with
    /// backoff); any other failure holds sending back with backoff, so a failing probe never spins.
    func probeAPIKey() async {
        switch await client.teams() {
        case .success:
            resume()
        case .failure(let error):
            switch error.outcome {
            case .unauthorized(let status): pause(status: status, endpoint: "teams")
            case .retry(let reason, let retryAfter): hold(reason: "teams: \(reason)", retryAfter: retryAfter)
            default: hold(reason: "teams: \(error)", retryAfter: nil)
            }
        }
    }

    private func resume() {
        let resumed = state.withLock { s -> Bool in
            let was = s.paused
            s.paused = false
            s.pauseInterval = 0
            s.failures = 0
            s.holdUntil = .distantPast
            s.lastError = nil
            s.lastSuccess = Date()
            return was
        }
        if resumed {
            logger.notice("Cloudthread accepts the API key again; forwarding resumed")
            metrics.setGauge("bridge_forwarder_paused", 0, help: "1 while Cloudthread refuses the API key")
        }
    }

    /// 401/403: pause everything; the wait doubles (with jitter) up to `maxPauseInterval`.
    func pause(status: Int, endpoint: String) {
        let interval = state.withLock { s -> TimeInterval in
            let next =
                s.paused
                ? min(configuration.maxPauseInterval, max(configuration.pauseInterval, s.pauseInterval * 2))
                : configuration.pauseInterval
            s.paused = true
            s.pauseInterval = next
            s.holdUntil = Date().addingTimeInterval(next * Double.random(in: 0.9...1.1))
            s.lastError =
                "Cloudthread refused the API key (HTTP \(status)) on \(endpoint): forwarding is paused and asked "
                + "again in \(Int(next)) s; nothing is dropped. Check CLOUDTHREAD_API_KEY."
            return next
        }
        logger.critical(
            "Cloudthread refused the API key; forwarding paused, nothing is dropped",
            metadata: [
                "http.status": "\(status)", "cloudthread.endpoint": "\(endpoint)", "retry_in": "\(Int(interval))s",
            ])
        metrics.setGauge("bridge_forwarder_paused", 1, help: "1 while Cloudthread refuses the API key")
    }

    /// A retryable failure (5xx, 408, 429, network): hold all sending back with exponential backoff and full jitter,
    /// or for `Retry-After` (up to `retry.retryAfterCap`, 1 hour by default). Returns the delay.
    @discardableResult
    func hold(reason: String, retryAfter: TimeInterval?) -> TimeInterval {
        let delay = state.withLock { s -> TimeInterval in
            let delay = configuration.retry.delay(
                attempt: s.failures, retryAfter: retryAfter)
            s.failures += 1
            s.holdUntil = Date().addingTimeInterval(delay)
            s.lastError = reason
            return delay
        }
        logger.warning(
            "Cloudthread is unavailable; retrying later",
            metadata: ["error": "\(reason)", "retry_in": "\(String(format: "%.1f", delay))s"])
        return delay
    }

    /// Cloudthread answered: the API's backoff starts over.
    func succeeded() {
        state.withLock {
            $0.lastSuccess = Date()
            $0.failures = 0
        }
    }

    /// Records due again after `delay`, a failed attempt counted (and a strike when sent alone).
    func retry(_ ids: [Int64], after delay: TimeInterval, reason: String, strike: Bool) async {
        await mark("schedule a retry") {
            try await store.markRetry(
                ids, dueAt: Date().addingTimeInterval(delay), error: reason, countAttempt: true, strike: strike,
                now: Date())
        }
    }

    private func storeFailed(_ what: String, _ error: any Error) {
        logger.error("forwarder cannot \(what) in the store", metadata: ["error": "\(error)"])
        metrics.forwardRequest(endpoint: "store", result: "error")
        state.withLock { $0.lastError = "store: cannot \(what): \(error)" }
    }

    /// Runs a store update, retrying a failure twice; if it still fails, the records stay claimed until their
    /// lease ends and are then due again (at-least-once).
    func mark(_ what: String, _ body: () async throws -> Void) async {
        for attempt in 0..<3 {
            do {
                try await body()
                return
            } catch {
                if attempt == 2 {
                    storeFailed(what, error)
                } else {
                    try? await Task.sleep(for: .milliseconds(50 * (attempt + 1)))
                }
            }
        }
    }

    // MARK: one round

    /// What one request's items are, ready to send.
    enum Request {
        case events([(OutboxItem, EventsRequest.Item)])
        case metrics(token: Secret, aggregation: Aggregation, [OutboxItem])

        var items: [OutboxItem] {
            switch self {
            case .events(let pairs): pairs.map(\.0)
            case .metrics(_, _, let items): items
            }
        }
        var kind: String {
            if case .events = self { return "event" }
            return "metric"
        }
        var endpoint: String {
            if case .events = self { return "events" }
            return "streams_ingest"
        }
        var count: Int { items.count }

        func split() -> (Request, Request) {
            switch self {
            case .events(let pairs):
                let half = pairs.count / 2
                return (.events(Array(pairs[..<half])), .events(Array(pairs[half...])))
            case .metrics(let token, let agg, let items):
                let half = items.count / 2
                return (
                    .metrics(token: token, aggregation: agg, Array(items[..<half])),
                    .metrics(token: token, aggregation: agg, Array(items[half...]))
                )
            }
        }
    }

    /// Sends one claimed set of records; every record ends marked (or left to its lease if the store fails).
    func process(_ items: [OutboxItem]) async {
        var requests: [Request] = []
        var pending = Set(items.map(\.id))
        var ready: [(OutboxItem, EventsRequest.Item)] = []
        var metricGroups: [String: (Secret, Aggregation, [OutboxItem])] = [:]
        var groupOrder: [String] = []
        var followUps: [(OutboxItem, StoredCostFollowUp)] = []
        let known = tokens()

        for item in items {
            switch item.content {
            case .event(let event):
                guard case .resolved(let teamId) = await team(for: event, item: item, pending: &pending) else {
                    continue
                }
                ready.append(
                    (
                        item,
                        EventsRequest.Item(
                            timestamp: event.timestamp, teamID: teamId,
                            payload: .init(type: event.type, description: event.description, eventURL: event.url))
                    ))
            case .costFollowUp(let followUp, _):
                followUps.append((item, followUp))
                continue
            case .metric(let ref, _, let agg, _, _, _):
                guard let token = known.token(for: ref) else {
                    await dead(
                        [item], kind: "metric",
                        reason: "the data stream token of this record (fingerprint \(ref)) is no longer configured")
                    pending.remove(item.id)
                    continue
                }
                let key = ref + "|" + agg.rawValue
                if metricGroups[key] == nil { groupOrder.append(key) }
                metricGroups[key, default: (token, agg, [])].2.append(item)
            }
            if state.withLock({ $0.holdUntil > Date() }) { break }
        }
        // Records that failed before are sent alone, so a poison record is isolated from its batch-mates.
        func plan<T>(_ list: [T], item: (T) -> OutboxItem, make: ([T]) -> Request) {
            let alone = list.filter { item($0).attempts >= configuration.isolateAfterAttempts || item($0).strikes > 0 }
            let together = list.filter {
                item($0).attempts < configuration.isolateAfterAttempts && item($0).strikes == 0
            }
            for chunk in together.chunked(configuration.batchSize) { requests.append(make(chunk)) }
            for one in alone { requests.append(make([one])) }
        }
        plan(ready, item: \.0) { .events($0) }
        for key in groupOrder {
            let (token, agg, list) = metricGroups[key]!
            plan(list, item: { $0 }, make: { .metrics(token: token, aggregation: agg, $0) })
        }

        var index = 0
        while index < requests.count {
            if state.withLock({ $0.holdUntil > Date() }) { break }
            let request = requests[index]
            index += 1
            await send(request, pending: &pending)
        }
        await runFollowUps(followUps, tokens: known, pending: &pending)
        // Whatever was not attempted (the API is held back) is due again when the hold ends.
        if !pending.isEmpty {
            let due = max(state.withLock { $0.holdUntil }, Date())
            let ids = items.map(\.id).filter { pending.contains($0) }
            await mark("return records not attempted") {
                try await store.markRetry(
                    ids, dueAt: due, error: lastError ?? "not attempted in this round", countAttempt: false,
                    strike: false, now: Date())
            }
        }
    }

    enum TeamResolution {
        /// The team id to send (nil: the event names no team).
        case resolved(Int?)
        /// The record was dead-lettered, or stays pending for after the hold.
        case handled
    }

    private func team(for event: EventRecord, item: OutboxItem, pending: inout Set<Int64>) async -> TeamResolution {
        switch event.team {
        case nil: return .resolved(nil)
        case .id(let n)?: return .resolved(n)
        case .name(let name)?:
            if dryRun {
                logger.info(
                    "dry run: team '\(name)' is not resolved without an API key", metadata: ["outbox.id": "\(item.id)"])
                return .resolved(nil)
            }
            switch await teams.resolve(name) {
            case .found(let id): return .resolved(id)
            case .unknown(let known):
                await dead(
                    [item], kind: "event",
                    reason: "unknown Cloudthread team '\(name)'"
                        + (known.isEmpty ? "" : " (known teams: \(known.prefix(20).joined(separator: ", ")))"))
                pending.remove(item.id)
                return .handled
            case .unavailable(let outcome):
                switch outcome {
                case .unauthorized(let status): pause(status: status, endpoint: "teams")
                case .retry(let reason, let retryAfter): hold(reason: "teams: \(reason)", retryAfter: retryAfter)
                case .invalid(let m), .notFound(let m): hold(reason: "teams: unexpected answer: \(m)", retryAfter: nil)
                case .accepted: hold(reason: "teams: no list of teams", retryAfter: nil)
                }
                return .handled  // stays pending: returned with the hold's due time
            }
        }
    }

    /// Sends one request and marks its records. A 400/404 on several records splits the request to isolate the
    /// bad ones.
    private func send(_ request: Request, pending: inout Set<Int64>) async {
        let outcome: CloudthreadOutcome
        switch request {
        case .events(let pairs):
            outcome = await client.postEvents(EventsRequest(data: pairs.map(\.1)))
        case .metrics(let token, let agg, let items):
            let points: [IngestRequest.Point] = items.compactMap { item in
                guard case .metric(_, let name, _, let dims, let hour, let value) = item.content else { return nil }
                return IngestRequest.Point(
                    timestamp: hour, metricName: name, metricValue: value, customDimensions: dims.isEmpty ? nil : dims)
            }
            outcome = await client.ingest(
                IngestRequest(dataStreamToken: token.string, metricAggFunc: agg.rawValue, data: points))
        }
        metrics.forwardRequest(endpoint: request.endpoint, result: Forwarder.label(outcome))
        let ids = request.items.map(\.id)
        switch outcome {
        case .accepted:
            await mark("record a successful send") { try await store.markSent(ids, now: Date()) }
            for id in ids { pending.remove(id) }
            succeeded()
            if isPaused { resume() }
            metrics.recordsSent(kind: request.kind, count: ids.count)
        case .invalid(let message), .notFound(let message):
            if request.count > 1 {
                let (a, b) = request.split()
                await send(a, pending: &pending)
                if state.withLock({ $0.holdUntil > Date() }) { return }
                await send(b, pending: &pending)
                return
            }
            let what =
                if case .invalid = outcome { "rejected by Cloudthread (400)" } else if request.kind == "event" {
                    "not found by Cloudthread (404)"
                } else { "data stream not found by Cloudthread (404)" }
            await dead(request.items, kind: request.kind, reason: "\(what): \(message)")
            for id in ids { pending.remove(id) }
        case .unauthorized(let status):
            pause(status: status, endpoint: request.endpoint)
        case .retry(let reason, let retryAfter):
            // Poison: this record fails alone while the API accepts other sends.
            let recentSuccess = state.withLock { Date().timeIntervalSince($0.lastSuccess) < 120 }
            if request.count == 1, recentSuccess, let item = request.items.first {
                if item.strikes + 1 >= configuration.poisonStrikes {
                    await dead(
                        [item], kind: request.kind,
                        reason:
                            "Cloudthread failed this record \(item.strikes + 1) times while accepting others: \(reason)"
                    )
                } else {
                    let delay = configuration.retry.delay(
                        attempt: item.attempts, retryAfter: retryAfter)
                    await retry(ids, after: delay, reason: reason, strike: true)
                }
                pending.remove(item.id)
                return
            }
            let delay = hold(reason: "\(request.endpoint): \(reason)", retryAfter: retryAfter)
            await retry(ids, after: delay, reason: reason, strike: false)
            for id in ids { pending.remove(id) }
        }
    }

    static func label(_ outcome: CloudthreadOutcome) -> String {
        switch outcome {
        case .accepted: "accepted"
        case .invalid: "invalid"
        case .notFound: "not_found"
        case .unauthorized: "unauthorized"
        case .retry: "retry"
        }
    }

    func dead(_ items: [OutboxItem], kind: String, reason: String) async {
        logger.error(
            "record moved to dead letters", metadata: ["outbox.ids": "\(items.map(\.id))", "reason": "\(reason)"])
        await mark("move a record to dead letters") {
            try await store.markDead(items.map(\.id), reason: reason, now: Date())
        }
        metrics.deadLetters(kind: kind, count: items.count)
    }
}

extension Array {
    func chunked(_ size: Int) -> [[Element]] {
        guard size > 0 else { return [self] }
        return stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
