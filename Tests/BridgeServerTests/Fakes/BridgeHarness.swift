import AsyncHTTPClient
import Foundation
import InMemoryLogging
import Logging
import NIOCore
import Synchronization
import Testing

@testable import BridgeCore
@testable import BridgeServer
@testable import BridgeVerification

/// Runs a real bridge (HTTP on loopback, SQLite in a temporary directory) against a fake Cloudthread.
final class BridgeHarness: Sendable {
    let directory: String
    let fake: FakeCloudthread
    let logs = InMemoryLogHandler()
    private let running = Mutex<(bridge: Bridge?, task: Task<Void, any Error>?, port: Int)>((nil, nil, 0))
    let configure: @Sendable (inout BridgeConfiguration) -> Void

    static let secret = "It's a Secret to Everybody"

    /// - Parameters:
    ///   - rules: rule files by name, written to `<dir>/mappings`.
    ///   - configure: adjusts the configuration (API key, batch size, ...).
    init(rules: [String: String], configure: @escaping @Sendable (inout BridgeConfiguration) -> Void = { _ in })
        async throws
    {
        directory = NSTemporaryDirectory() + "ctb-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/mappings", withIntermediateDirectories: true)
        for (name, text) in rules {
            try text.write(toFile: "\(directory)/mappings/\(name)", atomically: true, encoding: .utf8)
        }
        fake = FakeCloudthread()
        try await fake.start()
        self.configure = configure
    }

    var port: Int { running.withLock { $0.port } }
    var bridge: Bridge { running.withLock { $0.bridge! } }
    var mappingsPath: String { directory + "/mappings" }

    func configuration() -> BridgeConfiguration {
        var c = BridgeConfiguration()
        c.host = "127.0.0.1"
        c.port = 0
        c.mappingsPath = mappingsPath
        c.dataDirectory = directory + "/data"
        c.apiURL = fake.baseURL
        c.apiKey = Secret("test-api-key")
        c.streamToken = Secret("stream-token-1")
        // The tests replay payloads from 2024: keep aggregates long enough for their hours to be accepted.
        c.retentionDays = 36500
        c.environment = ["TEST_WEBHOOK_SECRET": BridgeHarness.secret]
        c.forwarder.pollInterval = .milliseconds(100)
        c.forwarder.retry = .exponentialJitter(base: 0.05, cap: 0.3, floor: 0.02)
        c.forwarder.pauseInterval = 0.5
        c.forwarder.maxPauseInterval = 1
        c.watchMappings = true
        configure(&c)
        return c
    }

    func start() async throws {
        let ready = AsyncStream<Int>.makeStream()
        let logs = self.logs
        let logger = Logger(label: "test") { _ in logs }
        let bridge = try await Bridge(configuration: configuration(), logger: logger) { port in
            ready.continuation.yield(port)
        }
        let task = Task { try await bridge.run() }
        var iterator = ready.stream.makeAsyncIterator()
        let port = await iterator.next() ?? 0
        running.withLock { $0 = (bridge, task, port) }
    }

    /// Graceful shutdown, as on SIGTERM; waits until the bridge has stopped.
    func stop() async throws {
        let (bridge, task, _) = running.withLock { $0 }
        await bridge?.shutdown()
        try await task?.value
        running.withLock { $0 = (nil, nil, 0) }
    }

    func finish() async {
        try? await stop()
        await fake.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    struct Answer {
        var status: Int
        var body: JSONValue?
        var text: String
    }

    /// POSTs a webhook over loopback.
    func post(_ path: String, headers: [(String, String)] = [], body: [UInt8]) async throws -> Answer {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .POST
        for (n, v) in headers { request.headers.add(name: n, value: v) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let buffer = try await response.body.collect(upTo: 1 << 20)
        let text = String(buffer: buffer)
        return Answer(status: Int(response.status.code), body: try? JSONValue.parse(Array(text.utf8)), text: text)
    }

    func get(_ path: String, headers: [(String, String)] = []) async throws -> Answer {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        for (n, v) in headers { request.headers.add(name: n, value: v) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let buffer = try await response.body.collect(upTo: 4 << 20)
        let text = String(buffer: buffer)
        return Answer(status: Int(response.status.code), body: try? JSONValue.parse(Array(text.utf8)), text: text)
    }

    /// Signs `body` the way GitHub does and posts it to `/hooks/<source>`.
    func postGitHub(
        _ source: String = "deploys", body: [UInt8], delivery: String? = UUID().uuidString,
        event: String = "deployment_status", secret: String = BridgeHarness.secret
    ) async throws -> Answer {
        let signature = "sha256=" + ByteEncoding.hex(Crypto.hmac(.sha256, key: Array(secret.utf8), data: body))
        var headers = [
            ("Content-Type", "application/json"), ("X-GitHub-Event", event), ("X-Hub-Signature-256", signature),
        ]
        if let delivery { headers.append(("X-GitHub-Delivery", delivery)) }
        return try await post("/hooks/\(source)", headers: headers, body: body)
    }

    /// Waits until `condition` holds (checked every 20 ms), failing the test after `timeout`.
    func eventually(
        _ what: String, timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: () async throws -> Bool
    ) async rethrows {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("timed out waiting for: \(what)", sourceLocation: sourceLocation)
    }

    /// Every logged line with its metadata, for secret-leak assertions.
    var logText: String {
        logs.entries.map { "\($0.level) \($0.message) \($0.metadata)" }.joined(separator: "\n")
    }
}

/// A deploy rule file like the shipped GitHub one, reading the secret from TEST_WEBHOOK_SECRET.
let deployRules = """
    source: deploys
    verify:
      preset: github
      secrets: ["${TEST_WEBHOOK_SECRET}"]
    rules:
      - name: deploy
        when:
          header.X-GitHub-Event: deployment_status
          payload.state: [success, failure]
        event:
          type: deploy
          time: payload.at
          description: "{{ payload.service }} to {{ payload.env }}: {{ payload.state }}"
          url: "{{ payload.url }}"
          team: "{{ payload.team }}"
        metric:
          name: deployments
          aggregate: Sum
          value: 1
          time: payload.at
          dimensions: { service: "{{ payload.service }}", environment: "{{ payload.env }}" }
    """

func deployBody(
    service: String = "api", env: String = "production", state: String = "success", at: String = "2024-05-01T14:05:00Z",
    url: String = "https://ci.example.com/run/1", team: String = "", extra: String = ""
) -> [UInt8] {
    Array(
        """
        {"service":"\(service)","env":"\(env)","state":"\(state)","at":"\(at)","url":"\(url)","team":"\(team)"\(extra)}
        """.utf8)
}
