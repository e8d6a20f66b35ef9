import Foundation
import Testing

@testable import BridgeDelivery

/// Deterministic simulation of the forwarder (docs/operations.md, "The simulation"): thousands of schedules of
/// faults drawn from seeds, each followed by the invariants. A failing seed is printed with the command that
/// replays it: `BRIDGE_SIM_SEED=<seed> swift test --filter BridgeSimulationTests`.
@Suite("Simulation", .serialized) struct SimulationTests {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// Seeds that found bugs; they run first, every time.
    static let regressions: [UInt64] = [
        31, 39, 43, 263_318, 296_194, 304_579, 326_788, 1_000_002, 1_000_012,
    ]

    static func describe(_ s: Schedule, _ r: Simulation.Report, store: String) -> String {
        "Simulation seed \(s.seed) on the \(store) store broke \(r.violations.count) invariant(s):\n  "
            + r.violations.joined(separator: "\n  ")
            + "\n  schedule: \(s)\n  replay: BRIDGE_SIM_SEED=\(s.seed) swift test --filter BridgeSimulationTests"
    }

    /// The sums over many schedules' reports.
    struct Totals: Sendable {
        var checks = 0
        var requests = 0
        var followUps = 0
        var restarts = 0
        var deadLetters = 0
        var ran = 0
        var failed = 0
        var failures: [String] = []

        mutating func add(_ r: Simulation.Report, failure: @autoclosure () -> String) {
            checks += r.checks
            requests += r.requests
            followUps += r.followUps
            restarts += r.restarts
            deadLetters += r.deadLetters
            ran += 1
            if !r.violations.isEmpty {
                failed += 1
                if failures.count < 3 { failures.append(failure()) }
            }
        }

        mutating func add(_ other: Totals) {
            checks += other.checks
            requests += other.requests
            followUps += other.followUps
            restarts += other.restarts
            deadLetters += other.deadLetters
            ran += other.ran
            failed += other.failed
            failures += other.failures
        }
    }

    static let profile = environment["BRIDGE_SIM_PROFILE"] != nil

    /// Runs the schedules of `seeds` on fresh model stores, spread over the machine's cores; returns the totals.
    static func runModel(seeds: [UInt64]) async -> Totals {
        let workers = max(1, min(8, ProcessInfo.processInfo.activeProcessorCount))
        return await withTaskGroup(of: Totals.self) { group in
            for w in 0..<workers {
                let mine = stride(from: w, to: seeds.count, by: workers).map { seeds[$0] }
                group.addTask {
                    var totals = Totals()
                    for seed in mine {
                        let s = Schedule.make(seed: seed)
                        let t0 = Date()
                        let r = await Simulation.run(s, store: ModelOutbox())
                        if profile { print("profile \(Date().timeIntervalSince(t0)) \(r.requests) \(s)") }
                        totals.add(r, failure: describe(s, r, store: "model"))
                    }
                    return totals
                }
            }
            var total = Totals()
            for await part in group { total.add(part) }
            return total
        }
    }

    @Test func schedulesOnTheModelStore() async throws {
        let seeds: [UInt64]
        if let one = Self.environment["BRIDGE_SIM_SEED"].flatMap(UInt64.init) {
            seeds = [one]
        } else {
            let count = Self.environment["BRIDGE_SIM_SCHEDULES"].flatMap(Int.init) ?? 10_000
            let first = Self.environment["BRIDGE_SIM_FIRST_SEED"].flatMap(UInt64.init) ?? 1
            seeds = Self.regressions + (0..<UInt64(count)).map { first &+ $0 }
        }
        let started = Date()
        let t = await Self.runModel(seeds: seeds)
        print(
            "Simulation: \(t.ran) schedules on the model store, \(t.failed) failed, \(t.checks) invariant checks, \(t.requests) "
                + "requests to Cloudthread, \(t.restarts) crashes, \(t.followUps) cost follow-ups, \(t.deadLetters) "
                + "dead letters (all allowed), \(String(format: "%.1f", Date().timeIntervalSince(started))) s.")
        for f in t.failures { Issue.record(Comment(rawValue: f)) }
    }

    @Test func schedulesOnTheSQLiteStore() async throws {
        let count =
            Self.environment["BRIDGE_SIM_SEED"] != nil
            ? 1 : Self.environment["BRIDGE_SIM_SQLITE_SCHEDULES"].flatMap(Int.init) ?? 50
        let first = Self.environment["BRIDGE_SIM_SEED"].flatMap(UInt64.init) ?? 1_000_001
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bridge-sim-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var checks = 0
        for seed in (0..<UInt64(count)).map({ first &+ $0 }) {
            let s = Schedule.make(seed: seed)
            let store = try await SQLiteOutbox(path: "\(dir)/\(seed).sqlite")
            let r = await Simulation.run(s, store: store)
            // Each store has a writer and a checkpointer thread: closed, so that long runs do not pile them up.
            await store.store.close()
            checks += r.checks
            if !r.violations.isEmpty {
                Issue.record(Comment(rawValue: Self.describe(s, r, store: "SQLite")))
                break
            }
        }
        print("Simulation: \(count) schedules on the SQLite store, \(checks) invariant checks.")
    }
}
