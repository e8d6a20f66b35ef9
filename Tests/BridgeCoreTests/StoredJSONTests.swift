import Foundation
import Testing

@testable import BridgeCore

@Suite struct StoredJSONTests {
    @Test func explanationsRoundTripThroughTheDecoder() throws {
        var e = Explanation(source: "github")
        e.rules = [
            .init(
                rule: "deploy", matched: false,
                checks: [
                    ConditionCheck(
                        path: "payload.state", expectation: "one of [success]", seen: "\"x\"\\\u{1}", passed: false),
                    ConditionCheck(path: "header.X", expectation: "exists", seen: nil, passed: true),
                ], items: 3, events: 0, metrics: 0),
            .init(rule: "other", matched: true, checks: [], events: 1, metrics: 2),
        ]
        e.rejected = [.init(rule: "deploy", reason: "time '1e30' is outside the accepted range")]
        e.notes = ["note with \"quotes\" and ünïcödé 🚀"]
        let decoded = try JSONDecoder().decode(Explanation.self, from: Data(e.storedJSON.utf8))
        #expect(decoded == e)
    }

    @Test func explanationsAreWhatTheValueWriterWrites() {
        var rng = SeededRandom(seed: 19)
        let words = ["", "a", "deploy", "\"q\"", "ünï 🚀", "\u{1}\n\t/", "payload.deployment_status.state"]
        func word() -> String { words[Int(rng.next() % UInt64(words.count))] }
        for _ in 0..<500 {
            var e = Explanation(source: word())
            for _ in 0..<Int(rng.next() % 4) {
                var checks: [ConditionCheck] = []
                for _ in 0..<Int(rng.next() % 4) {
                    checks.append(
                        ConditionCheck(
                            path: word(), expectation: word(), seen: rng.next() % 2 == 0 ? nil : word(),
                            passed: rng.next() % 2 == 0))
                }
                e.rules.append(
                    .init(
                        rule: word(), matched: rng.next() % 2 == 0, checks: checks,
                        items: rng.next() % 2 == 0 ? nil : Int(rng.next() % 1000), events: Int(rng.next() % 5),
                        metrics: Int(rng.next() % 5)))
            }
            for _ in 0..<Int(rng.next() % 3) { e.rejected.append(.init(rule: word(), reason: word())) }
            for _ in 0..<Int(rng.next() % 3) { e.notes.append(word()) }
            #expect(e.storedJSON == e.jsonValue.json)
        }
    }

    @Test(arguments: [TeamRef?.none, .id(7), .name("platform")])
    func eventRecordsRoundTripThroughTheDecoder(team: TeamRef?) throws {
        let event = EventRecord(
            timestamp: "2024-05-01 14:00:00", team: team, type: "deploy", description: "api v1 <b>\"x\"</b>",
            url: team == nil ? nil : "https://example.com/a?b=c", rule: "r", dedupeKey: team == nil ? "k" : nil)
        #expect(try JSONDecoder().decode(EventRecord.self, from: Data(event.storedJSON.utf8)) == event)
        #expect(EventRecord(storedJSON: event.storedJSON) == event)
    }

