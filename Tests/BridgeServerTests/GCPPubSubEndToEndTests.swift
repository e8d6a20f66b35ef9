import Foundation
import JWTKit
import Testing

@testable import BridgeCore
@testable import BridgeVerification

/// A Pub/Sub push subscription with authentication, end to end over HTTP on loopback: a push whose OIDC token is
/// valid becomes the event and the data point of its rules (`message.` is the JSON inside `data`); every bad token
/// is refused 401. Google's keys are test keys pre-seeded with GCP_JWKS_FILE, so nothing is fetched.
@Suite("Google Cloud Pub/Sub push end to end", .serialized)
struct GCPPubSubEndToEndTests {
    static let audience = "https://bridge.example.com/hooks/gcp-pubsub"
    static let account = "pubsub-push@my-project.iam.gserviceaccount.com"
    static let rules = """
        source: gcp-pubsub
        verify:
          preset: gcp-pubsub
          audience: "${GCP_PUBSUB_AUDIENCE}"
          service_accounts: ["${GCP_PUBSUB_SERVICE_ACCOUNT}"]
        rules:
          - name: build
            when:
              payload.message.attributes.status: [SUCCESS, FAILURE]
            event:
              type: deploy
              time: message.finishTime
              description: "{{ message.substitutions.REPO_NAME }}: {{ message.status | lower }}"
            metric:
              name: deployments
              aggregate: Sum
              value: 1
              time: message.finishTime
              dimensions:
                result: "{{ message.status | lower }}"
        """

    /// Test keys: a key pair, its JWKS written where GCP_JWKS_FILE points.
    struct Keys {
        let kid = "e2e-key"
        let privateDER: [UInt8]
        let publicDER: [UInt8]
        let directory: String

        init() throws {
            let pair = try #require(Crypto.rsaGenerate())
            privateDER = pair.privateDER
            publicDER = pair.publicDER
            directory = NSTemporaryDirectory() + "ctb-gcp-e2e-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let key = try Insecure.RSA.PublicKey(pem: Crypto.pemEncode(publicDER, label: "PUBLIC KEY"))
            let (n, e) = try key.getKeyPrimitives()
            let jwk = [
                "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": ByteEncoding.base64URL(Array(n)),
                "e": ByteEncoding.base64URL(Array(e)),
            ]
            try JSONSerialization.data(withJSONObject: ["keys": [jwk]]).write(to: URL(fileURLWithPath: jwksFile))
        }

        var jwksFile: String { directory + "/google-certs.json" }

        static func claims() -> [String: Any] {
            let t = Int(Date().timeIntervalSince1970)
            return [
                "iss": "https://accounts.google.com", "aud": audience, "email": account, "email_verified": true,
                "sub": "1234567890", "iat": t - 5, "exp": t + 3595,
            ]
        }

