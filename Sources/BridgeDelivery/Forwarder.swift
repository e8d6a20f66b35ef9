import BridgeCloudthread
import BridgeCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Sends due outbox records to Cloudthread and classifies the answers (DESIGN.md section 1).
public final class Forwarder: Service {
    let store: any DeliveryStore
    let client: any CloudthreadClient
    let teams: TeamDirectory
    let configuration: ForwarderConfiguration
    let dryRun: Bool
    let logger: Logger
    let metrics: any MetricsRecorder
    private let signal = WakeSignal()
    private let state = Mutex((paused: false, pausedUntil: Date.distantPast, stopping: false, lastError: String?.none))

    public init(
        store: any DeliveryStore, client: any CloudthreadClient, configuration: ForwarderConfiguration = .init(),
        dryRun: Bool,
        logger: Logger, metrics: any MetricsRecorder
    ) {
        self.store = store
        self.client = client
        self.teams = TeamDirectory(client: client)
        self.configuration = configuration
        self.dryRun = dryRun
        self.logger = logger
        self.metrics = metrics
    }

    /// Wakes the forwarder (a new record was stored).
    public func notify() { signal.notify() }

    /// True while the API key is refused (401/403).
    public var isPaused: Bool { state.withLock { $0.paused } }

    public var lastError: String? { state.withLock { $0.lastError } }

    public func run() async throws {
        await withGracefulShutdownHandler {
            // Find out at start-up whether Cloudthread accepts the API key, so /readyz can say so.
            if !self.dryRun { await self.probeAPIKey() }
            while !self.state.withLock({ $0.stopping }) {
                let now = Date()
                let pausedUntil = self.state.withLock { $0.paused ? $0.pausedUntil : nil }
                if let pausedUntil {
                    if pausedUntil > now {
                        await self.signal.wait(
                            timeout: .milliseconds(Int(min(pausedUntil.timeIntervalSince(now), 1) * 1000) + 1))
                        continue
                    }
                    // The pause is over: ask again, even with nothing to send.
                    await self.probeAPIKey()
                    if self.isPaused { continue }
                }
                do {
                    let items = try await self.store.claimDue(now: now, limit: self.configuration.batchSize * 4)
                    if items.isEmpty {
                        var timeout = self.configuration.pollInterval
                        if let due = try await self.store.nextDue() {
                            let wait = due.timeIntervalSinceNow
                            if wait < 1 { timeout = .milliseconds(max(10, Int(wait * 1000))) }
                        }
                        await self.signal.wait(timeout: timeout)
                        continue
                    }
                    await self.process(items)
                } catch {
                    self.logger.error("forwarder cannot read the store", metadata: ["error": "\(error)"])
                    await self.signal.wait(timeout: .seconds(1))
                }
            }
        } onGracefulShutdown: {
            self.state.withLock { $0.stopping = true }
            self.signal.notify()
        }
    }

    /// `GET /teams` as a check of the API key: 401/403 pause forwarding, success ends a pause.
    func probeAPIKey() async {
        switch await client.teams() {
        case .success:
            resume()
        case .failure(let error):
            if case .unauthorized = error.outcome { _ = await handleFailure(error.outcome, [], endpoint: "teams") }
        }
    }

    private func resume() {
        let resumed = state.withLock { s -> Bool in
            let was = s.paused
            s.paused = false
            s.lastError = nil
            return was
        }
        if resumed {
            logger.notice("Cloudthread accepts the API key again; forwarding resumed")
            metrics.setGauge("bridge_forwarder_paused", 0, help: "1 while Cloudthread refuses the API key")
        }
    }

