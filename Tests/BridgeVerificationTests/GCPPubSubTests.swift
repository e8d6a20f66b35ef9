import Foundation
import JWTKit
import Synchronization
import Testing

@testable import BridgeCore
@testable import BridgeVerification

/// A stand-in for Google's OIDC issuer: RSA keys made for the test (nothing here is secret), the JWKS that
/// publishes them, and tokens signed with them.
struct TestIssuer: Sendable {
    let kid: String
    let privateDER: [UInt8]
    let publicDER: [UInt8]

    static func make(kid: String = "test-key-1") throws -> TestIssuer {
        let pair = try #require(Crypto.rsaGenerate())
        return TestIssuer(kid: kid, privateDER: pair.privateDER, publicDER: pair.publicDER)
    }

    var publicPEM: String { Crypto.pemEncode(publicDER, label: "PUBLIC KEY") }

    /// The public key as a JWK, the way Google publishes it.
    func jwk() throws -> [String: String] {
        let key = try Insecure.RSA.PublicKey(pem: publicPEM)
        let (n, e) = try key.getKeyPrimitives()
        return [
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": ByteEncoding.base64URL(Array(n)),
            "e": ByteEncoding.base64URL(Array(e)),
        ]
    }

    static func jwks(_ issuers: [TestIssuer]) throws -> [UInt8] {
        let keys = try issuers.map { try $0.jwk() }
        return Array(try JSONSerialization.data(withJSONObject: ["keys": keys], options: [.sortedKeys]))
    }

    static let audience = "https://bridge.example.com/hooks/gcp-pubsub"
    static let account = "pubsub-push@my-project.iam.gserviceaccount.com"

    /// Claims of a valid push token issued at `now`.
    static func claims(now: Date = Date()) -> [String: Any] {
        let t = Int(now.timeIntervalSince1970)
        return [
            "iss": "https://accounts.google.com", "aud": audience, "azp": "1234567890", "sub": "1234567890",
            "email": account, "email_verified": true, "iat": t - 5, "exp": t - 5 + 3600,
        ]
    }

    /// A compact JWT: `header` and `claims` as given, RS256-signed with this issuer's key unless `signature` says
    /// otherwise.
    func token(
        header: [String: Any]? = nil, claims: [String: Any] = TestIssuer.claims(),
        signature: (([UInt8]) -> [UInt8])? = nil
    ) throws -> String {
        let h = header ?? ["alg": "RS256", "kid": kid, "typ": "JWT"]
        let input =
            ByteEncoding.base64URL(Array(try JSONSerialization.data(withJSONObject: h, options: [.sortedKeys])))
            + "."
            + ByteEncoding.base64URL(Array(try JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys])))
        let signed: [UInt8]
        if let signature {
            signed = signature(Array(input.utf8))
        } else {
            signed = try #require(
                Crypto.rsaSign(privateKeyDER: privateDER, message: Array(input.utf8), digest: .sha256))
        }
        return input + "." + ByteEncoding.base64URL(signed)
    }
}

/// Fetches counted, answering with a fixed key set.
final class KeySetServer: Sendable {
    let body: Mutex<[UInt8]>
    let cacheControl: String?
    let count = Mutex(0)
    let fails: Bool

    init(_ body: [UInt8], cacheControl: String? = "public, max-age=300", fails: Bool = false) {
        self.body = Mutex(body)
        self.cacheControl = cacheControl
        self.fails = fails
    }

    var fetch: JWKSKeyCache.Fetch {
        { url in
            #expect(url == JWKSKeyCache.googleCertificatesURL)
            self.count.withLock { $0 += 1 }
            if self.fails { throw JWKSError("unreachable") }
            return .init(body: self.body.withLock { $0 }, cacheControl: self.cacheControl)
        }
    }
}

