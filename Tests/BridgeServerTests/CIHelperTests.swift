import Foundation
import Testing

@testable import BridgeCI
@testable import BridgeCore
@testable import BridgeVerification

@Suite("CI helpers", .serialized)
struct CIHelperTests {
    @Test func defaultsComeFromTheCISystemsVariables() {
        let gh = CIWebhook.fromCIEnvironment([
            "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "octo-org/api", "GITHUB_SHA": "abc123",
            "GITHUB_REF_NAME": "main",
            "GITHUB_ACTOR": "octocat", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "42",
        ])
        #expect(gh.service == "api")
        #expect(gh.url == "https://github.com/octo-org/api/actions/runs/42")
        #expect(gh.ciProvider == "github-actions")
        let gl = CIWebhook.fromCIEnvironment([
            "GITLAB_CI": "true", "CI_PROJECT_NAME": "checkout", "CI_PIPELINE_URL": "https://gl/p/1",
            "CI_ENVIRONMENT_NAME": "production", "GITLAB_USER_LOGIN": "alice",
        ])
        #expect(
            gl.service == "checkout" && gl.environment == "production" && gl.actor == "alice"
                && gl.url == "https://gl/p/1")
        let jenkins = CIWebhook.fromCIEnvironment([
            "JENKINS_URL": "https://ci/", "JOB_BASE_NAME": "deploy-api", "BUILD_URL": "https://ci/job/deploy-api/7/",
            "GIT_COMMIT": "deadbeef",
        ])
        #expect(
            jenkins.ciProvider == "jenkins" && jenkins.service == "deploy-api"
                && jenkins.url == "https://ci/job/deploy-api/7/")
        let circle = CIWebhook.fromCIEnvironment([
            "CIRCLECI": "true", "CIRCLE_PROJECT_REPONAME": "web", "CIRCLE_BUILD_URL": "https://circleci.com/x",
        ])
        #expect(circle.service == "web" && circle.ciProvider == "circleci")
        let bk = CIWebhook.fromCIEnvironment([
            "BUILDKITE": "true", "BUILDKITE_PIPELINE_SLUG": "infra",
            "BUILDKITE_BUILD_URL": "https://buildkite.com/o/infra/builds/3",
        ])
        #expect(bk.service == "infra" && bk.url == "https://buildkite.com/o/infra/builds/3")
    }

    @Test func sendPostsASignedDeployThatTheShippedCISourceMaps() async throws {
        let rules = try String(contentsOfFile: packageRoot + "/mappings/ci.yaml", encoding: .utf8)
            .replacingOccurrences(
                of: "body_file: examples/ci/", with: "body_file: \(packageRoot)/mappings/examples/ci/")
        let secret = "whsec_" + ByteEncoding.base64(Array("a-ci-secret-of-some-length".utf8))
        let h = try await BridgeHarness(rules: ["ci.yaml": rules]) { $0.environment = ["CI_WEBHOOK_SECRET": secret] }
        try await h.start()
        var webhook = CIWebhook.fromCIEnvironment([
            "GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "octo-org/api", "GITHUB_ACTOR": "octocat",
            "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "9",
        ])
        webhook.environment = "production"
        webhook.version = "v1.2.3"
        webhook.timestamp = Date(timeIntervalSince1970: 1_714_572_300)
        let body = webhook.body
        let headers = try Signer(scheme: VerificationPreset.named("ci")!.scheme, secret: Secret(secret)).headers(
            for: body)
        let answer = try await BridgePoster.post(
            url: "http://127.0.0.1:\(h.port)/hooks/ci", headers: [("Content-Type", "application/json")] + headers,
            body: body)
        #expect(answer.status == 202)
        await h.eventually("annotated") { h.fake.events.count == 1 }
        #expect(
            h.fake.events.first?["payload"]?["description"] == .string("api v1.2.3 to production: success (by octocat)")
        )
        #expect(
            h.fake.events.first?["payload"]?["event_url"] == .string("https://github.com/octo-org/api/actions/runs/9"))
        // Sent again with the same headers: the webhook-id makes it a duplicate.
        let again = try await BridgePoster.post(
            url: "http://127.0.0.1:\(h.port)/hooks/ci", headers: [("Content-Type", "application/json")] + headers,
            body: body)
        #expect(again.status == 200)
        // With the wrong secret the bridge refuses, which `send` turns into a non-zero exit.
        let wrong = try Signer(
            scheme: VerificationPreset.named("ci")!.scheme,
            secret: Secret("whsec_" + ByteEncoding.base64(Array("wrong".utf8)))
        ).headers(for: body)
        let refused = try await BridgePoster.post(
            url: "http://127.0.0.1:\(h.port)/hooks/ci", headers: wrong, body: body)
        #expect(refused.status == 401)
        await h.finish()
    }
}

