import Foundation
import Testing

@testable import BridgeCore
@testable import BridgeVerification

/// Runs the built `cloudthread-bridge` binary from the package root.
func runCLI(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, output: String)
{
    try await offPool { try runCLIBlocking(arguments, environment: environment) }
}

func runCLIBlocking(_ arguments: [String], environment: [String: String]) throws -> (status: Int32, output: String) {
    let binary = packageRoot + "/.build/debug/cloudthread-bridge"
    try #require(FileManager.default.isExecutableFile(atPath: binary), "build the executable first (swift build)")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: packageRoot)
    process.environment = environment
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

let cliFixtures = "Tests/BridgeServerTests/Fixtures/cli"

@Suite("Command line", .serialized)
struct CLITests {
    @Test func checkReportsEveryProblemAndExitsOne() async throws {
        let (status, output) = try await runCLI(["check", "\(cliFixtures)/broken.yaml"])
        #expect(status == 1)
        #expect(
            output
                == (try String(contentsOfFile: "\(packageRoot)/\(cliFixtures)/check-broken.expected", encoding: .utf8)))
        #expect(
            output.contains(
                "broken.yaml:11:7: error: unknown key 'descripton' in an event; did you mean 'description'?"))
        let shipped = try await runCLI(["check", "mappings/"])
        #expect(shipped.status == 0, "\(shipped.output)")
        #expect(shipped.output.hasSuffix("0 errors, 0 warnings\n"))
    }

    @Test func testRunsRuleFileTestsLikeATestRunner() async throws {
        let (status, output) = try await runCLI(["test", "\(cliFixtures)/deploys.yaml"])
        #expect(status == 1)
        #expect(
            output
                == (try String(contentsOfFile: "\(packageRoot)/\(cliFixtures)/test-deploys.expected", encoding: .utf8)))
        #expect(output.hasSuffix("1 passed, 1 failed\n"))
    }

    @Test func tryExplainsEachRuleAndShowsTheRequests() async throws {
        let (status, output) = try await runCLI([
            "try", "--mappings", "\(cliFixtures)/deploys.yaml", "--source", "deploys",
            "--body", "Tests/BridgeServerTests/Fixtures/payloads/deployment_status.json", "--header",
            "X-GitHub-Event: deployment_status",
        ])
        #expect(status == 0)
        #expect(
            output
                == (try String(contentsOfFile: "\(packageRoot)/\(cliFixtures)/try-deploys.expected", encoding: .utf8)))
        #expect(output.contains("  FAIL payload.deployment.task equals \"rollback\"; saw \"deploy\"\n"))
    }

    @Test func signPrintsTheHeadersASourceExpects() async throws {
        let body = "Tests/BridgeServerTests/Fixtures/payloads/deployment_status.json"
        let (status, output) = try await runCLI(
            ["sign", "--preset", "github", "--body", body, "--secret-env", "S"],
            environment: ["S": "It's a Secret to Everybody"])
        #expect(status == 0)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(packageRoot)/\(body)")))
        #expect(
            output
                == "X-Hub-Signature-256: sha256=\(ByteEncoding.hex(Crypto.hmac(.sha256, key: Array("It's a Secret to Everybody".utf8), data: bytes)))\n"
        )
        let missing = try await runCLI(["sign", "--preset", "github", "--body", body])
        #expect(missing.status != 0)
        #expect(missing.output.contains("the secret variable GITHUB_WEBHOOK_SECRET is not set"))
    }

    @Test func sendExitsNonZeroWhenTheBridgeRefuses() async throws {
        let h = try await BridgeHarness(rules: [
            "ci.yaml":
                "source: ci\nverify: { preset: ci, secrets: [\"${TEST_WEBHOOK_SECRET}\"] }\nrules: [{ name: r, when: { payload.kind: deploy }, event: { type: deploy, description: \"{{ payload.service }}\" } }]\n"
        ]) {
            $0.environment = [
                "TEST_WEBHOOK_SECRET": "whsec_" + ByteEncoding.base64(Array("right-secret-right-secret".utf8))
            ]
        }
        try await h.start()
        let url = "http://127.0.0.1:\(h.port)"
        let ok = try await runCLI(
            ["send", "--url", url, "--service", "api", "--environment", "production"],
            environment: ["CI_WEBHOOK_SECRET": "whsec_" + ByteEncoding.base64(Array("right-secret-right-secret".utf8))])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.hasPrefix("sent deploy for api: HTTP 202"))
        let refused = try await runCLI(
            ["send", "--url", url, "--service", "api"],
            environment: ["CI_WEBHOOK_SECRET": "whsec_" + ByteEncoding.base64(Array("wrong".utf8))])
        #expect(refused.status == 1)
        #expect(
            refused.output.contains(
                "error: the bridge refused the webhook: HTTP 401 {\"error\":\"signature verification failed\"}"))
        await h.eventually("sent") { h.fake.events.count == 1 }
        await h.finish()
    }

    @Test func checkResolvesTeamNamesWhenItCanReachTheAPI() async throws {
        let fake = FakeCloudthread()
        try await fake.start()
        let (status, output) = try await runCLI(
            ["check", "\(cliFixtures)/deploys.yaml"],
            environment: ["CLOUDTHREAD_API_KEY": "test-api-key", "CLOUDTHREAD_API_URL": fake.baseURL])
        #expect(status == 0, "\(output)")
        let offline = try await runCLI(
            ["check", "\(cliFixtures)/deploys.yaml"],
            environment: ["CLOUDTHREAD_API_KEY": "wrong", "CLOUDTHREAD_API_URL": fake.baseURL])
        #expect(
            offline.output.contains(
                "warning: team names were not checked: GET \(fake.baseURL)/teams failed, because Cloudthread refused "
                    + "the API key (HTTP 401)."))
        fake.state.withLock { $0.teams = [("3", "platform")] }
        let unknown = try await runCLI(
            ["check", "\(cliFixtures)/deploys.yaml"],
            environment: ["CLOUDTHREAD_API_KEY": "test-api-key", "CLOUDTHREAD_API_URL": fake.baseURL])
        #expect(unknown.status == 1)
        #expect(
            unknown.output.contains("deploys.yaml:25:36: error: unknown Cloudthread team 'payments' (teams: platform)"))
        // Nothing listening: the message says which URL could not be reached and why, in words.
        let port = fake.baseURL.split(separator: ":").last.map(String.init) ?? ""
        await fake.stop()
        let unreachable = try await runCLI(
            ["check", "\(cliFixtures)/deploys.yaml"],
            environment: ["CLOUDTHREAD_API_KEY": "test-api-key", "CLOUDTHREAD_API_URL": "http://127.0.0.1:\(port)"])
        #expect(
            unreachable.output.contains(
                "team names were not checked: GET http://127.0.0.1:\(port)/teams failed, because the request failed, "
                    + "and can be tried again later: network error: the connection was refused."),
            "\(unreachable.output)")
        #expect(!unreachable.output.contains("retry(reason"), "\(unreachable.output)")
    }
}
