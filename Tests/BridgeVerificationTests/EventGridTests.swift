import Foundation
import Testing

@testable import BridgeCore
@testable import BridgeVerification

@Suite("Azure Event Grid deliveries")
struct EventGridTests {
    static let tenant = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    static let audience = "api://cloudthread-bridge"
    static let events = Array(
        #"[{"id":"e1","eventType":"Microsoft.Web.AppUpdated","eventTime":"2024-05-01T15:00:41Z","subject":"/s","data":{}},{"id":"e2","eventType":"Microsoft.Web.AppUpdated","eventTime":"2024-05-01T15:00:42Z","subject":"/s","data":{}}]"#
            .utf8)

    static func claims(now: Date = Date()) -> [String: Any] {
        let t = Int(now.timeIntervalSince1970)
        return [
            "iss": "https://sts.windows.net/\(tenant)/", "aud": audience, "tid": tenant, "appid": "4962773b",
            "iat": t - 5, "nbf": t - 5, "exp": t + 4000,
        ]
    }

    func cache(_ issuer: TestIssuer) async throws -> JWKSKeyCache {
        let body = try TestIssuer.jwks([issuer])
        let url = try #require(EventGridAuth(tenant: Self.tenant).keysURL)
        return try await JWKSKeyCache(provider: "Microsoft Entra ID", url: url) { fetched in
            #expect(fetched == url)
            return .init(body: body, cacheControl: nil)
        }
    }

    func entraRefusal(_ token: String, keys: JWKSKeyCache) async -> VerificationError? {
        let verifier = SignatureVerifier(
            scheme: .azureEventGrid(EventGridAuth(tenant: Self.tenant, audience: Self.audience)), secrets: [])
        let request = IncomingRequest(
            source: "azure-eventgrid", headers: HeaderBag([("Authorization", "Bearer \(token)")]), body: Self.events)
        do {
            try await verifier.verifyEventGridToken(request, keys: keys)
            return nil
        } catch {
            return error as? VerificationError ?? VerificationError(.badSignature, "\(error)")
        }
    }

    @Test func anEntraIDTokenOfTheTenantIsAccepted() async throws {
        let issuer = try TestIssuer.make()
        let keys = try await cache(issuer)
        #expect(await entraRefusal(try issuer.token(claims: Self.claims()), keys: keys) == nil)
        var v2 = Self.claims()
        v2["iss"] = "https://login.microsoftonline.com/\(Self.tenant)/v2.0"
        #expect(await entraRefusal(try issuer.token(claims: v2), keys: keys) == nil)
    }

    @Test func anotherTenantAudienceIssuerOrKeyIsRefused() async throws {
        let issuer = try TestIssuer.make()
        let keys = try await cache(issuer)
        var claims = Self.claims()
        claims["tid"] = "ffffffff-0000-0000-0000-000000000000"
        #expect(await entraRefusal(try issuer.token(claims: claims), keys: keys)?.reason == .badCredentials)
        claims = Self.claims()
        claims["aud"] = "api://someone-else"
        #expect(await entraRefusal(try issuer.token(claims: claims), keys: keys)?.reason == .badCredentials)
        claims = Self.claims()
        claims["iss"] = "https://sts.windows.net/ffffffff-0000-0000-0000-000000000000/"
        #expect(await entraRefusal(try issuer.token(claims: claims), keys: keys)?.reason == .badCredentials)
        let other = try TestIssuer.make(kid: issuer.kid)
        #expect(await entraRefusal(try other.token(claims: Self.claims()), keys: keys)?.reason == .badSignature)
    }

    @Test func expiredNoneAndHS256TokensAreRefused() async throws {
        let issuer = try TestIssuer.make()
        let keys = try await cache(issuer)
        let expired = Self.claims(now: Date().addingTimeInterval(-5000))
        #expect(await entraRefusal(try issuer.token(claims: expired), keys: keys)?.reason == .staleTimestamp)
        let none = try issuer.token(header: ["alg": "none", "kid": issuer.kid], claims: Self.claims()) { _ in [] }
        #expect(await entraRefusal(none, keys: keys)?.reason == .badSignature)
        let hs256 = try issuer.token(header: ["alg": "HS256", "kid": issuer.kid], claims: Self.claims()) {
            Crypto.hmac(.sha256, key: Array(issuer.publicPEM.utf8), data: $0)
        }
        #expect(await entraRefusal(hs256, keys: keys)?.reason == .badSignature)
    }

    @Test func theSharedSecretIsTakenFromTheQueryOrTheHeader() throws {
        let verifier = SignatureVerifier(scheme: .azureEventGrid(EventGridAuth()), secrets: [Secret("s3cret-value")])
        func request(query: [(name: String, value: String)] = [], headers: [(name: String, value: String)] = [])
            -> IncomingRequest
        {
            IncomingRequest(source: "azure-eventgrid", query: query, headers: HeaderBag(headers), body: Self.events)
        }
        try verifier.verify(request(query: [("code", "s3cret-value")]))
        try verifier.verify(request(headers: [("X-Webhook-Secret", "s3cret-value")]))
        #expect(throws: VerificationError(.badCredentials, "the Event Grid secret is not accepted")) {
            try verifier.verify(request(query: [("code", "s3cret-valuf")]))
        }
        #expect(throws: VerificationError.self) { try verifier.verify(request()) }
    }

    @Test func deliveriesAreReadAsValidationOrEvents() throws {
        #expect(try EventGridDelivery.parse(Self.events) == .events(ids: ["e1", "e2"]))
        let validation = Array(
            #"[{"id":"v","eventType":"Microsoft.EventGrid.SubscriptionValidationEvent","data":{"validationCode":"512d38b6"}}]"#
                .utf8)
        #expect(try EventGridDelivery.parse(validation) == .validation(code: "512d38b6"))
        let cloudEvent = Array(#"{"specversion":"1.0","id":"c1","type":"Microsoft.Web.AppUpdated","data":{}}"#.utf8)
        #expect(try EventGridDelivery.parse(cloudEvent) == .events(ids: ["c1"]))
        #expect(throws: VerificationError.self) { try EventGridDelivery.parse(Array(#"[{"eventType":"x"}]"#.utf8)) }
        #expect(throws: VerificationError.self) { try EventGridDelivery.parse(Array("[]".utf8)) }
    }
}

@Suite("Key sets by tenant")
struct JWKSDirectoryTests {
    @Test func oneKeySetPerURLAndASeedFileServesEveryTenantWithoutFetching() async throws {
        let issuer = try TestIssuer.make()
        let path = NSTemporaryDirectory() + "ctb-entra-seed-\(UUID().uuidString).json"
        try Data(try TestIssuer.jwks([issuer])).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fetches = KeySetServer([])
        let directory = JWKSDirectory(provider: "Microsoft Entra ID", seedFile: path, fetch: fetches.fetch)
        let a = try #require(EventGridAuth(tenant: "tenant-a.example").keysURL)
        let b = try #require(EventGridAuth(tenant: "tenant-b.example").keysURL)
        let first = try await directory.keys(at: a)
        #expect(try await directory.keys(at: a) === first)
        _ = try await directory.keys(at: b).keys(for: issuer.kid)
        #expect(fetches.count.withLock { $0 } == 0)
        // A seed file that cannot be read makes the key set unavailable (503), not open.
        let broken = JWKSDirectory(provider: "Microsoft Entra ID", seedFile: path + ".missing", fetch: nil)
        await #expect(throws: VerificationError.self) { _ = try await broken.keys(at: a) }
        #expect(EventGridAuth(tenant: "not a tenant/..").keysURL == nil)
    }
}