@Suite("Per-item de-duplication", .serialized)
struct ItemDedupeTests {
    static let rules = """
        source: alerts
        verify: { preset: bearer, secrets: ["${TEST_WEBHOOK_SECRET}"] }
        rules:
          - name: alert
            for_each: payload.alerts
            dedupe_key: "{{ item.fingerprint }}|{{ item.status }}|{{ item.startsAt }}"
            event: { type: incident, time: item.startsAt, description: "{{ item.labels.alertname }}: {{ item.status }}" }
            metric: { name: incidents, aggregate: Sum, value: 1, time: item.startsAt, dimensions: { alert: "{{ item.labels.alertname }}" } }
        """

    static func group(_ alerts: [(String, String, String)]) -> [UInt8] {
        let items = alerts.map {
            #"{"fingerprint":"\#($0.0)","status":"\#($0.2)","startsAt":"2024-05-01T14:0\#($0.0.count % 10):00Z","labels":{"alertname":"\#($0.1)"}}"#
        }
        return Array(#"{"status":"firing","alerts":[\#(items.joined(separator: ","))]}"#.utf8)
    }

    @Test func anAlertRepeatedInALaterGroupNotificationIsNotCountedTwice() async throws {
        let h = try await BridgeHarness(rules: ["alerts.yaml": Self.rules])
        try await h.start()
        let auth = [("Authorization", "Bearer \(BridgeHarness.secret)"), ("Content-Type", "application/json")]
        let first = try await h.post("/hooks/alerts", headers: auth, body: Self.group([("a1", "HighCPU", "firing")]))
        #expect(first.body == .object(["delivery": .number(1), "events": .number(1), "metrics": .number(1)]))
        // The group grows: HighCPU is listed again, DiskFull is new.
        let second = try await h.post(
            "/hooks/alerts", headers: auth,
            body: Self.group([("a1", "HighCPU", "firing"), ("b22", "DiskFull", "firing")]))
        #expect(second.body?["events"] == .number(1))
        #expect(second.body?["already_seen"] == .number(2))
        // Nothing new at all: a duplicate.
        let third = try await h.post("/hooks/alerts", headers: auth, body: Self.group([("a1", "HighCPU", "firing")]))
        #expect(third.status == 200)
        // HighCPU resolves: a new item state, a new event.
        let fourth = try await h.post("/hooks/alerts", headers: auth, body: Self.group([("a1", "HighCPU", "resolved")]))
        #expect(fourth.body?["events"] == .number(1))
        await h.eventually("three events") { h.fake.events.count == 3 }
        // Events and data points are sent by separate requests: wait for the data point too.
        await h.eventually("HighCPU counted twice") {
            h.fake.value(metric: "incidents", dimensions: ["alert": "HighCPU"], timestamp: "2024-05-01 14:00:00") == 2
        }
        #expect(
            h.fake.value(metric: "incidents", dimensions: ["alert": "HighCPU"], timestamp: "2024-05-01 14:00:00") == 2)
        #expect(
            h.fake.value(metric: "incidents", dimensions: ["alert": "DiskFull"], timestamp: "2024-05-01 14:00:00") == 1)
        await h.finish()
    }
}
