import Foundation
import Testing

@testable import BridgeCore
@testable import BridgeVerification

func fixture(_ path: String) throws -> [UInt8] {
    let url = try #require(Bundle.module.url(forResource: "Fixtures/\(path)", withExtension: nil))
    return [UInt8](try Data(contentsOf: url))
}

func request(_ headers: [(String, String)], _ body: String, query: [(String, String)] = [], client: String? = nil)
    -> IncomingRequest
{
    IncomingRequest(
        source: "s", query: query.map { ($0.0, $0.1) }, headers: HeaderBag(headers.map { ($0.0, $0.1) }),
        body: Array(body.utf8), clientAddress: client)
}

func verifier(_ preset: String, _ secrets: [String], tolerance: TimeInterval = 300) -> SignatureVerifier {
    SignatureVerifier(
        scheme: VerificationPreset.named(preset)!.scheme, secrets: secrets.map(Secret.init), tolerance: tolerance)
}

func reason(_ v: SignatureVerifier, _ r: IncomingRequest, now: Date = Date()) -> VerificationError.Reason? {
    do {
        try v.verify(r, now: now)
        return nil
    } catch let e as VerificationError {
        return e.reason
    } catch {
        return .badSignature
    }
}

@Suite("Verification with the catalog's vectors")
struct CatalogVectorTests {
    @Test func githubDocsVector() {
        let v = verifier("github", ["It's a Secret to Everybody"])
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        #expect(reason(v, request([("X-Hub-Signature-256", sig)], "Hello, World!")) == nil)
        // Header names are matched case-insensitively.
        #expect(reason(v, request([("x-hub-signature-256", sig)], "Hello, World!")) == nil)
        #expect(reason(v, request([("X-Hub-Signature-256", sig)], "Hello, World?")) == .badSignature)
        #expect(
            reason(verifier("github", ["wrong"]), request([("X-Hub-Signature-256", sig)], "Hello, World!"))
                == .badSignature)
        #expect(reason(v, request([], "Hello, World!")) == .missingSignature)
        // Only the SHA-256 header counts; the legacy SHA-1 header is no fallback.
        #expect(
            reason(v, request([("X-Hub-Signature", "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59")], "Hello, World!"))
                == .missingSignature)
        #expect(
            reason(
                v,
                request(
                    [("X-Hub-Signature-256", "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")],
                    "Hello, World!")) == .malformedSignature)
    }

    @Test(arguments: [
        ("hello world", "secret", "734cc62f32841568f45715aeb9f4d7891324e6d948e4c6c60c0621cdac48623a"),
        ("lalala", "another-secret", "daa220016c8f29a8b214fbfc3671aeec2145cfb1e6790184ffb38b6d0425fa00"),
        (
            "an-important-request-payload", "hunter123",
            "9be2242094a9a8c00c64306f382a7f9d691de910b4a266f67bd314ef18ac49fa"
        ),
        ("foo", "secret", "773ba44693c7553d6ee20f61ea5d2757a9a4f4a44d2841ae4e95b52e4cd62db4"),
    ])
    func circleCIVectors(body: String, secret: String, signature: String) {
        let v = verifier("circleci", [secret])
        #expect(reason(v, request([("circleci-signature", "v1=\(signature)")], body)) == nil)
        // A list with another version first still verifies through its v1 entry.
        #expect(reason(v, request([("circleci-signature", "v2=abcdef,v1=\(signature)")], body)) == nil)
        // Only unknown versions: no downgrade, no acceptance.
        #expect(reason(v, request([("circleci-signature", "v0=\(signature)")], body)) == .malformedSignature)
        #expect(reason(v, request([("circleci-signature", "v1=\(signature)")], body + " ")) == .badSignature)
    }

    @Test func svixVector() {
        let v = verifier("svix", ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        let headers = [
            ("svix-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"), ("svix-timestamp", "1614265330"),
            ("svix-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        ]
        let at = Date(timeIntervalSince1970: 1_614_265_330 + 10)
        #expect(reason(v, request(headers, #"{"test": 2432232314}"#), now: at) == nil)
        // Stale and future timestamps are refused even with a valid signature.
        #expect(
            reason(v, request(headers, #"{"test": 2432232314}"#), now: at.addingTimeInterval(400)) == .staleTimestamp)
        #expect(
            reason(v, request(headers, #"{"test": 2432232314}"#), now: at.addingTimeInterval(-700)) == .futureTimestamp)
        // The id is signed: another id does not verify.
        var other = headers
        other[0] = ("svix-id", "msg_other")
        #expect(reason(v, request(other, #"{"test": 2432232314}"#), now: at) == .badSignature)
        // Several signatures (rotation): any v1 entry may match.
        var rotated = headers
        rotated[2] = (
            "svix-signature",
            "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        )
        #expect(reason(v, request(rotated, #"{"test": 2432232314}"#), now: at) == nil)
    }

    @Test func standardWebhooksPresetUsesWebhookHeaders() throws {
        let v = verifier("standard-webhooks", ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        let headers = [
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"), ("webhook-timestamp", "1614265330"),
            ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        ]
        #expect(
            reason(v, request(headers, #"{"test": 2432232314}"#), now: Date(timeIntervalSince1970: 1_614_265_330))
                == nil)
        #expect(
            reason(
                v, request(headers.filter { $0.0 != "webhook-timestamp" }, #"{"test": 2432232314}"#),
                now: Date(timeIntervalSince1970: 1_614_265_330)) == .missingTimestamp)
        // GitLab's signing token is the same scheme.
        let gitlab = verifier("gitlab-signing", ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        #expect(
            reason(gitlab, request(headers, #"{"test": 2432232314}"#), now: Date(timeIntervalSince1970: 1_614_265_330))
                == nil)
    }

    @Test func pagerDutySDKVector() throws {
        let body = String(decoding: try fixture("payloads/pagerduty-v3-priority-updated.json"), as: UTF8.self)
        let v = verifier("pagerduty", ["lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK"])
        let good = "v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd"
        let mismatch = "v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5"
        #expect(reason(v, request([("X-PagerDuty-Signature", good)], body)) == nil)
        #expect(reason(v, request([("X-PagerDuty-Signature", mismatch)], body)) == .badSignature)
        // One signature per active secret during rotation.
        #expect(reason(v, request([("X-PagerDuty-Signature", "\(mismatch),\(good)")], body)) == nil)
        #expect(reason(v, request([], body)) == .missingSignature)
    }

    @Test func droneSigningStringVector() {
        // The HMAC step of Drone's published example (base64 HMAC-SHA256 of the signing string).
        let mac = Crypto.hmac(
            .sha256, key: Array("a34999ae0599f579eca8582058b46eee".utf8),
            data: Array(
                "date: Fri, 15 Jul 2022 18:47:25 GMT\ndigest: SHA-256=wyFE2yWKPBpOLHuIVBHf4oD21wY4yINZZzoyR9jB6xo=".utf8
            ))
        #expect(ByteEncoding.base64(mac) == "ObOcdsOSyYMy+0DDlg6X1naqPYY0qe59OrHmjv6Hav0=")
    }
}

@Suite("Verification schemes")
struct SchemeTests {
    @Test func secretRotationAcceptsEitherSecret() {
        let body = "payload"
        let sig = "sha256=" + ByteEncoding.hex(Crypto.hmac(.sha256, key: Array("old".utf8), data: Array(body.utf8)))
        #expect(reason(verifier("github", ["new", "old"]), request([("X-Hub-Signature-256", sig)], body)) == nil)
        #expect(reason(verifier("github", ["new"]), request([("X-Hub-Signature-256", sig)], body)) == .badSignature)
    }

    @Test func sha1AndSha512Presets() {
        let body = #"{"type":"deployment.succeeded"}"#
        let vercel = ByteEncoding.hex(Crypto.hmac(.sha1, key: Array("v".utf8), data: Array(body.utf8)))
        #expect(reason(verifier("vercel", ["v"]), request([("x-vercel-signature", vercel)], body)) == nil)
        let tfe = ByteEncoding.hex(Crypto.hmac(.sha512, key: Array("t".utf8), data: Array(body.utf8)))
        #expect(
            reason(verifier("terraform-cloud", ["t"]), request([("X-TFE-Notification-Signature", tfe)], body)) == nil)
        #expect(
            reason(verifier("terraform-cloud", ["t"]), request([("X-TFE-Notification-Signature", vercel)], body))
                == .badSignature)
        let heroku = ByteEncoding.base64(Crypto.hmac(.sha256, key: Array("h".utf8), data: Array(body.utf8)))
        #expect(reason(verifier("heroku", ["h"]), request([("Heroku-Webhook-Hmac-SHA256", heroku)], body)) == nil)
    }

    @Test func buildkiteSignsTimestampDotBody() {
        let body = #"{"event":"build.finished"}"#
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let mac = ByteEncoding.hex(Crypto.hmac(.sha256, key: Array("bk".utf8), data: Array("1700000000.\(body)".utf8)))
        let v = verifier("buildkite", ["bk"])
        #expect(
            reason(v, request([("X-Buildkite-Signature", "timestamp=1700000000,signature=\(mac)")], body), now: now)
                == nil)
        #expect(
            reason(v, request([("X-Buildkite-Signature", "timestamp=1700000001,signature=\(mac)")], body), now: now)
                == .badSignature)
        #expect(
            reason(
                v, request([("X-Buildkite-Signature", "timestamp=1700000000,signature=\(mac)")], body),
                now: now.addingTimeInterval(301)) == .staleTimestamp)
    }

    @Test func rootlySignsTimestampThenBodyWithoutSeparator() {
        let body = #"{"event":{"type":"incident.created"}}"#
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let mac = ByteEncoding.hex(Crypto.hmac(.sha256, key: Array("r".utf8), data: Array("1700000000\(body)".utf8)))
        #expect(
            reason(
                verifier("rootly", ["r"]), request([("X-Rootly-Signature", "t=1700000000,v1=\(mac)")], body), now: now)
                == nil)
        let dotted = ByteEncoding.hex(
            Crypto.hmac(.sha256, key: Array("r".utf8), data: Array("1700000000.\(body)".utf8)))
        #expect(
            reason(
                verifier("rootly", ["r"]), request([("X-Rootly-Signature", "t=1700000000,v1=\(dotted)")], body),
                now: now) == .badSignature)
    }

    @Test func tokenBearerBasicAndURLToken() {
        #expect(reason(verifier("gitlab", ["tok"]), request([("X-Gitlab-Token", "tok")], "{}")) == nil)
        #expect(reason(verifier("gitlab", ["tok"]), request([("X-Gitlab-Token", "tok2")], "{}")) == .badCredentials)
        #expect(reason(verifier("gitlab", ["tok"]), request([], "{}")) == .missingCredentials)
        #expect(reason(verifier("bearer", ["tok"]), request([("Authorization", "Bearer tok")], "{}")) == nil)
        #expect(reason(verifier("bearer", ["tok"]), request([("Authorization", "bearer tok")], "{}")) == nil)
        #expect(reason(verifier("bearer", ["tok"]), request([("Authorization", "Basic tok")], "{}")) == .badCredentials)
        let basic = SignatureVerifier(scheme: .basic(user: "argo"), secrets: [Secret("pw")])
        let good = "Basic " + ByteEncoding.base64(Array("argo:pw".utf8))
        #expect(reason(basic, request([("Authorization", good)], "{}")) == nil)
        #expect(
            reason(basic, request([("Authorization", "Basic " + ByteEncoding.base64(Array("other:pw".utf8)))], "{}"))
                == .badCredentials)
        #expect(
            reason(basic, request([("Authorization", "Basic " + ByteEncoding.base64(Array("argo:nope".utf8)))], "{}"))
                == .badCredentials)
        #expect(reason(verifier("url-token", ["u"]), request([], "{}", query: [("token", "u")])) == nil)
        #expect(reason(verifier("url-token", ["u"]), request([], "{}", query: [("token", "x")])) == .badCredentials)
    }

    @Test func ed25519V1a() throws {
        let priv = Crypto.sha256(Array("seed".utf8))
        let pub = try #require(Crypto.ed25519PublicKey(privateKey: priv))
        let body = #"{"type":"x"}"#
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let sig = try #require(Crypto.ed25519Sign(privateKey: priv, message: Array("msg_1.1700000000.\(body)".utf8)))
        let v = verifier("standard-webhooks-ed25519", ["whpk_" + ByteEncoding.base64(pub)])
        let headers = [
            ("webhook-id", "msg_1"), ("webhook-timestamp", "1700000000"),
            ("webhook-signature", "v1a," + ByteEncoding.base64(sig)),
        ]
        #expect(reason(v, request(headers, body), now: now) == nil)
        #expect(reason(v, request(headers, body + " "), now: now) == .badSignature)
        // A v1 (HMAC) entry is not accepted by the v1a preset.
        #expect(
            reason(
                v, request([headers[0], headers[1], ("webhook-signature", "v1," + ByteEncoding.base64(sig))], body),
                now: now) == .malformedSignature)
    }

    @Test func netlifyJWS() throws {
        let body = #"{"id":"abc","state":"ready"}"#
        let signer = Signer(scheme: VerificationPreset.named("netlify")!.scheme, secret: Secret("jws-secret"))
        let headers = try signer.headers(for: Array(body.utf8))
        let v = verifier("netlify", ["jws-secret"])
        #expect(reason(v, request(headers.map { ($0.name, $0.value) }, body)) == nil)
        #expect(reason(v, request(headers.map { ($0.name, $0.value) }, body + " ")) == .badSignature)
        #expect(
            reason(verifier("netlify", ["other"]), request(headers.map { ($0.name, $0.value) }, body)) == .badSignature)
        // alg "none" is refused.
        let none =
            ByteEncoding.base64URL(Array(#"{"alg":"none"}"#.utf8)) + "." + headers[0].value.split(separator: ".")[1]
            + "."
        #expect(reason(v, request([("X-Webhook-Signature", none)], body)) == .malformedSignature)
    }

    @Test func droneDocsVectorThroughTheVerifier() {
        // Drone's published example: the signature over date and digest verifies; the body is not published, so
        // the Digest check (which binds the body) is what refuses this request.
        let v = verifier("drone", ["a34999ae0599f579eca8582058b46eee"])
        let headers = [
            ("Date", "Fri, 15 Jul 2022 18:47:25 GMT"),
            ("Digest", "SHA-256=wyFE2yWKPBpOLHuIVBHf4oD21wY4yINZZzoyR9jB6xo="),
            (
                "Signature",
                #"keyId="hmac-key",algorithm="hmac-sha256",signature="ObOcdsOSyYMy+0DDlg6X1naqPYY0qe59OrHmjv6Hav0=",headers="date digest""#
            ),
        ]
        do {
            try v.verify(request(headers, "{}"), now: Date(timeIntervalSince1970: 1_657_910_845))
            Issue.record("accepted a body that does not match the Digest")
        } catch let e as VerificationError {
            #expect(e.detail == "the Digest header does not match the body")
        } catch {}
        let wrongKey = verifier("drone", ["another-key"])
        #expect(
            reason(wrongKey, request(headers, "{}"), now: Date(timeIntervalSince1970: 1_657_910_845)) == .badSignature)
        // Without digest among the signed headers the body is not bound: refused.
        let unbound = [
            headers[0], headers[1],
            (
                "Signature",
                #"keyId="k",algorithm="hmac-sha256",signature="ObOcdsOSyYMy+0DDlg6X1naqPYY0qe59OrHmjv6Hav0=",headers="date""#
            ),
        ]
        #expect(reason(v, request(unbound, "{}")) == .malformedSignature)
    }

    @Test func splunkOnCallSignsTheURLAndSortedParameters() throws {
        let v = SignatureVerifier(
            scheme: .urlAndForm(header: "X-VictorOps-Signature", url: "https://bridge.example.com/hooks/splunk-oncall"),
            secrets: [Secret("auth-key")])
        let form = [
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-VictorOps-Signature", "i/HJyzSEbYV+Xzcz4srxixZoM0g="),
        ]
        #expect(reason(v, request(form, "b=2&a=1&c=x+y")) == nil)
        #expect(reason(v, request(form, "b=2&a=1&c=x+z")) == .badSignature)
        let elsewhere = SignatureVerifier(
            scheme: .urlAndForm(
                header: "X-VictorOps-Signature", url: "https://bridge.example.com/hooks/splunk-oncall/"),
            secrets: [Secret("auth-key")])
        #expect(reason(elsewhere, request(form, "b=2&a=1&c=x+y")) == .badSignature)
    }

    @Test func travisRSASHA1OverThePayloadField() throws {
        let pair = try #require(Crypto.rsaGenerate(bits: 2048))
        let payload = #"{"id":1,"state":"passed"}"#
        let body = "payload=" + payload.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let sig = try #require(
            Crypto.rsaSign(privateKeyDER: pair.privateDER, message: Array(payload.utf8), digest: .sha1))
        let v = verifier("travis", [Crypto.pemEncode(pair.publicDER, label: "PUBLIC KEY")])
        #expect(reason(v, request([("Signature", ByteEncoding.base64(sig))], body)) == nil)
        // A SHA-256 signature is not what Travis sends: refused.
        let sha256 = try #require(
            Crypto.rsaSign(privateKeyDER: pair.privateDER, message: Array(payload.utf8), digest: .sha256))
        #expect(reason(v, request([("Signature", ByteEncoding.base64(sha256))], body)) == .badSignature)
        #expect(
            reason(
                v,
                request(
                    [("Signature", ByteEncoding.base64(sig))], body.replacingOccurrences(of: "passed", with: "failed")))
                == .badSignature)
    }

    @Test func allowListRestrictsClientAddresses() throws {
        var v = verifier("bearer", ["t"])
        v.allowedNetworks = [try #require(CIDR("192.30.252.0/22")), try #require(CIDR("2a0a:a440::/29"))]
        #expect(reason(v, request([("Authorization", "Bearer t")], "{}", client: "192.30.253.1")) == nil)
        #expect(reason(v, request([("Authorization", "Bearer t")], "{}", client: "::ffff:192.30.253.1")) == nil)
        #expect(reason(v, request([("Authorization", "Bearer t")], "{}", client: "2a0a:a440::1")) == nil)
        #expect(reason(v, request([("Authorization", "Bearer t")], "{}", client: "10.0.0.1")) == .addressNotAllowed)
        #expect(CIDR("300.1.1.1/8") == nil)
    }

    // aws-sns is signed by AWS with a certificate (SNSVerificationTests covers it with test certificates), gcp-pubsub
    // by Google with its keys (GCPPubSubTests covers it with test keys).
    @Test(arguments: VerificationPreset.all.map(\.name).filter { $0 != "aws-sns" && $0 != "gcp-pubsub" })
    func everyPresetVerifiesWhatItsSignerProduces(preset: String) throws {
        let p = try #require(VerificationPreset.named(preset))
        var scheme = p.scheme
        var body = Array(#"{"hello":"world"}"#.utf8)
        if case .rsa(_, _, _?) = scheme { body = Array("payload=%7B%22hello%22%3A%22world%22%7D".utf8) }
        if case .basic = scheme { scheme = .basic(user: "u") }
        let secrets = Signer.testSecrets(for: scheme)
        var headers = try Signer(scheme: scheme, secret: secrets.signing).headers(for: body)
        var query: [(String, String)] = []
        if case .queryToken(let name) = scheme {
            query = [(name, secrets.signing.string)]
            headers = []
        }
        let v = SignatureVerifier(scheme: scheme, secrets: [secrets.verifying])
        let r = IncomingRequest(source: "s", query: query, headers: HeaderBag(headers), body: body)
        #expect(throws: Never.self) { try v.verify(r) }
        // The same request with a different body is refused, except for schemes that do not sign the body.
        var tampered = r
        tampered.body = body.map { $0 == UInt8(ascii: "w") ? UInt8(ascii: "m") : $0 }
        switch scheme {
        case .hmac, .ed25519, .jws, .rsa, .httpSignature:
            #expect(throws: VerificationError.self) { try v.verify(tampered) }
        default: break
        }
        // And a request signed with another secret is refused.
        var otherSecret = Secret(scheme == .unverified ? "" : "whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldCE=")
        if case .rsa = scheme, let pair = Crypto.rsaGenerate(bits: 1024) {
            otherSecret = Secret(Crypto.pemEncode(pair.publicDER, label: "PUBLIC KEY"))
        }
        let other = SignatureVerifier(scheme: scheme, secrets: [otherSecret])
        if scheme != .unverified { #expect(throws: VerificationError.self) { try other.verify(r) } }
        // A rotated secret: the old one listed after the new one still verifies.
        let rotated = SignatureVerifier(
            scheme: scheme, secrets: [Secret("whsec_bmV3LXNlY3JldC1uZXctc2VjcmV0LW5ldw=="), secrets.verifying])
        #expect(throws: Never.self) { try rotated.verify(r) }
        // Header names are matched case-insensitively.
        let shouting = IncomingRequest(
            source: "s", query: query, headers: HeaderBag(headers.map { ($0.name.uppercased(), $0.value) }), body: body)
        #expect(throws: Never.self) { try v.verify(shouting) }
        // Without its headers (or query token) the request is refused.
        if scheme != .unverified {
            #expect(throws: VerificationError.self) {
                try v.verify(IncomingRequest(source: "s", headers: HeaderBag(), body: body))
            }
        }
        // Timestamped schemes refuse a signature made too long ago or too far ahead.
        let timestamped: Bool
        switch scheme {
        case .hmac(let h): timestamped = h.usesTimestamp
        case .ed25519, .httpSignature: timestamped = true
        default: timestamped = false
        }
        if timestamped {
            for offset in [-400.0, 400.0] {
                let old = try Signer(scheme: scheme, secret: secrets.signing).headers(
                    for: body, now: Date().addingTimeInterval(offset))
                let e = #expect(throws: VerificationError.self) {
                    try v.verify(IncomingRequest(source: "s", headers: HeaderBag(old), body: body))
                }
                #expect(e?.reason == (offset < 0 ? .staleTimestamp : .futureTimestamp))
            }
        }
    }

    @Test func errorsNeverCarryTheSecretOrTheExpectedMAC() {
        let secret = "super-secret-value"
        let body = "data"
        let expected = ByteEncoding.hex(Crypto.hmac(.sha256, key: Array(secret.utf8), data: Array(body.utf8)))
        let v = verifier("github", [secret])
        do {
            try v.verify(request([("X-Hub-Signature-256", "sha256=" + String(repeating: "0", count: 64))], body))
            Issue.record("forged signature accepted")
        } catch {
            let text = "\(error) \(String(reflecting: error))"
            #expect(!text.contains(secret))
            #expect(!text.contains(expected))
        }
        #expect("\(Secret(secret))" == "<redacted>")
        #expect(!"\(v)".contains(secret))
    }
}

