import AsyncHTTPClient
import BridgeStore
import Foundation
import NIOCore
import Testing

@testable import BridgeCore
@testable import BridgeDelivery
@testable import BridgeServer
@testable import BridgeVerification

/// Issue 18, point 7: the header a source verifies with is masked in every stored request, whatever its name.
@Suite("Masking by role", .serialized)
struct CredentialMaskingTests {
    static let passcodeRules = """
        source: passcode
        verify:
          token: { header: X-Passcode }
          secrets: ["${TEST_WEBHOOK_SECRET}"]
        rules:
          - name: all
            event: { type: deploy, description: "{{ payload.service }}" }
        """

    static let hmacRules = """
        source: innocent
        verify:
          hmac:
            algorithm: sha256
            header: X-Check
            encoding: base64
          secrets: ["${TEST_WEBHOOK_SECRET}"]
        rules:
          - name: all
            event: { type: deploy, description: "{{ payload.service }}" }
        """

    @Test func theVerifyingHeaderIsMaskedWhateverItsName() async throws {
        let h = try await BridgeHarness(rules: ["passcode.yaml": Self.passcodeRules, "innocent.yaml": Self.hmacRules]) {
            $0.adminToken = Secret(ConsoleTests.adminToken)
        }
        try await h.start()
        let body = Array(#"{"service":"api"}"#.utf8)
        let passcode = try await h.post(
            "/hooks/passcode",
            headers: [
                ("Content-Type", "application/json"), ("X-Passcode", BridgeHarness.secret), ("X-Other", "shown"),
            ],
            body: body)
        #expect(passcode.status == 202, "\(passcode.text)")
        let mac = ByteEncoding.base64(Crypto.hmac(.sha256, key: Array(BridgeHarness.secret.utf8), data: body))
        let hmac = try await h.post(
            "/hooks/innocent", headers: [("Content-Type", "application/json"), ("x-check", mac)], body: body)
        #expect(hmac.status == 202, "\(hmac.text)")

        for summary in try await h.bridge.store.deliveries(limit: 10, source: nil) {
            let headers = try #require(try await h.bridge.store.deliveryDetail(id: summary.id)?.request?.headers)
            let text = headers.map { $0.joined(separator: ": ") }.joined(separator: "\n")
            #expect(!text.contains(BridgeHarness.secret), "\(text)")
            #expect(!text.contains(mac), "\(text)")
            #expect(text.contains(StoredRequest.mask))
        }
        // The console shows the stored request: neither credential appears on any delivery page.
        let b = ConsoleTests.Browser(port: h.port)
        #expect(try await b.signIn().status == 303)
        for id in 1...2 {
            let page = try await b.get("/ui/deliveries/\(id)")
            #expect(page.status == 200)
            #expect(!page.text.contains(BridgeHarness.secret))
            #expect(!page.text.contains(mac))
            #expect(page.text.contains(StoredRequest.mask))
        }
        #expect(try await b.get("/ui/deliveries/1").text.contains("shown"))
        await b.close()
        await h.finish()
    }

    @Test func everySchemeNamesItsCredentialHeader() {
        #expect(VerificationScheme.token(header: "X-Passcode", prefix: "").credentialHeaders == ["X-Passcode"])
        #expect(VerificationScheme.basic(user: "u").credentialHeaders == ["Authorization"])
        let heroku = VerificationPreset.named("heroku")!.scheme
        #expect(heroku.credentialHeaders.contains { $0.lowercased() == "heroku-webhook-hmac-sha256" })
        #expect(VerificationScheme.unverified.credentialHeaders.isEmpty)
    }
}
