import AsyncHTTPClient
import BridgeStore
import Foundation
import NIOCore
import Testing

@testable import BridgeCore

/// The bridge as a user runs it: real HTTP on loopback, the real SQLite file, the fake Cloudthread.
@Suite("End to end", .serialized)
struct EndToEndTests {
    @Test func aSignedWebhookBecomesAnEventAndAMetric() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        try await h.start()
        let answer = try await h.postGitHub(body: deployBody(team: "platform"))
        #expect(answer.status == 202)
        #expect(answer.body == .object(["delivery": .number(1), "events": .number(1), "metrics": .number(1)]))
        await h.eventually("event and metric delivered") { h.fake.events.count == 1 && !h.fake.points.isEmpty }
        #expect(
            h.fake.events.first == [
                "timestamp": .string("2024-05-01 14:00:00"), "team_id": .number(3),
                "payload": .object([
                    "type": .string("deploy"), "description": .string("api to production: success"),
                    "event_url": .string("https://ci.example.com/run/1"),
                ]),
            ])
        #expect(
            h.fake.value(
                metric: "deployments", dimensions: ["service": "api", "environment": "production"],
                timestamp: "2024-05-01 14:00:00") == 1)
        // Nothing secret is ever logged.
        let logs = h.logText
        #expect(!logs.contains(BridgeHarness.secret))
        #expect(!logs.contains("test-api-key"))
        #expect(!logs.contains("stream-token-1"))
        await h.finish()
    }

    @Test func threeDeploysInOneHourLeaveThreeAlsoAcrossARestart() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        try await h.start()
        let dims = ["service": "api", "environment": "production"]
        #expect(try await h.postGitHub(body: deployBody(at: "2024-05-01T14:01:00Z")).status == 202)
        #expect(try await h.postGitHub(body: deployBody(at: "2024-05-01T14:20:00Z")).status == 202)
        await h.eventually("two deploys counted") {
            h.fake.value(metric: "deployments", dimensions: dims, timestamp: "2024-05-01 14:00:00") == 2
        }
        try await h.stop()
        try await h.start()
        #expect(try await h.postGitHub(body: deployBody(at: "2024-05-01T14:59:59Z")).status == 202)
        await h.eventually("three deploys counted after the restart") {
            h.fake.value(metric: "deployments", dimensions: dims, timestamp: "2024-05-01 14:00:00") == 3
        }
        // Another hour is its own data point.
        #expect(try await h.postGitHub(body: deployBody(at: "2024-05-01T15:00:00Z")).status == 202)
        await h.eventually("next hour") {
            h.fake.value(metric: "deployments", dimensions: dims, timestamp: "2024-05-01 15:00:00") == 1
        }
        #expect(h.fake.value(metric: "deployments", dimensions: dims, timestamp: "2024-05-01 14:00:00") == 3)
        #expect(h.fake.events.count == 4)
        await h.finish()
    }

    @Test func aCloudthreadOutageOnlyDelaysDelivery() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        h.fake.force([(503, nil), (503, nil), (429, "0"), (500, nil), (502, nil)])
        try await h.start()
        #expect(try await h.postGitHub(body: deployBody()).status == 202)
        await h.eventually("delivered after the outage") { h.fake.events.count == 1 && !h.fake.points.isEmpty }
        let attempts = h.fake.state.withLock { $0.requestLog.count }
        #expect(attempts >= 7)
        await h.finish()
    }

    @Test func aRestartDuringAnOutageLosesNothing() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        h.fake.force(Array(repeating: (503, nil), count: 1000))
        try await h.start()
        for i in 0..<5 { #expect(try await h.postGitHub(body: deployBody(service: "svc\(i)")).status == 202) }
        try await Task.sleep(for: .milliseconds(300))
        try await h.stop()
        #expect(h.fake.events.isEmpty)
        h.fake.state.withLock { $0.forced = [] }
        try await h.start()
        await h.eventually("all five delivered after the restart") { h.fake.events.count == 5 }
        let services = Set(
            h.fake.events.compactMap { e -> String? in
                if case .object(let p)? = e["payload"], case .string(let d)? = p["description"] {
                    return String(d.split(separator: " ")[0])
                }
                return nil
            })
        #expect(services == ["svc0", "svc1", "svc2", "svc3", "svc4"])
        await h.finish()
    }

    @Test func aForgedSignatureIsRefusedAndNothingIsSent() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        try await h.start()
        let forged = try await h.postGitHub(body: deployBody(), secret: "guess")
        #expect(forged.status == 401)
        #expect(forged.body == .object(["error": .string("signature verification failed")]))
        let unsigned = try await h.post(
            "/hooks/deploys", headers: [("X-GitHub-Event", "deployment_status")], body: deployBody())
        #expect(unsigned.status == 401)
        try await Task.sleep(for: .milliseconds(300))
        #expect(h.fake.events.isEmpty)
        // Refusals cost no disk write: nothing is stored, they are kept in the bounded in-memory log.
        #expect(try await h.bridge.store.deliveries(limit: 10, source: "deploys").isEmpty)
        let refusals = h.bridge.ingestor.refusals.recent(limit: 10, source: "deploys")
        #expect(refusals.map(\.reason) == ["missing_signature", "bad_signature"])
        #expect(refusals.map(\.status) == [401, 401])
        #expect(refusals.last?.detail == "signature in 'X-Hub-Signature-256' does not match the body")
        #expect(refusals.first?.detail == "signature header 'X-Hub-Signature-256' is missing")
        #expect(refusals.allSatisfy { $0.clientAddress == "127.0.0.1" })
        let metrics = try await h.get("/metrics")
        #expect(
            metrics.text.contains(#"bridge_verification_failures_total{source="deploys",reason="bad_signature"} 1"#))
        await h.finish()
    }

    @Test func aRedeliveryProducesNoDuplicateEvent() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        try await h.start()
        let first = try await h.postGitHub(body: deployBody(), delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958")
        #expect(first.status == 202)
        let again = try await h.postGitHub(body: deployBody(), delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958")
        #expect(again.status == 200)
        #expect(again.body == .object(["outcome": .string("duplicate"), "delivery": .number(1)]))
        await h.eventually("delivered") { h.fake.events.count == 1 }
        try await Task.sleep(for: .milliseconds(300))
        #expect(h.fake.events.count == 1)
        #expect(
            h.fake.value(
                metric: "deployments", dimensions: ["service": "api", "environment": "production"],
                timestamp: "2024-05-01 14:00:00") == 1)
        // Also after a restart.
        try await h.stop()
        try await h.start()
        #expect(
            try await h.postGitHub(body: deployBody(), delivery: "72d3162e-cc78-11e3-81ab-4c9367dc0958").status == 200)
        await h.finish()
    }

    @Test func badRequestsGetTheRightStatus() async throws {
        let onlyEvents =
            "source: open\nverify: { unverified: true }\nrules: [{ name: r, event: { type: deploy, url: \"{{ payload.url }}\" } }]\n"
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules, "open.yaml": onlyEvents]) {
            $0.maxBodyBytes = 1024
        }
        try await h.start()
        #expect(try await h.post("/hooks/nope", body: Array("{}".utf8)).status == 404)
        let malformed = try await h.postGitHub(body: Array("{not json".utf8))
        #expect(malformed.status == 400)
        #expect(malformed.text.contains("The body is not valid JSON"))
        let big = [UInt8](repeating: UInt8(ascii: "a"), count: 5000)
        #expect(try await h.postGitHub(body: big).status == 413)
        // Without a Content-Length (chunked), the limit holds too.
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(h.port)/hooks/deploys")
        request.method = .POST
        let chunks = (0..<10).map { _ in ByteBuffer(bytes: [UInt8](repeating: UInt8(ascii: "b"), count: 500)) }
        request.body = .stream(chunks.async, length: .unknown)
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        #expect(response.status.code == 413)
        // The ignored case: no rule matched.
        let ignored = try await h.postGitHub(body: deployBody(state: "in_progress"))
        #expect(ignored.status == 202)
        #expect(ignored.body?["outcome"] == .string("ignored"))
        // An invalid output is left out with its reason; the valid ones are stored.
        let partial = try await h.postGitHub(body: deployBody(url: "ftp://nope"))
        #expect(partial.status == 202)
        #expect(partial.body?["events"] == .number(0))
        #expect(partial.body?["metrics"] == .number(1))
        #expect(partial.text.contains("event url 'ftp://nope' is not an http(s) URL"))
        // A webhook whose every output is invalid is answered 422 with the reasons.
        let invalid = try await h.post(
            "/hooks/open", headers: [("Content-Type", "application/json")], body: Array(#"{"url":"ftp://nope"}"#.utf8))
        #expect(invalid.status == 422)
        #expect(invalid.text.contains("event url 'ftp://nope' is not an http(s) URL"))
        let health = try await h.get("/healthz")
        #expect(health.status == 200)
        let ready = try await h.get("/readyz")
        #expect(ready.status == 200)
        await h.finish()
    }

    @Test func aSourceWithoutSecretIsDisabledNotOpen() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules]) { $0.environment = [:] }
        try await h.start()
        let answer = try await h.post(
            "/hooks/deploys", headers: [("X-GitHub-Event", "deployment_status")], body: deployBody())
        #expect(answer.status == 503)
        #expect(h.logText.contains("source 'deploys' is DISABLED: no secret configured: set TEST_WEBHOOK_SECRET"))
        await h.finish()
    }

    @Test func aRefusedAPIKeyPausesForwardingAndLosesNothing() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        h.fake.setAPIKey("rotated-key")
        try await h.start()
        #expect(try await h.postGitHub(body: deployBody()).status == 202)
        await h.eventually("paused") { h.bridge.forwarder.isPaused }
        // Webhooks can still be stored: the bridge stays ready, and says why nothing is sent.
        let ready = try await h.get("/readyz")
        #expect(ready.status == 200)
        #expect(ready.text.contains("paused: API key refused"))
        #expect((try await h.get("/metrics")).text.contains("bridge_forwarder_paused 1"))
        #expect(h.logText.contains("Cloudthread refused the API key"))
        #expect(h.fake.events.isEmpty)
        // The operator fixes the key on Cloudthread's side: forwarding resumes on its own.
        h.fake.setAPIKey("test-api-key")
        await h.eventually("resumed and delivered") { h.fake.events.count == 1 }
        await h.eventually("running again") { !h.bridge.forwarder.isPaused }
        let stats = try await h.bridge.store.stats(now: Date())
        #expect(stats.dead == 0)
        await h.finish()
    }

    @Test func aRefusedAPIKeyShowsBeforeAnyWebhookWithoutMakingTheBridgeUnready() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        h.fake.setAPIKey("someone-rotated-it")
        try await h.start()
        await h.eventually("paused at start-up") { h.bridge.forwarder.isPaused }
        let ready = try await h.get("/readyz")
        #expect(ready.status == 200)
        #expect(!ready.text.contains("someone-rotated-it") && !ready.text.contains("test-api-key"))
        h.fake.setAPIKey("test-api-key")
        await h.eventually("forwarding once the key is accepted, with nothing to send") {
            !h.bridge.forwarder.isPaused
        }
        await h.finish()
    }

    @Test func aBadRecordIsIsolatedFromItsBatchAndDeadLettered() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        h.fake.setAPIKey("paused-for-now")
        h.fake.state.withLock { $0.rejectDescriptionsContaining = "BAD" }
        try await h.start()
        for service in ["one", "BAD", "three", "four"] {
            #expect(try await h.postGitHub(body: deployBody(service: service)).status == 202)
        }
        await h.eventually("paused") { h.bridge.forwarder.isPaused }
        h.fake.setAPIKey("test-api-key")
        await h.eventually("the good three delivered") { h.fake.events.count == 3 }
        let dead = try await h.bridge.store.deadLetters(limit: 10)
        #expect(dead.count == 1)
        #expect(
            dead.first?.reason
                == "rejected by Cloudthread (400): {\"message\":\"description contains forbidden text 'BAD'\"}")
        #expect(dead.first?.record.contains("BAD to production") == true)
        // After the cause is fixed, a replay delivers it.
        h.fake.state.withLock { $0.rejectDescriptionsContaining = nil }
        #expect(try await h.bridge.store.replayDeadLetters(nil, now: Date()) == 1)
        h.bridge.forwarder.notify()
        await h.eventually("replayed") { h.fake.events.count == 4 }
        await h.finish()
    }

    @Test func teamNamesResolveThroughGetTeamsAndUnknownOnesAreDeadLettered() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        try await h.start()
        #expect(try await h.postGitHub(body: deployBody(team: "Payments")).status == 202)
        #expect(try await h.postGitHub(body: deployBody(team: "nobody")).status == 202)
        await h.eventually("one delivered") { h.fake.events.count == 1 }
        #expect(h.fake.events.first?["team_id"] == .number(7))
        await h.eventually("one dead") { (try? await h.bridge.store.deadLetters(limit: 5))?.count == 1 }
        let dead = try await h.bridge.store.deadLetters(limit: 5)
        #expect(dead.first?.reason == "unknown Cloudthread team 'nobody' (known teams: payments, platform)")
        await h.finish()
    }

    @Test func dryRunLogsTheExactJSONAndSendsNothing() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules]) {
            $0.apiKey = nil
            $0.streamToken = nil
        }
        try await h.start()
        #expect(h.logText.contains("DRY RUN: CLOUDTHREAD_API_KEY is not set"))
        #expect(try await h.postGitHub(body: deployBody()).status == 202)
        let expected =
            #"{"data":[{"payload":{"description":"api to production: success","event_url":"https://ci.example.com/run/1","type":"deploy"},"timestamp":"2024-05-01 14:00:00"}]}"#
        await h.eventually("logged") {
            h.logs.entries.contains { "\($0.metadata["cloudthread.body"] ?? "")" == expected }
        }
        await h.eventually("metric logged") {
            h.logs.entries.contains { "\($0.metadata["cloudthread.path"] ?? "")" == "/streams/ingest" }
        }
        #expect(h.fake.state.withLock { $0.requestLog.isEmpty })
        await h.finish()
    }

    @Test func theAdminAPIIsBehindItsToken() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules]) {
            $0.adminToken = Secret("admin-token-of-at-least-32-characters")
        }
        try await h.start()
        #expect(try await h.postGitHub(body: deployBody()).status == 202)
        #expect(try await h.get("/admin/deliveries").status == 401)
        #expect(try await h.get("/admin/deliveries", headers: [("Authorization", "Bearer wrong")]).status == 401)
        let list = try await h.get(
            "/admin/deliveries", headers: [("Authorization", "Bearer admin-token-of-at-least-32-characters")])
        #expect(list.status == 200)
        #expect(list.text.contains("\"status\" : \"accepted\""))
        let one = try await h.get(
            "/admin/deliveries/1", headers: [("Authorization", "Bearer admin-token-of-at-least-32-characters")])
        #expect(one.text.contains("\"rule\" : \"deploy\""))
        await h.finish()
    }
}