/// The allocation-free lookups and decoders on the path of every webhook, against the code they replaced.
@Suite("Byte-level header lookup and decoding")
struct ByteLevelVerificationTests {
    static let pieces = [
        "X-", "x-", "Hub", "hub", "-Signature", "-signature", "-256", "Content", "-Type", "Delivery", "a", "A",
        "\u{212A}", "k", "K", "\u{130}", "i", "é", "e\u{301}", "ß", "🙂",
    ]

    static func names(_ count: Int, seed: UInt64) -> [String] {
        var random = SeededRandom(seed: seed)
        return [""]
            + (0..<count).map { _ in
                (0..<Int.random(in: 0...4, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
            }
    }

    @Test func headerLookupMatchesLowercasedComparison() {
        let names = Self.names(300, seed: 21)
        let bag = HeaderBag(names.enumerated().map { ($0.element, "v\($0.offset)") })
        for wanted in Self.names(600, seed: 22) + names.map({ $0.uppercased() }) {
            let lower = wanted.lowercased()
            let old = bag.fields.first { $0.name.lowercased() == lower }?.value
            #expect(bag[wanted] == old, "\(wanted.debugDescription)")
        }
        let github = HeaderBag([("Content-Type", "application/json"), ("X-Hub-Signature-256", "sha256=ab")])
        #expect(github["x-hub-signature-256"] == "sha256=ab")
        #expect(github["X-HUB-SIGNATURE-256"] == "sha256=ab")
        #expect(github["X-Hub-Signature"] == nil)
        var grown = HeaderBag(capacity: 4)
        grown.add("\u{212A}ey", "kelvin")
        #expect(grown["KEY"] == "kelvin")  // decided by Unicode lowercasing, as before
    }

    @Test func hexDecodingMatchesAReferenceDecoder() {
        var random = SeededRandom(seed: 23)
        let alphabet = Array("0123456789abcdefABCDEFgx é")
        for _ in 0..<5000 {
            let text = String(
                (0..<Int.random(in: 0...9, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
            var reference: [UInt8]? = []
            let chars = Array(text.utf8)
            if chars.count % 2 != 0 { reference = nil }
            var i = 0
            while reference != nil, i < chars.count {
                if let byte = UInt8(String(decoding: chars[i...(i + 1)], as: UTF8.self), radix: 16),
                    chars[i...(i + 1)].allSatisfy({ $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "-") })
                {
                    reference!.append(byte)
                } else {
                    reference = nil
                }
                i += 2
            }
            #expect(ByteEncoding.fromHex(text) == reference, "\(text.debugDescription)")
            #expect(ByteEncoding.fromHex(Substring(text)) == reference)
        }
        let digest = Crypto.hmac(.sha256, key: Array("k".utf8), data: Array("body".utf8))
        #expect(digest.count == 32)
        #expect(ByteEncoding.fromHex(ByteEncoding.hex(digest)) == digest)
        #expect(Crypto.hmac(.sha1, key: [], data: []).count == 20)
    }

    @Test func httpDatesOfSignaturesMatchDateFormatter() {
        let formatter = Signer.httpDateFormatter()
        var random = SeededRandom(seed: 24)
        for _ in 0..<2000 {
            let date = Date(timeIntervalSince1970: Double.random(in: -20_000_000_000...300_000_000_000, using: &random))
            let text = Signer.httpDate(date)
            #expect(text == formatter.string(from: date))
            #expect(Signer.parseHTTPDate(text) == formatter.date(from: text), "\(text)")
        }
        for text in ["", "garbage", "Mon, 06 Nov 1994 08:49:37 GMT", "sun, 06 nov 1994 08:49:37 gmt"] {
            #expect(Signer.parseHTTPDate(text) == formatter.date(from: text), "\(text)")
        }
    }
}
