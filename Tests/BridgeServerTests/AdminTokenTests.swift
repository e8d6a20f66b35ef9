import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

@testable import BridgeCore
@testable import BridgeServer
@testable import BridgeVerification

/// Issue 18, point 6: the admin token cannot be guessed without limit, and a short one stops `serve`.
@Suite("The admin token", .serialized)
struct AdminTokenTests {
    static let token = "an-admin-token-of-forty-characters-00000"

    static func harness() async throws -> BridgeHarness {
        // Loopback is a trusted proxy here, so X-Forwarded-For plays the client's address.
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules]) { c in
            c.adminToken = Secret(Self.token)
            c.trustedProxies = TrustedProxies([CIDR("127.0.0.1")!])
        }
        try await h.start()
        return h
    }

    static func admin(_ h: BridgeHarness, from address: String, token: String) async throws -> (Int, String?) {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(h.port)/admin/outbox")
        request.headers.add(name: "X-Forwarded-For", value: address)
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), response.headers.first(name: "Retry-After"))
    }

    static func signIn(_ h: BridgeHarness, from address: String, token: String) async throws -> ConsoleTests.Page {
        let b = ConsoleTests.Browser(port: h.port)
        defer { Task { await b.close() } }
        return try await b.request(
            .POST, "/ui/login", form: [("token", token)], headers: [("X-Forwarded-For", address)])
    }

    @Test func bearerGuessesAreStoppedAfterTenPerAddress() async throws {
        let h = try await Self.harness()
        for i in 0..<10 { #expect(try await Self.admin(h, from: "203.0.113.5", token: "guess-\(i)").0 == 401) }
        let (status, retryAfter) = try await Self.admin(h, from: "203.0.113.5", token: "guess-10")
        #expect(status == 429)
        let wait = Int(retryAfter ?? "") ?? 0
        #expect(wait > 540 && wait <= 600, "Retry-After: \(retryAfter ?? "none")")
        // Even the right token, from that address: refused until the window ends.
        #expect(try await Self.admin(h, from: "203.0.113.5", token: Self.token).0 == 429)
        // The right token from another address still works.
        #expect(try await Self.admin(h, from: "198.51.100.7", token: Self.token).0 == 200)
        // The count is shared with the console's sign-in.
        let page = try await Self.signIn(h, from: "203.0.113.5", token: Self.token)
        #expect(page.status == 429)
        #expect(page.headers["Set-Cookie"].isEmpty)
        #expect(page.text.contains("Too many wrong tokens from this address"))
        await h.finish()
    }

    @Test func consoleSignInGuessesAreStoppedAfterTenPerAddress() async throws {
        let h = try await Self.harness()
        for i in 0..<10 {
            #expect(try await Self.signIn(h, from: "192.0.2.9", token: "guess-\(i)").status == 401)
        }
        let limited = try await Self.signIn(h, from: "192.0.2.9", token: "guess-10")
        #expect(limited.status == 429)
        #expect(Int(limited.headers["Retry-After"].first ?? "") != nil)
        #expect(limited.headers["X-Frame-Options"].first == "DENY")
        #expect(try await Self.signIn(h, from: "192.0.2.9", token: Self.token).status == 429)
        let other = try await Self.signIn(h, from: "192.0.2.10", token: Self.token)
        #expect(other.status == 303)
        #expect(!other.headers["Set-Cookie"].isEmpty)
        await h.finish()
    }

    @Test func aShortAdminTokenStopsTheBridge() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules]) { $0.adminToken = Secret("short-token") }
        await #expect(throws: ConfigurationError.self) { try await h.start() }
        await h.finish()
        let dir = NSTemporaryDirectory() + "ctb-short-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, output) = try await runCLI(
            ["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", dir],
            environment: ["BRIDGE_ADMIN_TOKEN": "0123456789abcdef0123456789abcde"])
        #expect(status == 1)
        #expect(
            output.contains("BRIDGE_ADMIN_TOKEN must be at least 32 characters long (this one has 31)"), "\(output)")
        #expect(output.contains("openssl rand -hex 32"))
        #expect(!output.contains("0123456789abcdef0123456789abcde"))
    }
}