    /// Sends one claimed set of records. Exposed for tests.
    func process(_ items: [OutboxItem]) async {
        var events: [(OutboxItem, EventRecord)] = []
        var metricGroups: [String: [OutboxItem]] = [:]
        var groupOrder: [String] = []
        for item in items {
            switch item.content {
            case .event(let e): events.append((item, e))
            case .metric(let token, _, let agg, _, _, _):
                let key = "\(token)\u{1f}\(agg.rawValue)"
                if metricGroups[key] == nil { groupOrder.append(key) }
                metricGroups[key, default: []].append(item)
            }
        }
        var remaining = items.map(\.id)
        func done(_ ids: [Int64]) { remaining.removeAll { ids.contains($0) } }

        // Events: resolve team names first.
        var ready: [(OutboxItem, EventsRequest.Item)] = []
        for (item, event) in events {
            var teamId: Int?
            switch event.team {
            case .id(let n)?: teamId = n
            case .name(let name)?:
                if dryRun {
                    teamId = nil
                    logger.info(
                        "dry run: team '\(name)' is not resolved without an API key",
                        metadata: ["outbox.id": "\(item.id)"])
                } else {
                    switch await teams.resolve(name) {
                    case .found(let id): teamId = id
                    case .unknown(let known):
                        await dead(
                            [item], kind: "event",
                            reason: "unknown Cloudthread team '\(name)'"
                                + (known.isEmpty ? "" : " (known teams: \(known.prefix(20).joined(separator: ", ")))"))
                        done([item.id])
                        continue
                    case .unavailable(let outcome):
                        if await handleFailure(outcome, [item], endpoint: "teams") == .stop {
                            await release(remaining.filter { $0 != item.id })
                            return
                        }
                        done([item.id])
                        continue
                    }
                }
            case nil: teamId = nil
            }
            ready.append(
                (
                    item,
                    EventsRequest.Item(
                        timestamp: event.timestamp, teamID: teamId,
                        payload: .init(type: event.type, description: event.description, eventURL: event.url))
                ))
        }
        for chunk in ready.chunked(configuration.batchSize) {
            let result = await sendEvents(chunk)
            done(chunk.map(\.0.id))
            if result == .stop {
                await release(remaining)
                return
            }
        }
        for key in groupOrder {
            for chunk in metricGroups[key]!.chunked(configuration.batchSize) {
                let result = await sendMetrics(chunk)
                done(chunk.map(\.id))
                if result == .stop {
                    await release(remaining)
                    return
                }
            }
        }
    }

    enum Flow { case proceed, stop }

    private func sendEvents(_ batch: [(OutboxItem, EventsRequest.Item)]) async -> Flow {
        guard !batch.isEmpty else { return .proceed }
        let outcome = await client.postEvents(EventsRequest(data: batch.map(\.1)))
        metrics.forwardRequest(endpoint: "events", result: Forwarder.label(outcome))
        switch outcome {
        case .accepted:
            await sent(batch.map(\.0), kind: "event")
            return .proceed
        case .invalid(let message), .notFound(let message):
            if batch.count == 1 {
                let what =
                    if case .invalid = outcome { "rejected by Cloudthread (400)" } else {
                        "not found by Cloudthread (404)"
                    }
                await dead([batch[0].0], kind: "event", reason: "\(what): \(message)")
                return .proceed
            }
            // Split to isolate the bad records.
            let half = batch.count / 2
            if await sendEvents(Array(batch[..<half])) == .stop { return .stop }
            return await sendEvents(Array(batch[half...]))
        default:
            return await handleFailure(outcome, batch.map(\.0), endpoint: "events")
        }
    }

