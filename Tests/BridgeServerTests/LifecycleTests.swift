import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

@testable import BridgeVerification

@Suite("Lifecycle and reload", .serialized)
struct LifecycleTests {
    @Test func gracefulShutdownFinishesTheRequestInFlight() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        try await h.start()
        let body = deployBody()
        let signature =
            "sha256=" + ByteEncoding.hex(Crypto.hmac(.sha256, key: Array(BridgeHarness.secret.utf8), data: body))
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(h.port)/hooks/deploys")
        request.method = .POST
        request.headers.add(name: "X-GitHub-Event", value: "deployment_status")
        request.headers.add(name: "X-Hub-Signature-256", value: signature)
        request.body = .stream(stream, length: .known(Int64(body.count)))
        let inFlight = Task { try await HTTPClient.shared.execute(request, timeout: .seconds(20)) }
        continuation.yield(ByteBuffer(bytes: body.prefix(10)))
        try await Task.sleep(for: .milliseconds(200))
        let stopping = Task { try await h.stop() }
        try await Task.sleep(for: .milliseconds(200))
        continuation.yield(ByteBuffer(bytes: body.dropFirst(10)))
        continuation.finish()
        let response = try await inFlight.value
        #expect(response.status.code == 202)
        try await stopping.value
        // The delivery was committed before the answer and survives the restart.
        try await h.start()
        #expect(try await h.bridge.store.deliveries(limit: 5, source: "deploys").map(\.status) == ["accepted"])
        await h.eventually("sent after the restart") { h.fake.events.count == 1 }
        await h.finish()
    }

    @Test func theBinaryExitsZeroOnSIGTERM() async throws {
        let binary = packageRoot + "/.build/debug/cloudthread-bridge"
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the executable first (swift build)")
        let dir = NSTemporaryDirectory() + "ctb-sigterm-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "serve", "--host", "127.0.0.1", "--port", "0", "--mappings", packageRoot + "/mappings", "--data-dir", dir,
        ]
        process.environment = ["LOG_FORMAT": "json", "GITHUB_WEBHOOK_SECRET": "x"]
        let pipe = Pipe()
        process.standardError = pipe
        try process.run()
        var output = ""
        let deadline = Date().addingTimeInterval(20)
        while !output.contains("listening on"), Date() < deadline {
            output += String(decoding: pipe.fileHandleForReading.availableData, as: UTF8.self)
        }
        #expect(output.contains("DRY RUN"))
        // SIGHUP reloads the rule files.
        kill(process.processIdentifier, SIGHUP)
        while !output.contains("rules reloaded (SIGHUP)"), Date() < deadline {
            output += String(decoding: pipe.fileHandleForReading.availableData, as: UTF8.self)
        }
        #expect(output.contains("rules reloaded (SIGHUP)"))
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        output += String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0)
        #expect(output.contains("store closed"))
        #expect(output.contains("bridge stopped"))
        #expect(!output.contains("\"x\""))
    }

    @Test func rulesReloadOnChangeAndABrokenChangeIsRefused() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        try await h.start()
        #expect(try await h.postGitHub(body: deployBody(state: "rolled_back")).body?["outcome"] == .string("ignored"))
        // A good change: also accept rolled_back, as a rollback.
        let extended =
            deployRules + """

                  - name: rollback
                    when: { payload.state: rolled_back }
                    event: { type: rollback, description: "{{ payload.service }} rolled back" }
                """
        try extended.write(toFile: h.mappingsPath + "/deploys.yaml", atomically: true, encoding: .utf8)
        await h.eventually("reloaded") { h.logText.contains("rules reloaded (files changed)") }
        #expect(try await h.postGitHub(body: deployBody(state: "rolled_back")).body?["events"] == .number(1))
        // A broken change is refused with its diagnostics; the rules in force stay.
        try (extended + "\n    bogus: 1\n").write(
            toFile: h.mappingsPath + "/deploys.yaml", atomically: true, encoding: .utf8)
        await h.eventually("refused") { h.logText.contains("rule reload (files changed) refused") }
        #expect(h.logText.contains("deploys.yaml:25:5: error: unknown key 'bogus' in a rule"))
        // (Another body: the same one again would be a replay, `dedupe: body` of the github preset.)
        #expect(
            try await h.postGitHub(body: deployBody(service: "web", state: "rolled_back")).body?["events"] == .number(1)
        )
        let metrics = try await h.get("/metrics")
        #expect(metrics.text.contains(#"bridge_rule_reloads_total{result="succeeded"} 1"#))
        #expect(metrics.text.contains(#"bridge_rule_reloads_total{result="failed"} 1"#))
        // SIGHUP-style reload through the same path, and a Kubernetes-style symlink swap.
        let dataDir = h.mappingsPath + "/..2024_v2"
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        try deployRules.write(toFile: dataDir + "/deploys.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(atPath: h.mappingsPath + "/deploys.yaml")
        try FileManager.default.createSymbolicLink(atPath: h.mappingsPath + "/..data", withDestinationPath: "..2024_v2")
        try FileManager.default.createSymbolicLink(
            atPath: h.mappingsPath + "/deploys.yaml", withDestinationPath: "..data/deploys.yaml")
        await h.eventually("reloaded from the symlinked file") {
            // A new body each time: one accepted under the old rules would make the next a replay.
            let body = deployBody(service: "svc-\(UUID().uuidString.prefix(8))", state: "rolled_back")
            return (try? await h.postGitHub(body: body))?.body?["outcome"] == .string("ignored")
        }
        await h.finish()
    }
}
