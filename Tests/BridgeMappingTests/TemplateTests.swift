import Foundation
import Testing

@testable import BridgeCore
@testable import BridgeMapping
@testable import BridgeVerification

func context(_ json: String, headers: [(String, String)] = [], query: [(String, String)] = []) throws -> MappingContext
{
    let r = IncomingRequest(
        source: "s", query: query.map { ($0.0, $0.1) }, headers: HeaderBag(headers.map { ($0.0, $0.1) }),
        body: Array(json.utf8))
    return MappingContext(request: r, payload: try JSONValue.parse(Array(json.utf8)))
}

func render(_ template: String, _ ctx: MappingContext) throws -> String {
    switch Template.parse(template) {
    case .success(let t): return try t.render(ctx)
    case .failure(let e): throw e
    }
}

@Suite("Templates")
struct TemplateTests {
    let payload = """
        {"repo":{"name":"api","full_name":"octo/api"},"ref":"main","n":3,"ok":false,"tags":["a","b",""],
         "alerts":[{"labels":{"alertname":"HighCPU"}},{"labels":{"alertname":"DiskFull"}}],
         "created":"2024-05-01T14:05:00Z","resolved":"2024-05-01T15:07:30Z","epoch":1714572300,"ms":1714572300123,
         "weird.key":{"x":"dotted"},"text":"{{ payload.ref }}","long":"abcdefghij"}
        """

    @Test func pathsDefaultsAndFilters() throws {
        let c = try context(payload, headers: [("X-GitHub-Event", "deployment")], query: [("env", "prod")])
        #expect(try render("{{ payload.repo.full_name }} {{ payload.ref }}", c) == "octo/api main")
        #expect(try render("{{ header.x-github-event }} {{ query.env }}", c) == "deployment prod")
        #expect(try render("{{ payload.missing | default \"n/a\" }}", c) == "n/a")
        #expect(try render("{{ payload.missing | default payload.ref }}", c) == "main")
        #expect(try render("{{ payload.ref | upper }}/{{ payload.repo.name | capitalize }}", c) == "MAIN/Api")
        #expect(try render("{{ payload.long | truncate 5 }}", c) == "abcd…")
        #expect(try render("{{ payload.tags | join \", \" }}", c) == "a, b")
        #expect(try render("{{ payload.alerts | map \"labels.alertname\" | join \"+\" }}", c) == "HighCPU+DiskFull")
        #expect(
            try render("{{ payload.alerts | length }} {{ payload.alerts[-1].labels.alertname }}", c) == "2 DiskFull")
        #expect(try render("{{ payload.\"weird.key\".x }}", c) == "dotted")
        #expect(try render("{{ payload.n | times 2 | plus 0.5 }}", c) == "6.5")
        #expect(try render("{{ payload.ok }}", c) == "false")
    }

    @Test func datesAndDurations() throws {
        let c = try context(payload)
        #expect(try render("{{ payload.created | date \"yyyy-MM-dd HH:mm\" }}", c) == "2024-05-01 14:05")
        #expect(
            try render("{{ payload.epoch | date \"HH:mm\" }} {{ payload.ms | date \"HH:mm:ss\" }}", c)
                == "14:05 14:05:00")
        #expect(try render("{{ payload.resolved | seconds_since payload.created }}", c) == "3750")
        #expect(try render("{{ payload.resolved | seconds_since payload.created | duration }}", c) == "1h 2m 30s")
        #expect(try render("{{ payload.resolved | seconds_since payload.created | minutes | round 1 }}", c) == "62.5")
    }

    @Test func payloadTextIsNeverEvaluated() throws {
        let c = try context(payload)
        #expect(try render("{{ payload.text }}", c) == "{{ payload.ref }}")
    }

    @Test func typedValueOfASingleExpression() throws {
        let c = try context(payload)
        guard case .success(let t) = Template.parse("{{ payload.n }}") else {
            Issue.record("parse")
            return
        }
        #expect(try t.value(c) == .number(3))
        guard case .success(let u) = Template.parse("n={{ payload.n }}") else {
            Issue.record("parse")
            return
        }
        #expect(try u.value(c) == .string("n=3"))
    }

    @Test(arguments: [
        ("{{ payload.ref", "'{{' is never closed with '}}'", 0),
        ("x }}", "'}}' without an opening '{{'", 2),
        (
            "{{ payload.ref | shout }}",
            "unknown filter 'shout' (filters: default, upper, lower, capitalize, trim, truncate, replace, join, map, first, last, length, json, split, slice, find, prefix, suffix, date, seconds_since, duration, minutes, hours, round, plus, minus, times, divided_by)",
            17
        ),
        (
            "{{ payload.ref | uper }}",
            "unknown filter 'uper'; did you mean 'upper'? (filters: default, upper, lower, capitalize, trim, truncate, replace, join, map, first, last, length, json, split, slice, find, prefix, suffix, date, seconds_since, duration, minutes, hours, round, plus, minus, times, divided_by)",
            17
        ),
        (
            "{{ paylod.ref }}",
            "unknown path root 'paylod' in 'paylod.ref' (expected one of payload, header, query, item, path, source, message)",
            3
        ),
        ("{{ payload.ref | truncate }}", "filter 'truncate' takes 1 argument, got 0", 17),
        (
            "{{ payload.ref | truncate \"x\" }}",
            "filter 'truncate' takes a whole number of characters, like truncate 80", 17
        ),
        (
            "{{ payload.ref | truncate x }}",
            "unknown path root 'x' in 'x' (expected one of payload, header, query, item, path, source, message)", 26
        ),
        ("{{ }}", "empty expression", 2),
    ])
    func parseErrors(template: String, message: String, offset: Int) {
        guard case .failure(let e) = Template.parse(template) else {
            Issue.record("\(template) parsed")
            return
        }
        #expect(e.message == message)
        #expect(e.offset == offset)
    }
}