    @Test func requestBodiesAreWhatTheEncoderWrote() throws {
        let events = EventsRequest(data: [
            .init(
                timestamp: "2024-05-01 14:00:00", teamID: 3,
                payload: .init(type: "deploy", description: "d", eventURL: "u")),
            .init(timestamp: "2024-05-01 15:00:00", payload: .init(type: "incident")),
        ])
        let ingest = IngestRequest(
            dataStreamToken: "t", metricAggFunc: "Sum",
            data: [
                .init(timestamp: "2024-05-01 14:00:00", metricName: "m", metricValue: 2.5, customDimensions: ["a": "b"])
            ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(try JSONValue.parse(events.jsonBytes) == JSONValue.parse(Array(encoder.encode(events))))
        #expect(try JSONValue.parse(ingest.jsonBytes) == JSONValue.parse(Array(encoder.encode(ingest))))
    }

    /// The words the seeded comparisons below draw from: empty, ASCII, quotes, backslashes, control characters
    /// (escaped as `\uXXXX`), non-ASCII, and texts longer than a small string.
    static let words = [
        "", "a", "deploy", "\"q\"", "a\\b", "ünï 🚀", "\u{1}\n\t/\r\u{1F}", "payload.deployment_status.state",
        "https://example.com/a?b=c&d=\"e\"", String(repeating: "x", count: 15), String(repeating: "y", count: 16),
        "\u{7F}\u{0}é", "2024-05-01 14:00:00",
    ]

    @Test func eventRecordsAreWhatTheValueWriterWrites() {
        var rng = SeededRandom(seed: 23)
        func word() -> String { Self.words[Int(rng.next() % UInt64(Self.words.count))] }
        func maybe() -> String? { rng.next() % 2 == 0 ? nil : word() }
        for _ in 0..<2000 {
            let team: TeamRef? =
                switch rng.next() % 4 {
                case 0: nil
                case 1: .id(Int(truncatingIfNeeded: rng.next() % 2_000_000) - 1_000_000)
                case 2: .id(Int(truncatingIfNeeded: rng.next()))
                default: .name(word())
                }
            let event = EventRecord(
                timestamp: word(), team: team, type: word(), description: maybe(), url: maybe(), rule: word(),
                dedupeKey: maybe())
            #expect(event.storedJSON == event.referenceJSON, "\(event)")
        }
    }

    @Test func dimensionsAreWhatTheValueWriterWrites() {
        var rng = SeededRandom(seed: 31)
        func word() -> String { Self.words[Int(rng.next() % UInt64(Self.words.count))] }
        for _ in 0..<2000 {
            var dimensions: [String: String] = [:]
            for _ in 0..<Int(rng.next() % 6) { dimensions[word()] = word() }
            #expect(dimensions.storedJSON == JSONValue.object(dimensions.mapValues(JSONValue.string)).json)
        }
    }

    @Test func quotingIsWhatTheStringWriterWrites() {
        var rng = SeededRandom(seed: 37)
        var texts = Self.words + (0...0x7F).map { String(UnicodeScalar(UInt8($0))) }
        for _ in 0..<5000 {
            texts.append(
                (0..<Int(rng.next() % 6)).map { _ in Self.words[Int(rng.next() % UInt64(Self.words.count))] }.joined())
        }
        for text in texts {
            var bytes: [UInt8] = []
            JSONValue._writeString(text, into: &bytes)
            #expect(JSONValue.quote(text) == String(decoding: bytes, as: UTF8.self), "\(text.debugDescription)")
        }
    }

    @Test func dimensionsAreSortedCompactJSON() {
        #expect(["b": "2", "a": "1\"/"].storedJSON == #"{"a":"1\"/","b":"2"}"#)
    }

    @Test func trimmingMatchesFoundation() {
        for s in ["", " ", "a", " a ", "\t\na b\r\n", "\u{00A0}x\u{2003}", "é ", "  🚀  "] {
            #expect(s.trimmed == s.trimmingCharacters(in: .whitespacesAndNewlines), "\(s.debugDescription)")
        }
    }
}

/// The stored explanation as a `JSONValue`: the reference `Explanation.storedJSON`'s hand-written bytes are checked
/// against (compact JSON with sorted keys).
extension Explanation {
    var jsonValue: JSONValue {
        .object([
            "source": .string(source),
            "rules": .array(rules.map(\.jsonValue)),
            "rejected": .array(rejected.map { .object(["rule": .string($0.rule), "reason": .string($0.reason)]) }),
            "notes": .array(notes.map(JSONValue.string)),
        ])
    }
}

extension Explanation.RuleTrace {
    var jsonValue: JSONValue {
        var object: [String: JSONValue] = [
            "rule": .string(rule), "matched": .bool(matched), "events": .number(Double(events)),
            "metrics": .number(Double(metrics)),
            "checks": .array(checks.map(\.jsonValue)),
        ]
        if let items { object["items"] = .number(Double(items)) }
        return .object(object)
    }
}

extension ConditionCheck {
    var jsonValue: JSONValue {
        var object: [String: JSONValue] = [
            "path": .string(path), "expectation": .string(expectation), "passed": .bool(passed),
        ]
        if let seen { object["seen"] = .string(seen) }
        return .object(object)
    }
}

extension EventRecord {
    /// The stored record as a `JSONValue`, as `storedJSON` built it before it was written by hand (compact JSON with
    /// sorted keys): the reference its bytes are checked against.
    var referenceJSON: String {
        var object: [String: JSONValue] = [
            "timestamp": .string(timestamp), "type": .string(type), "rule": .string(rule),
        ]
        if let description { object["description"] = .string(description) }
        if let url { object["url"] = .string(url) }
        if let dedupeKey { object["dedupeKey"] = .string(dedupeKey) }
        switch team {
        case .id(let n)?: object["team"] = .object(["id": .object(["_0": .number(Double(n))])])
        case .name(let s)?: object["team"] = .object(["name": .object(["_0": .string(s)])])
        case nil: break
        }
        return JSONValue.object(object).json
    }
}
