import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

@testable import BridgeCore
@testable import BridgeServer
@testable import BridgeVerification

/// Issue 18, point 1: behind a trusted proxy the client is the address the proxy names; from anyone else the
/// forwarding headers are ignored.
@Suite("Behind a proxy", .serialized)
struct TrustedProxyTests {
    static func forged(_ h: BridgeHarness, _ extra: [(String, String)]) async throws -> Int {
        let body = deployBody()
        let headers =
            [
                ("Content-Type", "application/json"), ("X-GitHub-Event", "deployment_status"),
                ("X-Hub-Signature-256", "sha256=" + String(repeating: "0", count: 64)),
            ] + extra
        return try await h.post("/hooks/deploys", headers: headers, body: body).status
    }

    static func valid(_ h: BridgeHarness, _ extra: [(String, String)], service: String = "api") async throws
        -> BridgeHarness.Answer
    {
        let body = deployBody(service: service)
        let signature =
            "sha256=" + ByteEncoding.hex(Crypto.hmac(.sha256, key: Array(BridgeHarness.secret.utf8), data: body))
        let headers =
            [
                ("Content-Type", "application/json"), ("X-GitHub-Event", "deployment_status"),
                ("X-Hub-Signature-256", signature), ("X-GitHub-Delivery", UUID().uuidString),
            ] + extra
        return try await h.post("/hooks/deploys", headers: headers, body: body)
    }

    @Test func throughATrustedProxyOneClientsFloodDoesNotLockOutAnother() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules]) { c in
            c.refusalLimit = 3
            c.trustedProxies = TrustedProxies([CIDR("127.0.0.0/8")!, CIDR("10.0.0.0/8")!])
        }
        try await h.start()
        // The attacker, one hop behind two trusted proxies, writes its own (forged) left part.
        let attacker = [("X-Forwarded-For", "1.2.3.4, 203.0.113.5, 10.1.2.3")]
        for _ in 0..<3 { #expect(try await Self.forged(h, attacker) == 401) }
        #expect(try await Self.forged(h, attacker) == 429)
        // The forged left part changes nothing: the client is still 203.0.113.5.
        #expect(try await Self.forged(h, [("X-Forwarded-For", "9.9.9.9, 203.0.113.5, 10.1.2.3")]) == 429)
        #expect(try await Self.forged(h, [("X-Forwarded-For", "203.0.113.5")]) == 429)
        #expect(try await Self.forged(h, [("Forwarded", #"for=203.0.113.5;proto=https, for="10.1.2.3:4711""#)]) == 429)
        // Another client through the same proxy is not limited.
        let other = try await Self.valid(h, [("X-Forwarded-For", "198.51.100.7")])
        #expect(other.status == 202, "\(other.text)")
        let v6 = try await Self.valid(
            h, [("Forwarded", #"for="[2001:db8:cafe::17]:4711""#)], service: "v6")
        #expect(v6.status == 202, "\(v6.text)")
        // The refusals and the stored request name the client, not the proxy.
        let refused = h.bridge.ingestor.refusals.recent(limit: 10, source: nil)
        #expect(refused.count == 3)
        #expect(refused.allSatisfy { $0.clientAddress == "203.0.113.5" })
        let stored = try await h.bridge.store.deliveries(limit: 10, source: nil)
        #expect(stored.count == 2)
        var clients: Set<String> = []
        for summary in stored {
            clients.insert(try await h.bridge.store.deliveryDetail(id: summary.id)?.request?.clientAddress ?? "")
        }
        #expect(clients == ["198.51.100.7", "2001:db8:cafe::17"])
        await h.finish()
    }

    @Test func anUntrustedPeerCannotEscapeTheLimitByWritingHeaders() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules]) { c in
            c.refusalLimit = 3
            c.trustedProxies = TrustedProxies([CIDR("10.0.0.0/8")!])  // not the loopback peer
        }
        try await h.start()
        for i in 0..<3 { #expect(try await Self.forged(h, [("X-Forwarded-For", "198.51.100.\(i)")]) == 401) }
        for i in 3..<6 {
            #expect(try await Self.forged(h, [("X-Forwarded-For", "198.51.100.\(i)")]) == 429)
            #expect(try await Self.forged(h, [("Forwarded", "for=198.51.100.\(i)")]) == 429)
        }
        #expect(try await Self.valid(h, [("X-Forwarded-For", "192.0.2.1")]).status == 429)
        #expect(
            h.bridge.ingestor.refusals.recent(limit: 10, source: nil).allSatisfy { $0.clientAddress == "127.0.0.1" })
        await h.finish()
    }

    @Test func allowNetworksSeesTheClientBehindTheProxy() async throws {
        let rules = deployRules.replacingOccurrences(
            of: #"  secrets: ["${TEST_WEBHOOK_SECRET}"]"#,
            with: #"""
                  secrets: ["${TEST_WEBHOOK_SECRET}"]
                  allow_networks: ["203.0.113.0/24"]
                """#)
        #expect(rules.contains("allow_networks"))
        let h = try await BridgeHarness(rules: ["deploys.yaml": rules]) { c in
            c.trustedProxies = TrustedProxies([CIDR("127.0.0.1")!])
        }
        try await h.start()
        #expect(try await Self.valid(h, [("X-Forwarded-For", "203.0.113.44")]).status == 202)
        #expect(try await Self.valid(h, [("X-Forwarded-For", "198.51.100.7")], service: "b").status == 403)
        #expect(try await Self.valid(h, [], service: "c").status == 403)
        await h.finish()
    }

    @Test func theHeadersAreReadAsRFC7239AndXForwardedForSay() throws {
        let proxies = TrustedProxies([CIDR("10.0.0.0/8")!, CIDR("fd00::/8")!])
        #expect(proxies.client(peer: "192.0.2.9", forwarded: [], forwardedFor: ["1.1.1.1"]) == "192.0.2.9")
        #expect(proxies.client(peer: "10.0.0.1", forwarded: [], forwardedFor: []) == "10.0.0.1")
        #expect(proxies.client(peer: "10.0.0.1", forwarded: [], forwardedFor: ["1.1.1.1, 10.0.0.2"]) == "1.1.1.1")
        #expect(proxies.client(peer: "10.0.0.1", forwarded: [], forwardedFor: ["5.5.5.5", "1.1.1.1:80"]) == "1.1.1.1")
        #expect(proxies.client(peer: "10.0.0.1", forwarded: [], forwardedFor: ["1.1.1.1, junk"]) == "10.0.0.1")
        #expect(
            proxies.client(
                peer: "fd00::1", forwarded: [#"for="[2001:db8::1]:443";by=x, for=10.9.9.9"#], forwardedFor: [])
                == "2001:db8::1")
        #expect(proxies.client(peer: "10.0.0.1", forwarded: ["for=unknown"], forwardedFor: ["1.1.1.1"]) == "10.0.0.1")
        #expect(throws: ConfigurationError.self) {
            try BridgeConfiguration.fromEnvironment(["BRIDGE_TRUSTED_PROXIES": "10.0.0.0/8, not-a-network"])
        }
        #expect(
            try BridgeConfiguration.fromEnvironment(["BRIDGE_TRUSTED_PROXIES": "10.0.0.0/8, ::1"]).trustedProxies
                .networks.count == 2)
    }
}