        func token(
            header: [String: Any]? = nil, claims: [String: Any] = Keys.claims(), privateDER: [UInt8]? = nil,
            sign: (([UInt8]) -> [UInt8])? = nil
        ) throws -> String {
            let h = header ?? ["alg": "RS256", "kid": kid, "typ": "JWT"]
            let input =
                ByteEncoding.base64URL(Array(try JSONSerialization.data(withJSONObject: h)))
                + "." + ByteEncoding.base64URL(Array(try JSONSerialization.data(withJSONObject: claims)))
            let signature =
                try sign?(Array(input.utf8))
                ?? #require(
                    Crypto.rsaSign(
                        privateKeyDER: privateDER ?? self.privateDER, message: Array(input.utf8), digest: .sha256))
            return input + "." + ByteEncoding.base64URL(signature)
        }
    }

    /// A Cloud Build notification on the cloud-builds topic, in a push envelope.
    static func push(messageId: String = "2070443601311540") -> [UInt8] {
        let build =
            #"{"id":"b5a7b8c2","status":"SUCCESS","finishTime":"2024-05-01T14:02:00Z","substitutions":{"REPO_NAME":"api"}}"#
        let envelope: JSONValue = .object([
            "message": .object([
                "data": .string(ByteEncoding.base64(Array(build.utf8))),
                "attributes": .object(["buildId": .string("b5a7b8c2"), "status": .string("SUCCESS")]),
                "messageId": .string(messageId), "publishTime": .string("2024-05-01T14:02:01.000Z"),
            ]),
            "subscription": .string("projects/my-project/subscriptions/bridge"),
        ])
        return Array(envelope.json.utf8)
    }

    func harness(_ keys: Keys) async throws -> BridgeHarness {
        let h = try await BridgeHarness(rules: ["gcp-pubsub.yaml": Self.rules]) {
            $0.environment = [
                "GCP_PUBSUB_AUDIENCE": Self.audience, "GCP_PUBSUB_SERVICE_ACCOUNT": Self.account,
                "GCP_JWKS_FILE": keys.jwksFile,
            ]
        }
        try await h.start()
        return h
    }

    func post(_ h: BridgeHarness, token: String?, body: [UInt8] = push()) async throws -> BridgeHarness.Answer {
        var headers = [("Content-Type", "application/json")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        return try await h.post("/hooks/gcp-pubsub", headers: headers, body: body)
    }

    @Test func aValidPushBecomesItsEventAndDataPoint() async throws {
        let keys = try Keys()
        defer { try? FileManager.default.removeItem(atPath: keys.directory) }
        let h = try await harness(keys)
        let answer = try await post(h, token: try keys.token())
        #expect(answer.status == 202, "\(answer.text)")
        #expect(answer.body?["events"] == .number(1))
        #expect(answer.body?["metrics"] == .number(1))
        // Pub/Sub redelivers with the same messageId: a duplicate.
        #expect(try await post(h, token: try keys.token()).status == 200)
        await h.eventually("annotated") { h.fake.events.count == 1 }
        #expect(h.fake.events.first?["payload"]?["description"] == .string("api: success"))
        // A verified sender's body that is not a push envelope is its own bug: 400, not a forgery.
        #expect(try await post(h, token: try keys.token(), body: Array(#"{"hello":1}"#.utf8)).status == 400)
        await h.finish()
    }

    enum Refusal: String, CaseIterable, Sendable {
        case noToken, wrongKey, wrongAudience, wrongIssuer, expired, unknownKid, algNone, hs256WithPublicKey,
            emailNotAllowed, emailNotVerified
    }

    func token(_ refusal: Refusal, _ keys: Keys) throws -> String? {
        var claims = Keys.claims()
        switch refusal {
        case .noToken: return nil
        case .wrongKey:
            return try keys.token(privateDER: try #require(Crypto.rsaGenerate()).privateDER)
        case .wrongAudience: claims["aud"] = "https://other.example.com/push"
        case .wrongIssuer: claims["iss"] = "https://issuer.example.com"
        case .expired:
            let t = Int(Date().timeIntervalSince1970)
            claims["iat"] = t - 3600 - 300
            claims["exp"] = t - 300
        case .unknownKid:
            return try keys.token(header: ["alg": "RS256", "kid": "not-published", "typ": "JWT"])
        case .algNone:
            return try keys.token(header: ["alg": "none", "kid": keys.kid, "typ": "JWT"]) { _ in [] }
        case .hs256WithPublicKey:
            let pem = Array(Crypto.pemEncode(keys.publicDER, label: "PUBLIC KEY").utf8)
            return try keys.token(header: ["alg": "HS256", "kid": keys.kid, "typ": "JWT"]) {
                Crypto.hmac(.sha256, key: pem, data: $0)
            }
        case .emailNotAllowed: claims["email"] = "intruder@other-project.iam.gserviceaccount.com"
        case .emailNotVerified: claims["email_verified"] = false
        }
        return try keys.token(claims: claims)
    }

    @Test(arguments: Refusal.allCases)
    func aBadTokenIsRefused(_ refusal: Refusal) async throws {
        let keys = try Keys()
        defer { try? FileManager.default.removeItem(atPath: keys.directory) }
        let h = try await harness(keys)
        let answer = try await post(h, token: try token(refusal, keys))
        #expect(answer.status == 401, "\(refusal.rawValue): \(answer.text)")
        #expect(h.fake.events.isEmpty)
        #expect(try await h.bridge.store.deliveries(limit: 5, source: nil).isEmpty)
        await h.finish()
    }
}
