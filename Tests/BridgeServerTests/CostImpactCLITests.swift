import Foundation
import Testing

@testable import BridgeCore

/// `cloudthread-bridge cost-impact` (the real binary) against the fake Cloudthread's Cost View series.
@Suite("Cost impact gate", .serialized)
struct CostImpactCLITests {
    /// A deploy on 2024-05-08: 7 days before at $100 a day (one missing), the deploy day at $999 (ignored),
    /// 3 days after at $110 a day.
    static func series() -> [String: Double] {
        var s: [String: Double] = [:]
        for day in 1...7 where day != 4 { s[String(format: "202405%02d", day)] = 100 }
        s["20240508"] = 999
        for day in 9...11 { s[String(format: "202405%02d", day)] = 110 }
        return s
    }

    @Test func aRiseAboveTheGateExitsOneAndBelowItZero() async throws {
        let fake = FakeCloudthread()
        try await fake.start()
        fake.state.withLock { $0.costViews["cv-1"] = Self.series() }
        let env = ["CLOUDTHREAD_API_URL": fake.baseURL, "CLOUDTHREAD_API_KEY": "test-api-key"]
        let args = ["cost-impact", "--view", "cv-1", "--at", "2024-05-08T14:00:00Z", "--before", "7d", "--after", "3d"]
        let over = try await runCLI(args + ["--fail-above", "5%"], environment: env)
        #expect(over.status == 1, "\(over.output)")
        #expect(
            over.output.contains("daily cost +$10.00 (+10.0%) over 3 days after vs 6 days before"), "\(over.output)")
        let under = try await runCLI(args + ["--fail-above", "15%"], environment: env)
        #expect(under.status == 0, "\(under.output)")
        let json = try await runCLI(args + ["--format", "json"], environment: env)
        #expect(json.status == 0)
        let value = try JSONValue.parse(Array(json.output.utf8))
        #expect(value["delta"] == .number(10))
        // One request for both windows, with the API key.
        #expect(fake.state.withLock { $0.costQueries.allSatisfy { $0.contains("start_date=2024-05-01") } })
        await fake.stop()
    }

    @Test func missingKeyUnknownViewAndTooLittleDataAreClear() async throws {
        let fake = FakeCloudthread()
        try await fake.start()
        fake.state.withLock { $0.costViews["sparse"] = ["20240507": 100, "20240509": 120] }
        let args = ["cost-impact", "--view", "cv-1", "--at", "2024-05-08T14:00:00Z"]
        let noKey = try await runCLI(args, environment: ["CLOUDTHREAD_API_URL": fake.baseURL])
        #expect(noKey.status == 2)
        #expect(noKey.output.contains("CLOUDTHREAD_API_KEY is not set"))
        let env = ["CLOUDTHREAD_API_URL": fake.baseURL, "CLOUDTHREAD_API_KEY": "test-api-key"]
        let unknown = try await runCLI(args, environment: env)
        #expect(unknown.status == 2)
        #expect(unknown.output.lowercased().contains("not found"), "\(unknown.output)")
        let refused = try await runCLI(
            args, environment: ["CLOUDTHREAD_API_URL": fake.baseURL, "CLOUDTHREAD_API_KEY": "wrong"])
        #expect(refused.status == 2)
        let sparse = try await runCLI(
            ["cost-impact", "--view", "sparse", "--at", "2024-05-08T14:00:00Z", "--fail-above", "1%"], environment: env)
        #expect(sparse.status == 0, "\(sparse.output)")
        #expect(sparse.output.contains("not enough cost data"), "\(sparse.output)")
        await fake.stop()
    }
}