    private func sendMetrics(_ batch: [OutboxItem]) async -> Flow {
        guard let first = batch.first, case .metric(let token, _, let agg, _, _, _) = first.content else {
            return .proceed
        }
        let points: [IngestRequest.Point] = batch.compactMap { item in
            guard case .metric(_, let name, _, let dims, let hour, let value) = item.content else { return nil }
            return IngestRequest.Point(
                timestamp: hour, metricName: name, metricValue: value, customDimensions: dims.isEmpty ? nil : dims)
        }
        let outcome = await client.ingest(
            IngestRequest(dataStreamToken: token, metricAggFunc: agg.rawValue, data: points))
        metrics.forwardRequest(endpoint: "streams_ingest", result: Forwarder.label(outcome))
        switch outcome {
        case .accepted:
            await sent(batch, kind: "metric")
            return .proceed
        case .invalid(let message), .notFound(let message):
            if batch.count == 1 {
                let what =
                    if case .invalid = outcome { "rejected by Cloudthread (400)" } else {
                        "data stream not found by Cloudthread (404)"
                    }
                await dead(batch, kind: "metric", reason: "\(what): \(message)")
                return .proceed
            }
            let half = batch.count / 2
            if await sendMetrics(Array(batch[..<half])) == .stop { return .stop }
            return await sendMetrics(Array(batch[half...]))
        default:
            return await handleFailure(outcome, batch, endpoint: "streams/ingest")
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

    /// 401/403 pause everything; retryable failures back off. Returns `.stop` when the round must end.
    private func handleFailure(_ outcome: CloudthreadOutcome, _ items: [OutboxItem], endpoint: String) async -> Flow {
        let now = Date()
        switch outcome {
        case .unauthorized(let status):
            let until = now.addingTimeInterval(configuration.pauseInterval)
            let message =
                "Cloudthread refused the API key (HTTP \(status)) on \(endpoint): forwarding is paused and retried every \(Int(configuration.pauseInterval)) s; nothing is dropped. Check CLOUDTHREAD_API_KEY."
            state.withLock {
                $0.paused = true
                $0.pausedUntil = until
                $0.lastError = message
            }
            logger.critical("\(message)")
            metrics.setGauge("bridge_forwarder_paused", 1, help: "1 while Cloudthread refuses the API key")
            if !items.isEmpty {
                try? await store.markRetry(
                    items.map(\.id), dueAt: until, error: "HTTP \(status): API key refused", countAttempt: false,
                    now: now)
            }
            return .stop
        case .retry(let reason, let retryAfter):
            let attempts = items.map(\.attempts).max() ?? 0
            let delay = configuration.retry.delay(attempt: attempts, retryAfter: retryAfter)
            state.withLock { $0.lastError = "\(endpoint): \(reason)" }
            logger.warning(
                "Cloudthread is unavailable; retrying later",
                metadata: [
                    "cloudthread.endpoint": "\(endpoint)", "error": "\(reason)", "delivery.attempt": "\(attempts + 1)",
                    "delivery.retry_in": "\(String(format: "%.1f", delay))s", "delivery.records": "\(items.count)",
                ])
            try? await store.markRetry(
                items.map(\.id), dueAt: now.addingTimeInterval(delay), error: reason, countAttempt: true, now: now)
            // The API is down: leave the rest of this round for later, after the backoff.
            return .stop
        default:
            return .proceed
        }
    }

    private func sent(_ items: [OutboxItem], kind: String) async {
        do {
            try await store.markSent(items.map(\.id), now: Date())
        } catch {
            logger.error(
                "could not record a successful send; the records may be sent again", metadata: ["error": "\(error)"])
        }
        resume()
        metrics.recordsSent(kind: kind, count: items.count)
        logger.debug("sent to Cloudthread", metadata: ["delivery.records": "\(items.count)", "record.kind": "\(kind)"])
    }

    private func dead(_ items: [OutboxItem], kind: String, reason: String) async {
        logger.error(
            "record moved to dead letters", metadata: ["outbox.ids": "\(items.map(\.id))", "reason": "\(reason)"])
        try? await store.markDead(items.map(\.id), reason: reason, now: Date())
        metrics.deadLetters(kind: kind, count: items.count)
    }

    /// Claimed records that were not attempted go back to pending, due now.
    private func release(_ ids: [Int64]) async {
        guard !ids.isEmpty else { return }
        let due = state.withLock { $0.paused ? $0.pausedUntil : Date() }
        try? await store.markRetry(
            ids, dueAt: max(due, Date()), error: "not attempted in this round", countAttempt: false, now: Date())
    }
}

extension Array {
    func chunked(_ size: Int) -> [[Element]] {
        guard size > 0 else { return [self] }
        return stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
