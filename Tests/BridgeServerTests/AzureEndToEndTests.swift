import AsyncHTTPClient
import Foundation
import JWTKit
import NIOCore
import Testing

@testable import BridgeCore
@testable import BridgeVerification

/// Azure over HTTP on loopback: Event Grid's two handshakes, a delivery of several events with a shared secret or an
/// Entra ID token (keys pre-seeded with AZURE_JWKS_FILE), and an Azure Monitor alert. The shipped rule files are used.
@Suite("Azure end to end", .serialized)
struct AzureEndToEndTests {
    static let tenant = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    static let audience = "api://cloudthread-bridge"
    static let secret = "event-grid-secret-1"

    static func shipped(_ name: String) throws -> String {
        try String(contentsOfFile: packageRoot + "/mappings/\(name)", encoding: .utf8)
    }

    static func example(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: packageRoot + "/mappings/examples/\(path)")))
    }

    /// The shipped rule files, with their `body_file:` paths still resolvable (examples are copied beside them).
    func harness(_ environment: [String: String]) async throws -> BridgeHarness {
        let h = try await BridgeHarness(rules: [
            "azure-eventgrid.yaml": try Self.shipped("azure-eventgrid.yaml"),
            "azure-monitor.yaml": try Self.shipped("azure-monitor.yaml"),
        ]) { $0.environment = environment }
        try FileManager.default.copyItem(
            atPath: packageRoot + "/mappings/examples", toPath: h.mappingsPath + "/examples")
        try await h.start()
        return h
    }

    @Test func eventGridHandshakesAndADeliveryWithTheSharedSecret() async throws {
        let h = try await harness(["AZURE_EVENTGRID_WEBHOOK_SECRET": Self.secret])
        // The subscription validation event is answered with its code.
        let validation = try await h.post(
            "/hooks/azure-eventgrid?code=\(Self.secret)", headers: [("Content-Type", "application/json")],
            body: try Self.example("azure-eventgrid/subscription-validation.json"))
        #expect(validation.status == 200, "\(validation.text)")
        #expect(validation.body?["validationResponse"] == .string("512d38b6-c7b8-40c8-89fe-f46f9e9622b6"))
        // The CloudEvents handshake.
        var options = HTTPClientRequest(url: "http://127.0.0.1:\(h.port)/hooks/azure-eventgrid")
        options.method = .OPTIONS
        options.headers.add(name: "WebHook-Request-Origin", value: "eventgrid.azure.net")
        let answer = try await HTTPClient.shared.execute(options, timeout: .seconds(10))
        #expect(answer.status.code == 200)
        #expect(answer.headers.first(name: "WebHook-Allowed-Origin") == "eventgrid.azure.net")
        // Another origin, or a source that is not an Event Grid one, gets no handshake.
        var elsewhere = HTTPClientRequest(url: "http://127.0.0.1:\(h.port)/hooks/azure-eventgrid")
        elsewhere.method = .OPTIONS
        elsewhere.headers.add(name: "WebHook-Request-Origin", value: "attacker.example")
        #expect(try await HTTPClient.shared.execute(elsewhere, timeout: .seconds(10)).status.code == 404)
        var monitor = HTTPClientRequest(url: "http://127.0.0.1:\(h.port)/hooks/azure-monitor")
        monitor.method = .OPTIONS
        monitor.headers.add(name: "WebHook-Request-Origin", value: "eventgrid.azure.net")
        #expect(try await HTTPClient.shared.execute(monitor, timeout: .seconds(10)).status.code == 404)
        // A validation event without the secret is not answered with its code.
        let unauthenticated = try await h.post(
            "/hooks/azure-eventgrid", body: try Self.example("azure-eventgrid/subscription-validation.json"))
        #expect(unauthenticated.status == 401)
        #expect(unauthenticated.body?["validationResponse"] == nil)
        // Two events in one delivery: both mapped; the same delivery again is a duplicate.
        let body = try Self.example("azure-eventgrid/two-events.json")
        let first = try await h.post(
            "/hooks/azure-eventgrid?code=\(Self.secret)", headers: [("Content-Type", "application/json")], body: body)
        #expect(first.status == 202, "\(first.text)")
        #expect(first.body?["events"] == .number(2))
        let again = try await h.post(
            "/hooks/azure-eventgrid", headers: [("X-Webhook-Secret", Self.secret)], body: body)
        #expect(again.status == 200, "\(again.text)")
        // A wrong secret is refused.
        let forged = try await h.post("/hooks/azure-eventgrid?code=not-it", body: body)
        #expect(forged.status == 401)
        await h.eventually("annotated") { h.fake.events.count == 2 }
        await h.finish()
    }

    @Test func anEntraIDTokenOfTheTenantIsAcceptedAndAnotherTenantsRefused() async throws {
        let pair = try #require(Crypto.rsaGenerate())
        let kid = "entra-e2e"
        let key = try Insecure.RSA.PublicKey(pem: Crypto.pemEncode(pair.publicDER, label: "PUBLIC KEY"))
        let (n, e) = try key.getKeyPrimitives()
        let jwks: [String: Any] = [
            "keys": [
                [
                    "kty": "RSA", "use": "sig", "kid": kid, "n": ByteEncoding.base64URL(Array(n)),
                    "e": ByteEncoding.base64URL(Array(e)),
                ]
            ]
        ]
        let file = NSTemporaryDirectory() + "ctb-entra-\(UUID().uuidString).json"
        try JSONSerialization.data(withJSONObject: jwks).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        func token(tenant: String) throws -> String {
            let t = Int(Date().timeIntervalSince1970)
            let claims: [String: Any] = [
                "iss": "https://sts.windows.net/\(tenant)/", "aud": Self.audience, "tid": tenant, "iat": t - 5,
                "nbf": t - 5, "exp": t + 3600,
            ]
            let input =
                ByteEncoding.base64URL(
                    Array(try JSONSerialization.data(withJSONObject: ["alg": "RS256", "kid": kid, "typ": "JWT"])))
                + "." + ByteEncoding.base64URL(Array(try JSONSerialization.data(withJSONObject: claims)))
            let signature = try #require(
                Crypto.rsaSign(privateKeyDER: pair.privateDER, message: Array(input.utf8), digest: .sha256))
            return input + "." + ByteEncoding.base64URL(signature)
        }
        let h = try await harness([
            "AZURE_EVENTGRID_TENANT_ID": Self.tenant, "AZURE_EVENTGRID_AUDIENCE": Self.audience,
            "AZURE_JWKS_FILE": file,
        ])
        let body = try Self.example("azure-eventgrid/webapp-deployment-completed.json")
        let accepted = try await h.post(
            "/hooks/azure-eventgrid", headers: [("Authorization", "Bearer \(try token(tenant: Self.tenant))")],
            body: body)
        #expect(accepted.status == 202, "\(accepted.text)")
        #expect(accepted.body?["events"] == .number(1))
        let elsewhere = try await h.post(
            "/hooks/azure-eventgrid",
            headers: [("Authorization", "Bearer \(try token(tenant: "ffffffff-0000-0000-0000-000000000000"))")],
            body: try Self.example("azure-eventgrid/webapp-slot-swap-completed.json"))
        #expect(elsewhere.status == 401)
        // The shared secret does not stand in for the token when a tenant is configured.
        let withSecret = try await h.post("/hooks/azure-eventgrid?code=anything", body: body)
        #expect(withSecret.status == 401)
        await h.finish()
    }

    @Test func anAzureMonitorAlertBecomesItsIncidentAndCount() async throws {
        let h = try await harness(["AZURE_MONITOR_WEBHOOK_SECRET": "monitor-token"])
        let answer = try await h.post(
            "/hooks/azure-monitor?token=monitor-token", headers: [("Content-Type", "application/json")],
            body: try Self.example("azure-monitor/metric-alert-fired.json"))
        #expect(answer.status == 202, "\(answer.text)")
        #expect(answer.body?["events"] == .number(1))
        #expect(answer.body?["metrics"] == .number(1))
        await h.eventually("annotated") { h.fake.events.count == 1 }
        #expect(h.fake.events.first?["payload"]?["type"] == .string("incident"))
        await h.finish()
    }
}