/// A clock the tests move.
final class TestClock: Sendable {
    let time = Mutex(Date())
    var now: @Sendable () -> Date { { self.time.withLock { $0 } } }
    func advance(_ seconds: TimeInterval) { time.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

@Suite("Google Cloud Pub/Sub push tokens")
struct GCPPubSubTests {
    static let envelope = Array(
        #"{"message":{"data":"eyJzdGF0dXMiOiJTVUNDRVNTIn0=","attributes":{"buildId":"b-1","status":"SUCCESS"},"messageId":"2070443601311540","publishTime":"2021-02-26T19:13:55.749Z"},"subscription":"projects/my-project/subscriptions/bridge"}"#
            .utf8)

    let issuer: TestIssuer
    let cache: JWKSKeyCache

    init() async throws {
        issuer = try TestIssuer.make()
        cache = try await JWKSKeyCache(
            provider: "Google", url: JWKSKeyCache.googleCertificatesURL, seedFile: nil,
            fetch: KeySetServer(try TestIssuer.jwks([issuer])).fetch)
    }

    func verifier(accounts: [String] = [TestIssuer.account]) -> SignatureVerifier {
        SignatureVerifier(scheme: .gcpPubSub(audience: TestIssuer.audience, serviceAccounts: accounts), secrets: [])
    }

    func request(_ token: String?) -> IncomingRequest {
        var headers = HeaderBag([("Content-Type", "application/json")])
        if let token { headers.add("Authorization", "Bearer \(token)") }
        return IncomingRequest(source: "gcp-pubsub", headers: headers, body: Self.envelope)
    }

    /// The refusal's reason, or nil when the token is accepted.
    func refusal(_ token: String?, verifier v: SignatureVerifier? = nil) async -> VerificationError? {
        do {
            try await (v ?? verifier()).verifyPubSub(request(token), keys: cache)
            return nil
        } catch {
            return error as? VerificationError ?? VerificationError(.badSignature, "\(error)")
        }
    }

    @Test func aValidTokenIsAccepted() async throws {
        #expect(await refusal(try issuer.token()) == nil)
        let push = try PubSubPush.parse(Self.envelope)
        #expect(push.messageId == "2070443601311540")
        #expect(push.attributes["status"] == "SUCCESS")
        #expect(String(decoding: push.data, as: UTF8.self) == #"{"status":"SUCCESS"}"#)
        #expect(push.subscription == "projects/my-project/subscriptions/bridge")
    }

    @Test func theIssuerWithoutSchemeIsAcceptedToo() async throws {
        var claims = TestIssuer.claims()
        claims["iss"] = "accounts.google.com"
        #expect(await refusal(try issuer.token(claims: claims)) == nil)
    }

    @Test func aTokenSignedWithAnotherKeyIsRefused() async throws {
        let other = try TestIssuer.make(kid: issuer.kid)
        #expect(await refusal(try other.token())?.reason == .badSignature)
    }

    @Test func aTokenForAnotherAudienceIsRefused() async throws {
        var claims = TestIssuer.claims()
        claims["aud"] = "https://elsewhere.example.com/push"
        #expect(await refusal(try issuer.token(claims: claims))?.reason == .badCredentials)
        claims["aud"] = [TestIssuer.audience, "https://elsewhere.example.com/push"]
        #expect(await refusal(try issuer.token(claims: claims))?.reason == .badCredentials)
    }

    @Test func aTokenFromAnotherIssuerIsRefused() async throws {
        var claims = TestIssuer.claims()
        claims["iss"] = "https://accounts.example.com"
        #expect(await refusal(try issuer.token(claims: claims))?.reason == .badCredentials)
    }

    @Test func anExpiredTokenIsRefused() async throws {
        let claims = TestIssuer.claims(now: Date().addingTimeInterval(-3600 - 120))
        #expect(await refusal(try issuer.token(claims: claims))?.reason == .staleTimestamp)
    }

    @Test func aTokenIssuedInTheFutureOrLivingTooLongIsRefused() async throws {
        let future = TestIssuer.claims(now: Date().addingTimeInterval(600))
        #expect(await refusal(try issuer.token(claims: future))?.reason == .futureTimestamp)
        var long = TestIssuer.claims()
        long["exp"] = (long["iat"] as! Int) + 86400
        #expect(await refusal(try issuer.token(claims: long))?.reason == .badCredentials)
    }

    @Test func anUnknownKeyIdIsRefused() async throws {
        let token = try issuer.token(header: ["alg": "RS256", "kid": "not-a-google-key", "typ": "JWT"])
        #expect(await refusal(token)?.reason == .badSignature)
        let noKid = try issuer.token(header: ["alg": "RS256", "typ": "JWT"])
        #expect(await refusal(noKid)?.reason == .badSignature)
    }

    @Test func theNoneAlgorithmIsRefused() async throws {
        let token = try issuer.token(header: ["alg": "none", "kid": issuer.kid, "typ": "JWT"]) { _ in [] }
        #expect(await refusal(token)?.reason == .badSignature)
        let noSignature =
            String(
                try issuer.token(header: ["alg": "none", "kid": issuer.kid]).split(separator: ".")[0...1]
                    .joined(separator: ".")) + "."
        #expect(await refusal(noSignature)?.reason == .badSignature)
    }

    @Test func hs256WithThePublicKeyAsSecretIsRefused() async throws {
        let secrets = [Array(issuer.publicPEM.utf8), issuer.publicDER, try TestIssuer.jwks([issuer])]
        for secret in secrets {
            let token = try issuer.token(header: ["alg": "HS256", "kid": issuer.kid, "typ": "JWT"]) {
                Crypto.hmac(.sha256, key: secret, data: $0)
            }
            #expect(await refusal(token)?.reason == .badSignature)
        }
    }

    @Test func anEmailNotAllowedIsRefused() async throws {
        var claims = TestIssuer.claims()
        claims["email"] = "someone-else@other-project.iam.gserviceaccount.com"
        #expect(await refusal(try issuer.token(claims: claims))?.reason == .badCredentials)
        claims.removeValue(forKey: "email")
        #expect(await refusal(try issuer.token(claims: claims))?.reason == .badCredentials)
    }

    @Test func anUnverifiedEmailIsRefused() async throws {
        var claims = TestIssuer.claims()
        claims["email_verified"] = false
        #expect(await refusal(try issuer.token(claims: claims))?.reason == .badCredentials)
        claims.removeValue(forKey: "email_verified")
        #expect(await refusal(try issuer.token(claims: claims))?.reason == .badCredentials)
    }

    @Test func aMissingOrMalformedTokenIsRefused() async throws {
        #expect(await refusal(nil)?.reason == .missingCredentials)
        #expect(await refusal("not-a-jwt")?.reason == .malformedSignature)
    }

    @Test func aMalformedEnvelopeIsNotAPush() throws {
        #expect(throws: VerificationError.self) { try PubSubPush.parse(Array(#"{"message":{}}"#.utf8)) }
        #expect(throws: VerificationError.self) {
            try PubSubPush.parse(Array(#"{"message":{"messageId":"1","data":"%%%"},"subscription":"s"}"#.utf8))
        }
    }
}

@Suite("JWKS key cache")
struct JWKSKeyCacheTests {
    @Test func keysAreFetchedOnceAndKeptForTheirMaxAge() async throws {
        let issuer = try TestIssuer.make()
        let server = KeySetServer(try TestIssuer.jwks([issuer]), cacheControl: "public, max-age=19000, must-revalidate")
        let clock = TestClock()
        let cache = try await JWKSKeyCache(
            provider: "Google", url: JWKSKeyCache.googleCertificatesURL, now: clock.now, fetch: server.fetch)
        _ = try await cache.keys(for: issuer.kid)
        _ = try await cache.keys(for: issuer.kid)
        clock.advance(18000)
        _ = try await cache.keys(for: issuer.kid)
        #expect(server.count.withLock { $0 } == 1)
        clock.advance(1001)
        _ = try await cache.keys(for: issuer.kid)
        #expect(server.count.withLock { $0 } == 2)
    }

    @Test func unknownKeyIdsCauseAtMostOneFetchAMinute() async throws {
        let issuer = try TestIssuer.make()
        let server = KeySetServer(try TestIssuer.jwks([issuer]))
        let clock = TestClock()
        let cache = try await JWKSKeyCache(
            provider: "Google", url: JWKSKeyCache.googleCertificatesURL, now: clock.now, fetch: server.fetch)
        for i in 0..<50 {
            await #expect(throws: VerificationError.self) { _ = try await cache.keys(for: "stranger-\(i)") }
        }
        #expect(server.count.withLock { $0 } == 1)
        // A key Google starts publishing is found by the first fetch allowed after the minute.
        let next = try TestIssuer.make(kid: "test-key-2")
        server.body.withLock { $0 = try! TestIssuer.jwks([issuer, next]) }
        await #expect(throws: VerificationError.self) { _ = try await cache.keys(for: next.kid) }
        clock.advance(61)
        _ = try await cache.keys(for: next.kid)
        #expect(server.count.withLock { $0 } == 2)
        #expect(await cache.knownKeyIds == [issuer.kid, next.kid])
    }

    @Test func anUnreachableKeySetIsRetryableAndStillLimited() async throws {
        let server = KeySetServer([], fails: true)
        let cache = try await JWKSKeyCache(
            provider: "Google", url: JWKSKeyCache.googleCertificatesURL, fetch: server.fetch)
        for _ in 0..<5 {
            do {
                _ = try await cache.keys(for: "k")
                Issue.record("keys without a key set")
            } catch let error as VerificationError {
                #expect(error.reason == .signingKeysUnavailable)
            }
        }
        #expect(server.count.withLock { $0 } == 1)
    }

    @Test func aSeededKeySetIsNeverFetched() async throws {
        let issuer = try TestIssuer.make()
        let path = NSTemporaryDirectory() + "ctb-jwks-\(UUID().uuidString).json"
        try Data(try TestIssuer.jwks([issuer])).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = KeySetServer(try TestIssuer.jwks([issuer]))
        let cache = try await JWKSKeyCache(
            provider: "Google", url: JWKSKeyCache.googleCertificatesURL, seedFile: path, fetch: server.fetch)
        _ = try await cache.keys(for: issuer.kid)
        await #expect(throws: VerificationError.self) { _ = try await cache.keys(for: "other") }
        #expect(server.count.withLock { $0 } == 0)
        await #expect(throws: JWKSError.self) {
            _ = try await JWKSKeyCache(
                provider: "Google", url: JWKSKeyCache.googleCertificatesURL, seedFile: path + ".missing", fetch: nil)
        }
    }

    @Test func onlyHTTPSAndUsableRSAKeysAreTaken() async throws {
        await #expect(throws: JWKSError.self) {
            _ = try await JWKSKeyCache(
                provider: "Google", url: URL(string: "http://www.googleapis.com/oauth2/v3/certs")!, fetch: nil)
        }
        let issuer = try TestIssuer.make()
        var symmetric = try issuer.jwk()
        symmetric["alg"] = "HS256"
        let body = Array(
            try JSONSerialization.data(withJSONObject: ["keys": [symmetric, ["kty": "oct", "k": "c2VjcmV0"]]]))
        #expect(throws: JWKSError.self) { _ = try JWKSKeyCache.usableKeys(body, provider: "Google") }
        #expect(JWKSKeyCache.maxAge("public, max-age=21600, must-revalidate, no-transform") == 21600)
        #expect(JWKSKeyCache.maxAge("max-age=1") == 60)
        #expect(JWKSKeyCache.maxAge(nil) == 3600)
    }
}
