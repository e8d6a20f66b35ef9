import BridgeCloudthread
import BridgeCore
import BridgeStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Sends due outbox records to Cloudthread: the shell around `ForwarderCore`, which makes every decision. The
/// shell claims records, makes the requests the core asks for, and carries out its effects (store writes, logs,
/// metrics). All time comes from `configuration.clock`.
///
/// Every claimed record ends a round marked sent, due again (retry, hold or pause) or dead-lettered; only when the
/// store itself fails after retries is a record left to its lease, which makes it due again.
public final class Forwarder: Service {
    let store: any OutboxStore
    let client: any CloudthreadClient
    let teams: TeamDirectory
    let tokens: @Sendable () -> StreamTokens
    let configuration: ForwarderConfiguration
    let clock: any BridgeClock
    let dryRun: Bool
    let logger: Logger
    let metrics: any MetricsRecorder
    private let signal = WakeSignal()
    let core: Mutex<ForwarderCore>
    private let stopping = Atomic<Bool>(false)

    public init(
        store: any OutboxStore, client: any CloudthreadClient, tokens: @escaping @Sendable () -> StreamTokens,
        configuration: ForwarderConfiguration = .init(), dryRun: Bool, logger: Logger, metrics: any MetricsRecorder,
        seed: UInt64 = UInt64.random(in: 0...UInt64.max)
    ) {
        self.store = store
        self.client = client
        self.teams = TeamDirectory(client: client)
        self.tokens = tokens
        self.configuration = configuration
        self.clock = configuration.clock
        self.dryRun = dryRun
        self.logger = logger
        self.metrics = metrics
        self.core = Mutex(ForwarderCore(configuration: configuration, dryRun: dryRun, seed: seed))
    }

    /// Wakes the forwarder (a new record was stored).
    public func notify() { signal.notify() }

    /// True while the API key is refused (401/403).
    public var isPaused: Bool { core.withLock { $0.isPaused } }

    /// Why forwarding is paused or failing; never contains the API key or Cloudthread's answer body for a 401.
    public var lastError: String? { core.withLock { $0.lastError } }

