import BridgeCore
import Foundation
import Logging

@testable import BridgeCloudthread
@testable import BridgeDelivery

/// Runs one schedule: the real forwarder (its core and its shell) over a store, against the simulated Cloudthread,
/// on simulated time; then lets it drain with every fault over, and checks the invariants.
struct Simulation {
    struct Report {
        var violations: [String] = []
        /// Invariant checks made.
        var checks = 0
        var requests = 0
        var deadLetters = 0
        /// Healthy records judged poison, on the evidence the rule asks for, after random single-request failures.
        var healthyPoisoned = 0
        var duplicates = 0
        var restarts = 0
        var followUps = 0
        /// Simulated seconds from the end of the faults until everything was settled.
        var drain: TimeInterval = 0
    }

    static let start = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01 00:00 UTC

    /// How long after the last fault every record must be settled: the longest pause (with its jitter), the longest
    /// backoff, a lease, and a minute of slack.
    static func drainBound(_ c: ForwarderConfiguration) -> TimeInterval {
        c.maxPauseInterval * 1.1 + c.retry.cap + c.lease + 60
    }

    static func configuration(_ s: Schedule, clock: SimClock) -> ForwarderConfiguration {
        var c = ForwarderConfiguration()
        c.batchSize = s.batchSize
        c.clock = clock
        // The poll only backs up a missed wake-up; the simulation wakes the forwarder at each arrival itself.
        c.pollInterval = .seconds(3600)
        return c
    }

    static func run(_ s: Schedule, store base: any SimulatedOutbox) async -> Report {
        var report = Report()
        let clock = SimClock(start: start)
        let ledger = Ledger()
        let server = SimCloudthread(schedule: s, clock: clock, start: start, ledger: ledger)
        let configuration = configuration(s, clock: clock)
        let end = start.addingTimeInterval(s.length)
        let removed = LockedFlag()
        let all = StreamTokens(Schedule.Stream.allCases.map(\.token))
        let remaining = StreamTokens([Schedule.Stream.live.token, Schedule.Stream.gone.token])
        let tokens: @Sendable () -> StreamTokens = { removed.value ? remaining : all }
        let logger = Logger(label: "simulation", factory: { _ in SwiftLogNoOpLogHandler() })
        var generation = 0
        var crashed = false
        var crashedGenerations = Set<Int>()
        var truth: [String: Double] = [:]
        var expectedFollowUps = 0

        func process() -> (Forwarder, ProcessStore, ProcessClient) {
            generation += 1
            let store = ProcessStore(
                base: base, ledger: ledger, generation: generation, lease: configuration.lease,
                faults: server.faulty ? s.storeFaults : 0, seed: s.seed &+ UInt64(generation) &* 7919)
            let client = ProcessClient(server: server, generation: generation)
            let g = generation
            client.onCrash = {
                store.dead = true
                crashed = true
                crashedGenerations.insert(g)
            }
            let forwarder = Forwarder(
                store: store, client: client, tokens: tokens, configuration: configuration, dryRun: false,
                logger: logger, metrics: NoMetrics(), seed: s.seed &+ UInt64(generation))
            return (forwarder, store, client)
        }

        var (forwarder, store, _) = process()
        await forwarder.probe()
        var next = 0
        var steps = 0
        var idle = true
        let deadline = end.addingTimeInterval(drainBound(configuration))
        while true {
            steps += 1
            if steps > 100_000 {
                report.violations.append("the forwarder made 100,000 steps without settling (a livelock)")
                break
            }
            let now = clock.now()
            if server.faulty && now >= end {
                server.faulty = false
                store.faults = 0
            }
            if let at = s.tokenRemovedAt, now >= start.addingTimeInterval(at) { removed.value = true }
            while next < s.arrivals.count, start.addingTimeInterval(s.arrivals[next].at) <= now {
                let a = s.arrivals[next]
                next += 1
                server.register(a.events)
                let events = a.events.map {
                    EventRecord(
                        timestamp: "2026-01-01 10:00:00", team: $0.team, type: "deploy", description: $0.description,
                        rule: "simulation")
                }
                let metrics = a.metrics.filter { !($0.stream == .retired && removed.value) }.map {
                    MetricObservation(
                        streamToken: $0.stream.token, name: $0.name, aggregation: .sum, value: $0.value,
                        dimensions: ["service": "api"], hour: $0.hour, rule: "simulation")
                }
                for m in metrics {
                    let key = Ledger.metricKey(
                        name: m.name, dimensions: m.dimensions, hour: m.hour,
                        stream: StreamTokenRef.fingerprint(m.streamToken))
                    truth[key, default: 0] += m.value
                }
                let followUps = a.followUps.compactMap { id in
                    try? CostFollowUp(
                        spec: CostImpactSpec(source: .costView("42"), beforeDays: 3, afterDays: 3),
                        deployAt: SimCloudthread.deployAt, description: "f\(id) deployed", url: nil, team: nil,
                        dimensions: ["service": "api"], streamToken: Schedule.Stream.live.token, rule: "simulation")
                }
                expectedFollowUps += followUps.count
                do {
                    try await base.ingest(events: events, metrics: metrics, followUps: followUps, now: now)
                } catch {
                    report.violations.append("the store refused a delivery: \(error)")
                }
            }
            if crashed {
                crashed = false
                report.restarts += 1
                if s.releaseOnRestart {
                    try? await base.releaseClaims()
                    ledger.released()
                }
                (forwarder, store, _) = process()
                await forwarder.probe()
                continue
            }
            if now >= end, next == s.arrivals.count, idle {
                if await settled(base, server) {
                    report.drain = now.timeIntervalSince(end)
                    break
                }
                if now > deadline {
                    report.violations.append(
                        "records were not settled \(Int(drainBound(configuration))) s after the faults ended")
                    break
                }
            }
            let wake = await forwarder.step()
            // Settled is checked only when the forwarder has nothing to do at once.
            idle = wake != nil
            if crashed { continue }
            var until = wake ?? clock.now()
            if next < s.arrivals.count { until = min(until, start.addingTimeInterval(s.arrivals[next].at)) }
            if server.faulty { until = min(until, end) }
            if let at = s.tokenRemovedAt, !removed.value { until = min(until, start.addingTimeInterval(at)) }
            clock.advance(to: until)
        }
        report.requests = server.log.count
        await check(s, base, server, ledger, truth, crashedGenerations, configuration, &report)
        report.followUps = ledger.completions.count
        report.checks += 1
        if ledger.completions.count != expectedFollowUps {
            report.violations.append("\(expectedFollowUps) cost follow-ups, \(ledger.completions.count) completed")
        }
        return report
    }

    /// True when nothing remains to do: every record sent or dead, except poison records still waiting.
    static func settled(_ base: any SimulatedOutbox, _ server: SimCloudthread) async -> Bool {
        guard let rows = try? await base.openRows() else { return false }
        return rows.allSatisfy { row in
            row.state == "sent" || row.state == "dead"
                || (row.state == "pending" && row.event.map { server.isPoison($0) } == true)
        }
    }
}

final class LockedFlag: @unchecked Sendable {
    var value = false
}
