import BridgeStore
import Foundation
import Synchronization
import Testing

@testable import BridgeCore
@testable import BridgeDelivery
@testable import BridgeServer

/// Cost follow-ups end to end (docs/cost-impact.md): a deploy webhook over loopback HTTP into the real SQLite file,
/// a forwarder whose clock the test moves forward (no sleeping for days), and the fake Cloudthread serving a daily
/// series the test sets.
@Suite("Cost follow-ups end to end", .serialized)
struct CostFollowUpTests {
    static func rules(_ source: String, threshold: String = "5%") -> String {
        """
        source: deploys
        verify:
          preset: github
          secrets: ["${TEST_WEBHOOK_SECRET}"]
        rules:
          - name: deploy
            when:
              header.X-GitHub-Event: deployment_status
              payload.state: [success]
            event:
              type: deploy
              time: payload.at
              description: "{{ payload.service }} {{ payload.version }} to {{ payload.env }}"
              url: "{{ payload.url }}"
              cost_impact:
                \(source)
                before: 7d
                after: 3d
                threshold: \(threshold)
            metric:
              name: deployments
              aggregate: Sum
              value: 1
              time: payload.at
              dimensions: { service: "{{ payload.service }}", environment: "{{ payload.env }}" }
        """
    }

    /// A bridge whose forwarder sees the time `offset` seconds ahead of the system clock.
    static func harness(rules: String, clock: TestClock) async throws -> BridgeHarness {
        try await BridgeHarness(rules: ["deploys.yaml": rules]) { c in
            c.environment["COST_VIEW_ID"] = "view-1"
            c.forwarder.clock = clock
        }
    }

