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
