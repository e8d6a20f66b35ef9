import BridgeStore
import Foundation
import Testing

@testable import BridgeCore

/// `StoredRequest.isSensitive` searches header names byte by byte; it must answer as the Foundation search it
/// replaced (lowercase the name, then `contains` each word) for every name.
@Suite("Sensitive header names")
struct SensitiveHeaderTests {
    static func old(_ name: String) -> Bool {
        let lowered = name.lowercased()
        return StoredRequest.sensitiveWords.contains { lowered.contains($0) }
    }

    static let pieces = [
        "x-", "X-", "api-", "Hub-", "Signature", "SIG", "nature", "token", "TOKEN", "Tok", "en", "authorization",
        "Auth", "secret", "SeCrEt", "key", "KEY", "ke", "y", "cookie", "Set-Cookie", "pass", "word", "PassWord",
        "-", "_", "256", "a", "Z", "\u{212A}", "\u{212A}ey", "\u{130}", "é", "e\u{301}", "ß", "🙂", "\r\n",
    ]

    @Test func answersAsTheFoundationSearchDid() {
        var random = SeededRandom(seed: 19)
        var names = [
            "", "Content-Type", "X-Hub-Signature-256", "X-GitHub-Delivery", "Authorization", "X-Api-Key", "Cookie",
            "X-Gitlab-Token", "Monkey", "kEy", "x-\u{212A}ey", "KEYS", "User-Agent", "Accept",
        ]
        for _ in 0..<20_000 {
            let n = Int.random(in: 0...5, using: &random)
            names.append((0..<n).map { _ in Self.pieces.randomElement(using: &random)! }.joined())
        }
        var sensitive = 0
        for name in names {
            let answer = StoredRequest.isSensitive(name)
            #expect(answer == Self.old(name), "\(name.debugDescription)")
            if answer { sensitive += 1 }
        }
        // Both answers occur often enough for the comparison to mean something.
        #expect(sensitive > 2000 && sensitive < names.count - 2000)
        #expect(StoredRequest.isSensitive("X-Hub-Signature-256"))
        #expect(!StoredRequest.isSensitive("X-GitHub-Delivery"))
        #expect(StoredRequest.isSensitive("x-\u{212A}ey"))  // the Kelvin sign lowercases to k
    }

    @Test func masksOnlySensitiveValues() {
        let stored = StoredRequest(
            clientAddress: nil,
            headers: [("X-Hub-Signature-256", "sha256=abc"), ("X-GitHub-Event", "push"), ("x-api-KEY", "k")],
            body: [])
        #expect(
            stored.headers == [
                ["X-Hub-Signature-256", StoredRequest.mask], ["X-GitHub-Event", "push"],
                ["x-api-KEY", StoredRequest.mask],
            ])
    }
}

/// `StoredRequest.headersJSON` is written by hand now; it is stored, so it must be what the value writer wrote.
@Suite("Stored headers")
struct StoredHeadersJSONTests {
    @Test func headersAreWhatTheValueWriterWrites() {
        var random = SeededRandom(seed: 41)
        let words = ["", "Content-Type", "X-Hub-Signature-256", "a\"b", "c\\d", "é🙂", "\u{1}\r\n\t", "push", "x"]
        for _ in 0..<3000 {
            var headers: [[String]] = []
            for _ in 0..<Int.random(in: 0...6, using: &random) {
                headers.append(
                    (0..<Int.random(in: 0...3, using: &random)).map { _ in words.randomElement(using: &random)! })
            }
            let stored = StoredRequest(clientAddress: nil, headers: headers, body: [], bodySize: 0)
            let reference = JSONValue.array(headers.map { .array($0.map { JSONValue.string($0) }) }).json
            #expect(stored.headersJSON == reference)
            #expect(StoredRequest.headers(fromJSON: stored.headersJSON) == headers.filter { $0.count == 2 })
            // As the webhook path makes it: from name and value pairs, sensitive values masked.
            let pairs = headers.filter { $0.count == 2 }.map { ($0[0], $0[1]) }
            let masked = pairs.map { [$0.0, StoredRequest.isSensitive($0.0) ? StoredRequest.mask : $0.1] }
            let fresh = StoredRequest(clientAddress: nil, headers: pairs, body: [])
            #expect(fresh.headers == masked)
            #expect(fresh.headersJSON == JSONValue.array(masked.map { .array($0.map { JSONValue.string($0) }) }).json)
            #expect(fresh == StoredRequest(clientAddress: nil, headers: masked, body: [], bodySize: 0))
        }
    }
}

/// `StreamTokenRef.fingerprint` keeps its last answer; whatever the order of the tokens asked for, each answer is
/// the token's own fingerprint.
@Suite("Stream token fingerprints")
struct StreamTokenFingerprintTests {
    @Test func theKeptAnswerIsOnlyGivenForTheSameToken() {
        // The first 8 bytes of each token's SHA-256, in hex (`echo -n TOKEN | sha256sum`).
        let expected = ["tok": "1a7674eb4ee78df7", "a": "ca978112ca1bbdca", "dry-run": "25d33183d01ca782"]
        var random = SeededRandom(seed: 43)
        let tokens = ["tok", "dry-run", "a", "tol", "tok2", String(repeating: "t", count: 40)]
        var first: [String: String] = [:]
        for _ in 0..<2000 {
            let token = tokens.randomElement(using: &random)!
            let fingerprint = StreamTokenRef.fingerprint(Secret(token))
            #expect(fingerprint.utf8.count == 16)
            if let seen = first[token] { #expect(seen == fingerprint, "\(token)") } else { first[token] = fingerprint }
        }
        #expect(Set(first.values).count == tokens.count)
        for (token, fingerprint) in expected { #expect(first[token] == fingerprint, "\(token)") }
    }
}

/// `AggregateKey.of` builds its key by appending now; the key is stored, so it must be the one built before.
@Suite("Aggregate keys")
struct AggregateKeyTests {
    static func old(_ m: MetricObservation, streamRef: String) -> String {
        let dims = m.dimensions.keys.sorted().map { "\(JSONValue.quote($0)):\(JSONValue.quote(m.dimensions[$0]!))" }
            .joined(separator: ",")
        return "\(streamRef)|\(m.name)|\(m.aggregation.rawValue)|{\(dims)}|\(m.hour)"
    }

    @Test func keysAreTheSameAsBefore() {
        var random = SeededRandom(seed: 29)
        let words = [
            "repository", "environment", "result", "api", "prod", "success", "é", "\"q\"", "a\\b", "🙂", "", "\n",
        ]
        for _ in 0..<3000 {
            var dimensions: [String: String] = [:]
            for _ in 0..<Int.random(in: 0...4, using: &random) {
                dimensions[words.randomElement(using: &random)!] = words.randomElement(using: &random)!
            }
            let m = MetricObservation(
                streamToken: Secret("t"), name: words.randomElement(using: &random)!,
                aggregation: Aggregation.allCases.randomElement(using: &random)!, value: 1, dimensions: dimensions,
                hour: "2026-12-07 02:00:00", rule: "r")
            let ref = StreamTokenRef.fingerprint(m.streamToken)
            #expect(AggregateKey.of(m, streamRef: ref) == Self.old(m, streamRef: ref))
        }
    }
}