    /// The deploy: an hour ago, so its follow-up is due about four days from now.
    static let deployAt = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 60).rounded(.down) * 60 - 3600)
    static var deployDay: CostDay { CostDay(containing: deployAt)! }
    static var due: Date {
        Date(timeIntervalSince1970: Double(deployDay.index + 4) * 86400 + 24 * 3600)
    }
    static var dueHour: String { CloudthreadTime.hour(due) }

    /// Before: days D-7...D-1, after: D+1...D+3 (offsets from the deploy day), nil: the day is missing.
    static func series(before: [Double?], deployDay value: Double = 1000, after: [Double?]) -> [String: Double] {
        var s: [String: Double] = [deployDay.compact: value]
        for (i, v) in before.enumerated() { if let v { s[deployDay.adding(i - 7)!.compact] = v } }
        for (i, v) in after.enumerated() { if let v { s[deployDay.adding(i + 1)!.compact] = v } }
        return s
    }

    static func deploy(_ h: BridgeHarness) async throws -> Int64 {
        let body = deployBody(
            at: CostImpactTime.rfc3339(deployAt), url: "https://ci.example.com/run/42", extra: #","version":"v1.4.2""#)
        let answer = try await h.postGitHub(body: body)
        #expect(answer.status == 202, "\(answer.text)")
        guard case .number(let id)? = answer.body?["delivery"] else {
            Issue.record("no delivery id in \(answer.text)")
            return 0
        }
        return Int64(id)
    }

    static func costEvents(_ h: BridgeHarness) -> [[String: JSONValue]] {
        h.fake.events.filter { $0["payload"]?["type"] == .string("cost-impact") }
    }

    static func notes(_ h: BridgeHarness, _ id: Int64) async -> [String] {
        (try? await h.bridge.store.delivery(id: id))?.explanation?.notes ?? []
    }

    static let dims = ["service": "api", "environment": "production"]

    @Test func aDeployGetsExactlyOneFollowUpAfterItsWindowsEvenAcrossARestart() async throws {
        let clock = TestClock()
        let h = try await Self.harness(rules: Self.rules("view: \"${COST_VIEW_ID}\""), clock: clock)
        defer { Task { await h.finish() } }
        // Before: 100 a day (one day missing); the deploy day is left out; after: 110 on average.
        h.fake.state.withLock {
            $0.costViews["view-1"] = Self.series(
                before: [100, 100, 100, nil, 100, 100, 100], after: [110, 112, 108])
        }
        try await h.start()
        let id = try await Self.deploy(h)
        await h.eventually("the deploy event is sent") { h.fake.events.count == 1 }
        #expect(Self.costEvents(h).isEmpty)
        #expect(await Self.notes(h, id).contains { $0.contains("cost impact follow-up planned") })
        let metrics = try await h.get("/metrics")
        #expect(metrics.text.contains("bridge_cost_followups_scheduled 1"))
        try await Task.sleep(for: .milliseconds(300))
        #expect(h.fake.state.withLock { $0.costQueries }.isEmpty)

        // Restart, then let the forwarder's clock pass the due time (end of the after window + 1 day).
        try await h.stop()
        clock.jump(to: Self.due.addingTimeInterval(60))
        try await h.start()
        await h.eventually("the cost-impact event") { Self.costEvents(h).count == 1 }
        let event = try #require(Self.costEvents(h).first)
        #expect(
            event["payload"]?["description"]
                == .string(
                    "api v1.4.2 to production: daily cost +$10.00 (+10.0%) over 3 days after vs 6 days before"))
        #expect(event["payload"]?["event_url"] == .string("https://ci.example.com/run/42"))
        #expect(event["timestamp"] == .string(Self.dueHour))
        await h.eventually("the deploy_cost_change data point") {
            h.fake.value(metric: "deploy_cost_change", dimensions: Self.dims, timestamp: Self.dueHour) == 10
        }
        // One query for both windows, run once.
        try await Task.sleep(for: .milliseconds(500))
        #expect(Self.costEvents(h).count == 1)
        let queries = h.fake.state.withLock { $0.costQueries }
        #expect(queries.count == 1)
        let first = try #require(Self.deployDay.adding(-7)).iso
        let last = try #require(Self.deployDay.adding(3)).iso
        #expect(queries.first?.contains("start_date=\(first)&end_date=\(last)") == true)
        #expect(await Self.notes(h, id).contains { $0.contains("+$10.00 (+10.0%)") })
        #expect(try await h.bridge.store.stats(now: Date()).scheduled == 0)
    }

    @Test func theThresholdSuppressesTheEventOfASmallChangeButNotItsDataPointAndA503IsRetried() async throws {
        let clock = TestClock()
        let h = try await Self.harness(rules: Self.rules("unit_metric: unit-7"), clock: clock)
        defer { Task { await h.finish() } }
        h.fake.state.withLock {
            $0.unitMetrics["unit-7"] = Self.series(before: Array(repeating: 0.5, count: 7), after: [0.51, 0.51, 0.51])
        }
        try await h.start()
        let id = try await Self.deploy(h)
        await h.eventually("the deploy event and data point are sent") {
            h.fake.events.count == 1 && h.fake.points.keys.contains { $0.metric == "deployments" }
        }
        // Cloudthread fails the first two reads: the follow-up backs off and retries like every send.
        h.fake.force([(503, nil), (503, nil)])
        clock.jump(to: Self.due.addingTimeInterval(60))
        await h.eventually("the data point of a 2% change") {
            abs(
                (h.fake.value(metric: "deploy_cost_change", dimensions: Self.dims, timestamp: Self.dueHour) ?? 0) - 0.01
            )
                < 1e-9
        }
        let reads = h.fake.state.withLock { $0.requestLog.filter { $0.hasPrefix("GET /unit/metric/unit-7") } }
        #expect(reads.count == 3)
        #expect(h.fake.state.withLock { $0.costQueries }.count == 1)
        #expect(Self.costEvents(h).isEmpty)
        #expect(await Self.notes(h, id).contains { $0.contains("(+2.0%)") && $0.contains("within the 5% threshold") })
    }

    @Test func tooLittleDataIsSaidInTheExplanationAndPostsNothing() async throws {
        let clock = TestClock()
        let h = try await Self.harness(rules: Self.rules("view: \"${COST_VIEW_ID}\""), clock: clock)
        defer { Task { await h.finish() } }
        h.fake.state.withLock {
            $0.costViews["view-1"] = Self.series(before: [100, 100, 100, 100, 100, 100, 100], after: [150, nil, nil])
        }
        clock.jump(to: Self.due.addingTimeInterval(60))
        try await h.start()
        let id = try await Self.deploy(h)
        await h.eventually("the follow-up's note") {
            await Self.notes(h, id).contains { $0.contains("not enough cost data") }
        }
        let note = await Self.notes(h, id).first { $0.contains("not enough cost data") } ?? ""
        #expect(note.contains("7 days before, 1 day after"))
        try await Task.sleep(for: .milliseconds(300))
        #expect(Self.costEvents(h).isEmpty)
        #expect(h.fake.points.keys.allSatisfy { $0.metric != "deploy_cost_change" })
    }

    @Test func anUnknownViewIsADeadLetterAndARefusedKeyPausesUntilItIsAccepted() async throws {
        let clock = TestClock()
        let h = try await Self.harness(rules: Self.rules("view: missing-view"), clock: clock)
        defer { Task { await h.finish() } }
        try await h.start()
        _ = try await Self.deploy(h)
        await h.eventually("the deploy event is sent") { h.fake.events.count == 1 }
        clock.jump(to: Self.due.addingTimeInterval(60))
        await h.eventually("a dead letter") { (try? await h.bridge.store.deadLetters(limit: 5))?.count == 1 }
        let dead = try #require(try await h.bridge.store.deadLetters(limit: 5).first)
        #expect(dead.kind == "cost_followup")
        #expect(dead.reason.contains("cost view 'missing-view' not found by Cloudthread (404)"))

        // Replayed while the key is refused: paused, kept, then done once the key works again.
        h.fake.state.withLock {
            $0.costViews["missing-view"] = Self.series(before: Array(repeating: 100, count: 7), after: [90, 90, 90])
        }
        h.fake.setAPIKey("another-key")
        #expect(try await h.bridge.store.replayDeadLetters(nil, now: Date()) == 1)
        h.bridge.forwarder.notify()
        await h.eventually("the forwarder pauses") { h.bridge.forwarder.isPaused }
        #expect(try await h.bridge.store.deadLetters(limit: 5).isEmpty)
        #expect(Self.costEvents(h).isEmpty)
        h.fake.setAPIKey("test-api-key")
        await h.eventually("the follow-up after the pause") { Self.costEvents(h).count == 1 }
        #expect(
            Self.costEvents(h).first?["payload"]?["description"].map { "\($0)" }?.contains("-$10.00 (-10.0%)") == true)
    }
}

/// The forwarder's clock in these tests: the system clock plus an offset the test sets.
final class TestClock: BridgeClock {
    private let offset = Mutex<TimeInterval>(0)
    func now() -> Date { Date().addingTimeInterval(offset.withLock { $0 }) }
    func sleep(for duration: Duration) async { try? await Task.sleep(for: duration) }
    /// From now on the forwarder sees `date` as the present (moving on with the system clock).
    func jump(to date: Date) { offset.withLock { $0 = date.timeIntervalSinceNow } }
}
