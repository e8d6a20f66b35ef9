import BridgeStore
import Testing

@testable import BridgeCore
@testable import BridgeDelivery
@testable import BridgeVerification

/// `Ingestor.maskingCredentials` compares header names byte by byte now; it masks exactly what the lowercased set
/// lookup masked.
@Suite("Masking the headers a source verifies with")
struct MaskingTests {
    static func old(_ headers: HeaderBag, _ scheme: VerificationScheme) -> [(String, String)] {
        let credentials = Set(scheme.credentialHeaders.map { $0.lowercased() })
        return headers.fields.map {
            ($0.name, credentials.contains($0.name.lowercased()) ? StoredRequest.mask : $0.value)
        }
    }

    @Test func masksWhatTheLowercasedLookupMasked() {
        let pieces = [
            "X-", "x-", "Hub-", "hub-", "Signature", "signature", "-256", "Authorization", "AUTH", "Token",
            "Gitlab-", "\u{212A}", "k", "é", "e\u{301}", "ß",
        ]
        var random = SeededRandom(seed: 41)
        var fields: [(name: String, value: String)] = [
            ("X-Hub-Signature-256", "sha256=1"), ("x-hub-signature-256", "sha256=2"), ("Authorization", "Bearer x"),
            ("X-Gitlab-Token", "t"), ("Content-Type", "application/json"), ("X-HUB-SIGNATURE", "sha256=3"),
            ("x-gitlab-token", "t2"), ("X-PagerDuty-Signature", "v1=a"), ("CircleCI-Signature", "v1=b"),
            ("X-Vercel-Signature", "c"), ("X-Hub-Signature-2567", "d"),
        ]
        for i in 0..<3000 {
            let name = (0..<Int.random(in: 1...4, using: &random)).map { _ in pieces.randomElement(using: &random)! }
            fields.append((name.joined(), "value \(i)"))
        }
        let headers = HeaderBag(fields)
        var masked = 0
        for preset in ["github", "gitlab", "pagerduty", "circleci", "bitbucket", "vercel"] {
            guard let scheme = VerificationPreset.named(preset)?.scheme else { continue }
            let new = Ingestor.maskingCredentials(headers, of: scheme)
            let old = Self.old(headers, scheme)
            #expect(new.map(\.0) == old.map(\.0))
            #expect(new.map(\.1) == old.map(\.1), "\(preset)")
            masked += new.filter { $0.1 == StoredRequest.mask }.count
        }
        #expect(masked >= 8)
        let github = Ingestor.maskingCredentials(headers, of: VerificationPreset.named("github")!.scheme)
        #expect(
            github[0].1 == StoredRequest.mask && github[1].1 == StoredRequest.mask && github[4].1 == "application/json")
    }
}