@Suite("Time parsing and Cloudthread records")
struct TimeTests {
    @Test(arguments: [
        ("2024-05-01T14:05:59Z", "2024-05-01 14:00:00"),
        ("2024-05-01T14:05:59.123456Z", "2024-05-01 14:00:00"),
        ("2024-05-01T16:05:00+02:00", "2024-05-01 14:00:00"),
        ("2024-05-01T00:30:00-01:00", "2024-05-01 01:00:00"),
        ("2024-05-01 14:05:00", "2024-05-01 14:00:00"),
        ("2024-05-01 14:05:00 UTC", "2024-05-01 14:00:00"),
        ("1714572300", "2024-05-01 14:00:00"),
        ("1714572300123", "2024-05-01 14:00:00"),
        ("2024-02-29T23:59:59Z", "2024-02-29 23:00:00"),
        ("1969-12-31T23:00:00Z", "1969-12-31 23:00:00"),
    ])
    func floorsToTheHourInUTC(input: String, hour: String) throws {
        let date = try #require(TimeParsing.parse(input))
        #expect(CloudthreadTime.hour(date) == hour)
        #expect(CloudthreadTime.isHourly(hour))
    }

    @Test func numbersAreEpochSecondsOrMilliseconds() throws {
        #expect(CloudthreadTime.hour(try #require(TimeParsing.parse(.number(1_714_572_300)))) == "2024-05-01 14:00:00")
        #expect(
            CloudthreadTime.hour(try #require(TimeParsing.parse(.number(1_714_572_300_123)))) == "2024-05-01 14:00:00")
        #expect(TimeParsing.parse("yesterday") == nil)
        #expect(TimeParsing.parse("2024-13-01T00:00:00Z") == nil)
        #expect(!CloudthreadTime.isHourly("2024-05-01 14:05:00"))
    }

    @Test func descriptionsAreCutTo1000Characters() {
        let long = String(repeating: "é", count: 1500)
        let cut = CloudthreadLimits.clampDescription(long)
        #expect(cut.unicodeScalars.count == 1000)
        #expect(cut.hasSuffix("…"))
        #expect(CloudthreadLimits.clampDescription("short") == "short")
        let exactly = String(repeating: "x", count: 1000)
        #expect(CloudthreadLimits.clampDescription(exactly) == exactly)
    }
}

@Suite("More filters")
struct MoreFilterTests {
    @Test func splitSliceFindPrefixSuffix() throws {
        let c = try context(
            #"{"url":"git@github.com:octo/api.git","sha":"f95f852bd8fca8fc","actor":"","milestones":[{"type":"started","at":"2024-05-01T14:00:00Z"},{"type":"resolved","at":"2024-05-01T14:30:00Z"}],"ns":1714572300123456789}"#
        )
        #expect(try render("{{ payload.url | split \"/\" | last | replace \".git\" \"\" }}", c) == "api")
        #expect(try render("{{ payload.sha | slice 0 7 }}", c) == "f95f852")
        #expect(
            try render("{{ payload.milestones | find \"type\" \"resolved\" | json }}", c)
                == #"{"at":"2024-05-01T14:30:00Z","type":"resolved"}"#)
        #expect(
            try render(
                "x{{ payload.actor | prefix \" by \" }}y{{ payload.sha | slice 0 3 | prefix \"#\" | suffix \"!\" }}", c)
                == "xy#f95!")
        #expect(try render("{{ payload.ns | date \"yyyy-MM-dd HH:mm\" }}", c) == "2024-05-01 14:05")
        #expect(JSONValue.number(1.4204548911040023e+18).text == "1420454891104002304")
    }
}