    public func run() async throws {
        await withGracefulShutdownHandler {
            // Find out at start-up whether Cloudthread accepts the API key, so the logs and metrics say so.
            if !self.dryRun { await self.probe() }
            while !self.stopping.load(ordering: .relaxed) {
                guard let (wake, firm) = await self.advance() else { continue }
                // A linger waits out its time: the records that arrive meanwhile are what it waits for. Any
                // other wait ends early when a record is stored. Shutdown ends either.
                let seconds = wake.timeIntervalSince(self.clock.now())
                guard seconds > 0 else { continue }
                let deadline = ContinuousClock.now + Self.duration(seconds)
                repeat {
                    await self.signal.wait(timeout: deadline - ContinuousClock.now)
                } while firm && ContinuousClock.now < deadline && !self.stopping.load(ordering: .relaxed)
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.signal.notify()
        }
    }

    /// Records claimed per round: four batches, and at least 100, so that records which keep failing (due again
    /// sooner than the records their failures held back) cannot fill every round's claim by themselves.
    static func claimLimit(_ c: ForwarderConfiguration) -> Int { max(c.batchSize * 4, 100) }

    static func duration(_ seconds: TimeInterval) -> Duration {
        .milliseconds(Int(min(max(seconds, 0.001), 86400) * 1000))
    }

    /// One step: a round over the due records, a probe of the API key, or nothing. Returns when the next step is
    /// due (nil: at once); a new record wakes the loop earlier, except after a partial round (`linger`).
    public func step() async -> Date? { await advance()?.at }

    /// `step`, and whether its wake time is a linger (`firm`: new records do not cut it short).
    func advance() async -> (at: Date, firm: Bool)? {
        let now = clock.now()
        switch core.withLock({ $0.next(now: now) }) {
        case .wait(let until):
            return (until, false)
        case .probe:
            await probe()
            return nil
        case .claim:
            break
        }
        let items: [OutboxItem]
        do {
            items = try await store.claimDue(
                now: now, limit: Self.claimLimit(configuration), lease: configuration.lease)
        } catch {
            storeFailed("claim due records", error)
            return (now.addingTimeInterval(1), false)
        }
        if items.isEmpty {
            var next = now.addingTimeInterval(Double(configuration.pollInterval.components.seconds))
            if let due = try? await store.nextDue() {
                // At least 50 ms, whatever the store says (a record due now that could not be claimed).
                next = min(next, max(due, now.addingTimeInterval(0.05)))
            }
            return (next, false)
        }
        await round(items)
        // A full claim may have left due records behind: at once. A partial one took everything due: the next
        // claim waits `linger`, so that records stored meanwhile go in fuller batches and the store is asked less
        // often (three replicas on PostgreSQL: 0.6-0.7x the server's CPU per webhook, docs/benchmark.md).
        guard items.count < Self.claimLimit(configuration), configuration.linger > .zero else { return nil }
        return (clock.now().addingTimeInterval(Self.seconds(configuration.linger)), true)
    }

    static func seconds(_ d: Duration) -> TimeInterval {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// `GET /teams` as a check of the API key.
    func probe() async {
        let result = await client.teams()
        metrics.forwardRequest(endpoint: ForwarderEndpoint.teams.rawValue, result: Self.label(result))
        let now = clock.now()
        await apply(core.withLock { $0.probed(result.map { _ in () }, now: now) })
    }

    /// Sends one claimed set of records; every record ends marked (or left to its lease if the store fails).
    func round(_ items: [OutboxItem]) async {
        var lookups: [String: TeamDirectory.Lookup] = [:]
        for name in core.withLock({ $0.teamNames(in: items, now: clock.now()) }) {
            let lookup = await teams.resolve(name, now: clock.now())
            if case .unavailable(let outcome) = lookup {
                metrics.forwardRequest(endpoint: ForwarderEndpoint.teams.rawValue, result: Self.label(outcome))
                let now = clock.now()
                await apply(core.withLock { $0.teamsFailed(outcome, now: now) })
                break
            }
            lookups[name] = lookup
        }
        let known = tokens()
        let now = clock.now()
        await apply(core.withLock { $0.begin(items, teams: lookups, tokens: known, now: now) })
        while let request = core.withLock({ [clock] in $0.nextRequest(now: clock.now()) }) {
            let (outcome, body) = await send(request)
            metrics.forwardRequest(endpoint: request.endpoint.rawValue, result: Self.label(outcome))
            let answered = clock.now()
            await apply(core.withLock { $0.answer(request, outcome: outcome, body: body, now: answered) })
        }
        let end = clock.now()
        await apply(core.withLock { $0.finish(now: end) })
    }

    func send(_ request: ForwarderRequest) async -> (CloudthreadOutcome, [UInt8]) {
        switch request {
        case .events(let pairs):
            return (await client.postEvents(EventsRequest(data: pairs.map { $0.1 })), [])
        case .metrics(let token, let agg, let items):
            let points: [IngestRequest.Point] = items.compactMap { item in
                guard case .metric(_, let name, _, let dims, let hour, let value) = item.content else { return nil }
                return IngestRequest.Point(
                    timestamp: hour, metricName: name, metricValue: value, customDimensions: dims.isEmpty ? nil : dims)
            }
            let body = IngestRequest(dataStreamToken: token.string, metricAggFunc: agg.rawValue, data: points)
            return (await client.ingest(body), [])
        case .costRead(_, _, let path, let query):
            let (outcome, body) = await client.get(path: path, query: query)
            return (outcome, body)
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

    static func label(_ result: Result<[CloudthreadTeam], CloudthreadClientError>) -> String {
        switch result {
        case .success: "accepted"
        case .failure(let error): label(error.outcome)
        }
    }
}
