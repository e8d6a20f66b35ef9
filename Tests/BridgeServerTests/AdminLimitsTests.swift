import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

@testable import BridgeCore
@testable import BridgeServer

/// Issue 18, point 10: the admin API's `limit` is 1...1000, and `/metrics` reads the store at most every 5 s.
@Suite("Admin limits and metrics reads", .serialized)
struct AdminLimitsTests {
    static let adminToken = String(repeating: "0123456789abcdef", count: 4)

    @Test func anAdminLimitOutside1To1000IsAnswered400WithASentence() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules]) {
            $0.adminToken = Secret(Self.adminToken)
        }
        try await h.start()
        let auth = [("Authorization", "Bearer \(Self.adminToken)")]
        for path in ["/admin/deliveries", "/admin/dead-letters", "/admin/refusals"] {
            for bad in ["-1", "0", "1001", "abc", "99999999999999999999999", "1.5"] {
                let answer = try await h.get("\(path)?limit=\(bad)", headers: auth)
                #expect(answer.status == 400, "\(path)?limit=\(bad): \(answer.text)")
                #expect(answer.text.contains("The limit must be a whole number from 1 to 1000"), "\(answer.text)")
            }
            for good in ["1", "1000"] {
                #expect(try await h.get("\(path)?limit=\(good)", headers: auth).status == 200, "\(path) \(good)")
            }
            #expect(try await h.get(path, headers: auth).status == 200)
        }
        await h.finish()
    }

    static func pending(_ text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix("bridge_outbox_pending ") {
            return Double(line.split(separator: " ").last ?? "")
        }
        return nil
    }

    @Test func metricsReadTheStoreAtMostEveryFiveSeconds() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        h.fake.setAPIKey("held")  // records stay pending
        try await h.start()
        let before = Self.pending(try await h.get("/metrics").text)
        #expect(before == 0)
        #expect(try await h.postGitHub(body: deployBody()).status == 202)
        // Within 5 s of the last read: the last counts, not a new query.
        #expect(Self.pending(try await h.get("/metrics").text) == 0)
        try await Task.sleep(for: .seconds(5.2))
        let after = Self.pending(try await h.get("/metrics").text) ?? 0
        #expect(after >= 1)
        await h.finish()
    }
}
