import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

@testable import BridgeCore
@testable import BridgeDelivery
@testable import BridgeMapping
@testable import BridgeServer
@testable import BridgeVerification

/// Issue 18, point 4: a replayed body is a duplicate for the presets whose delivery id is not signed, and SNS
/// deduplicates by its signed MessageId and refuses a signed Timestamp older than the dedupe window.
@Suite("Replays are duplicates", .serialized)
struct ReplayTests {
    @Test func aGitHubBodyReplayedWithAFreshDeliveryIdIsCountedOnce() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        try await h.start()
        let body = deployBody()
        #expect(try await h.postGitHub(body: body, delivery: "first").status == 202)
        let replay = try await h.postGitHub(body: body, delivery: "second")
        #expect(replay.status == 200, "\(replay.text)")
        #expect(replay.body?["outcome"] == .string("duplicate"))
        // Another body is another delivery.
        #expect(try await h.postGitHub(body: deployBody(state: "failure"), delivery: "third").status == 202)
        #expect(try await h.bridge.store.deliveries(limit: 10, source: nil).count == 2)
        await h.eventually("two events sent") { h.fake.events.count == 2 }
        try await Task.sleep(for: .milliseconds(300))
        #expect(h.fake.events.count == 2)
        await h.finish()
    }

    static let tokenRules = """
        source: deploys
        verify:
          token: { header: X-Deploy-Token }
          secrets: ["${TEST_WEBHOOK_SECRET}"]
        rules:
          - name: deploy
            event: { type: deploy, description: "{{ payload.service }}" }
        """

    @Test func genericSourcesAndAnExplicitOffKeepIdenticalBodies() async throws {
        let githubOff = deployRules.replacingOccurrences(
            of: "rules:\n", with: "dedupe: { body: false }\nrules:\n")
        #expect(githubOff.contains("body: false"))
        for (name, rules) in [("token", Self.tokenRules), ("github, dedupe body off", githubOff)] {
            let h = try await BridgeHarness(rules: ["deploys.yaml": rules])
            try await h.start()
            let body = Array(
                #"{"service":"api","env":"production","state":"success","at":"2024-05-01T14:05:00Z"}"#.utf8)
            for _ in 0..<2 {
                let answer =
                    name == "token"
                    ? try await h.post(
                        "/hooks/deploys",
                        headers: [("Content-Type", "application/json"), ("X-Deploy-Token", BridgeHarness.secret)],
                        body: body)
                    : try await h.postGitHub(body: body)
                #expect(answer.status == 202, "\(name): \(answer.text)")
            }
            #expect(try await h.bridge.store.deliveries(limit: 10, source: nil).count == 2, "\(name)")
            await h.finish()
        }
    }

    @Test func dedupeBodyIsReadFromTheRuleFile() {
        func body(_ yaml: String) -> (Bool?, [String]) {
            let (source, diagnostics) = RuleLoader(environment: ["TEST_WEBHOOK_SECRET": "s"]).load(
                file: "mappings/test.yaml", text: yaml)
            return (source?.dedupe.body, diagnostics.map(\.description))
        }
        let token = """
            source: t
            verify:
              token: { header: X-T }
              secrets: ["${TEST_WEBHOOK_SECRET}"]
            rules:
              - name: all
                event: { type: deploy }
            """
        #expect(body(token).0 == false)
        #expect(body(token + "\ndedupe: body").0 == true)
        #expect(body(token + "\ndedupe: { body: true, header: X-Id }").0 == true)
        #expect(body(token + "\ndedupe: bodies").1.first?.contains("'dedupe' is 'body' or a mapping") == true)
        let gitlab = token.replacingOccurrences(of: "token: { header: X-T }", with: "preset: gitlab")
        #expect(body(gitlab).0 == true)
        #expect(body(gitlab + "\ndedupe: { body: false }").0 == false)
        #expect(VerificationPreset.named("github")?.dedupesBody == true)
        #expect(VerificationPreset.named("standard-webhooks")?.dedupesBody == false)
        #expect(VerificationPreset.named("aws-sns")?.dedupesBody == false)
    }

    @Test func anSNSNotificationIsDedupedByItsSignedIdAndAnOldOneIsRefused() async throws {
        let dir = try SNSEndToEndTests.pki()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let h = try await BridgeHarness(rules: ["aws-sns.yaml": SNSEndToEndTests.rules]) {
            $0.environment = ["AWS_SNS_TOPIC_ARN": SNSEndToEndTests.topic, "AWS_SNS_CERT_DIR": dir + "/seeds"]
            $0.retentionDays = 30
        }
        try await h.start()
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let event = #"{"time":"2024-05-01T14:02:00Z","detail":{"pipeline":"api-prod","state":"SUCCEEDED"}}"#
        let body = try SNSEndToEndTests.signed(dir, message: event, timestamp: formatter.string(from: Date()))
        func post(_ body: [UInt8], id: String) async throws -> BridgeHarness.Answer {
            try await h.post(
                "/hooks/aws-sns",
                headers: [
                    ("Content-Type", "text/plain; charset=UTF-8"), ("x-amz-sns-message-type", "Notification"),
                    ("x-amz-sns-message-id", id),
                ], body: body)
        }
        #expect(try await post(body, id: "header-1").status == 202)
        // The same signed message with another (unsigned) header id: a replay.
        let replay = try await post(body, id: "header-2")
        #expect(replay.status == 200, "\(replay.text)")
        #expect(try await h.bridge.store.deliveries(limit: 10, source: nil).count == 1)
        // Signed 31 days ago: older than the 30 days its id is remembered for.
        let old = try SNSEndToEndTests.signed(
            dir, message: event, timestamp: formatter.string(from: Date().addingTimeInterval(-31 * 86400)))
        let refused = try await h.post(
            "/hooks/aws-sns",
            headers: [("Content-Type", "text/plain; charset=UTF-8"), ("x-amz-sns-message-type", "Notification")],
            body: old)
        #expect(refused.status == 401, "\(refused.text)")
        #expect(h.bridge.ingestor.refusals.recent(limit: 5, source: nil).first?.reason == "stale_timestamp")
        await h.finish()
    }
}
