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

    @Test(arguments: [TeamRef?.none, .id(7), .name("platform")])
    func eventRecordsRoundTripThroughTheDecoder(team: TeamRef?) throws {
        let event = EventRecord(
            timestamp: "2024-05-01 14:00:00", team: team, type: "deploy", description: "api v1 <b>\"x\"</b>",
            url: team == nil ? nil : "https://example.com/a?b=c", rule: "r", dedupeKey: team == nil ? "k" : nil)
        #expect(try JSONDecoder().decode(EventRecord.self, from: Data(event.storedJSON.utf8)) == event)
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
