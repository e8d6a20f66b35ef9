import Foundation
import Testing

@testable import BridgeCore
@testable import BridgeMapping
@testable import BridgeVerification

func source(_ yaml: String) throws -> SourceDefinition {
    let (s, diags) = RuleLoader(environment: ["TEST_WEBHOOK_SECRET": "s"]).load(file: "t.yaml", text: yaml)
    if diags.hasErrors { Issue.record("diagnostics: \(diags)") }
    return try #require(s)
}

func map(
    _ s: SourceDefinition, _ body: String, headers: [(String, String)] = [("Content-Type", "application/json")],
    query: [(String, String)] = [], subpath: String = "", streamToken: String? = "tok"
) throws -> MappingResult {
    let r = IncomingRequest(
        source: s.name, query: query.map { ($0.0, $0.1) }, headers: HeaderBag(headers.map { ($0.0, $0.1) }),
        body: Array(body.utf8), receivedAt: Date(timeIntervalSince1970: 1_714_572_300))
    return try Mapper(defaultStreamToken: streamToken.map(Secret.init)).map(r, source: s, subpath: subpath)
}

@Suite("Mapping")
struct MapperTests {
    let alerts = """
        source: am
        verify: { unverified: true }
        dedupe: { key: "{{ payload.groupKey }}|{{ payload.status }}" }
        rules:
          - name: alert
            for_each: payload.alerts
            when:
              item.status: [firing, resolved]
              not: { item.labels.severity: info }
            event:
              type: incident
              time: item.startsAt
              description: "{{ item.labels.alertname }} on {{ item.labels.service | default \\"unknown\\" }}: {{ item.status }}"
            metrics:
              - name: incidents
                aggregate: Sum
                value: 1
                dimensions: { service: "{{ item.labels.service }}", severity: "{{ item.labels.severity }}" }
              - name: incident_duration_seconds
                aggregate: Maximum
                value: "{{ item.endsAt | seconds_since item.startsAt }}"
        """

    @Test func forEachProducesOneOutputPerMatchingElement() throws {
        let body = """
            {"groupKey":"{}:{alertname=\\"x\\"}","status":"resolved","alerts":[
              {"status":"resolved","labels":{"alertname":"HighCPU","service":"api","severity":"critical"},"startsAt":"2024-05-01T14:10:00Z","endsAt":"2024-05-01T14:40:00Z"},
              {"status":"resolved","labels":{"alertname":"Noise","severity":"info"},"startsAt":"2024-05-01T14:10:00Z","endsAt":"2024-05-01T14:20:00Z"},
              {"status":"firing","labels":{"alertname":"DiskFull","severity":"warning"},"startsAt":"2024-05-01T15:01:00Z"}]}
            """
        let r = try map(try source(alerts), body)
        #expect(r.events.map(\.description) == ["HighCPU on api: resolved", "DiskFull on unknown: firing"])
        #expect(r.events.map(\.timestamp) == ["2024-05-01 14:00:00", "2024-05-01 15:00:00"])
        #expect(r.metrics.filter { $0.name == "incident_duration_seconds" }.map(\.value) == [1800])
        // The firing alert has no endsAt: its duration metric is rejected with a reason, the rest is kept.
        #expect(r.explanation.rejected.count == 1)
        #expect(r.explanation.rejected[0].reason.contains("metric 'incident_duration_seconds' value (absent)"))
        #expect(r.contentKey == "{}:{alertname=\"x\"}|resolved")
        #expect(r.explanation.rules[0].items == 3)
    }

    @Test func conditionsExplainWhatTheySaw() throws {
        let s = try source(
            """
            source: c
            verify: { unverified: true }
            rules:
              - name: big-prod
                when:
                  query.env: prod
                  payload.size: { gte: 10 }
                  any: [ { payload.kind: deploy }, { payload.kind: { regex: "^roll" } } ]
                  payload.tags: { contains: release }
                  payload.gone: { exists: false }
                event: { type: "{{ payload.kind }}" }
            """)
        let ok = try map(s, #"{"size": 12, "kind": "rollback", "tags": ["x", "release"]}"#, query: [("env", "prod")])
        #expect(ok.events.map(\.type) == ["rollback"])
        let small = try map(s, #"{"size": 3, "kind": "deploy", "tags": ["release"]}"#, query: [("env", "prod")])
        #expect(small.records.isEmpty)
        #expect(small.explanation.summary == "big-prod: payload.size >= 10 but was 3")
        let wrongEnv = try map(s, #"{"size": 12, "kind": "deploy", "tags": ["release"]}"#, query: [("env", "dev")])
        #expect(wrongEnv.explanation.summary == "big-prod: query.env equals \"prod\" but was \"dev\"")
    }

    @Test func formEncodedPayloadField() throws {
        let s = try source(
            "source: g\nverify: { unverified: true }\nrules: [{ name: r, when: { payload.action: created }, event: { type: deploy, description: \"{{ payload.repository.name }}\" } }]\n"
        )
        let json = #"{"action":"created","repository":{"name":"hello & world"}}"#
        let form = "payload=" + json.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        let r = try map(s, form, headers: [("Content-Type", "application/x-www-form-urlencoded")])
        #expect(r.events.map(\.description) == ["hello & world"])
    }

    @Test func malformedBodyIsAnError() throws {
        let s = try source("source: g\nverify: { unverified: true }\nrules: [{ name: r, event: { type: deploy } }]\n")
        #expect(throws: MappingError.self) { try map(s, "{not json") }
    }

    @Test func invalidOutputsAreRejectedWithAPreciseReason() throws {
        let s = try source(
            """
            source: v
            verify: { unverified: true }
            rules:
              - name: r
                event: { type: "{{ payload.kind }}", url: "{{ payload.link }}", time: payload.at }
            """)
        #expect(
            try map(s, #"{"link": "https://x"}"#).explanation.rejected.map(\.reason) == [
                "event type from {{ payload.kind }} is empty"
            ])
        #expect(
            try map(s, #"{"kind": "deploy", "link": "javascript:alert(1)"}"#).explanation.rejected.map(\.reason) == [
                "event url 'javascript:alert(1)' is not an http(s) URL"
            ])
        #expect(
            try map(s, #"{"kind": "deploy", "at": "last tuesday"}"#).explanation.rejected.map(\.reason) == [
                "event time 'last tuesday' from {{ payload.at }} is not RFC 3339 or epoch seconds/milliseconds"
            ])
        // A missing time falls back to the receive time, floored to the hour.
        #expect(try map(s, #"{"kind": "deploy"}"#).events.first?.timestamp == "2024-05-01 14:00:00")
    }

    @Test func metricsNeedAStreamToken() throws {
        let s = try source(
            "source: m\nverify: { unverified: true }\nrules: [{ name: r, metric: { name: deploys, aggregate: Sum, value: 1 } }]\n"
        )
        let none = try map(s, "{}", streamToken: nil)
        #expect(none.metrics.isEmpty)
        #expect(
            none.explanation.notes == [
                "rule 'r': metric skipped, no data stream token configured (set CLOUDTHREAD_STREAM_TOKEN or stream_token)"
            ])
        #expect(try map(s, "{}").metrics.map(\.streamToken.string) == ["tok"])
    }

    @Test func teamsByNameOrId() throws {
        let s = try source(
            "source: t\nverify: { unverified: true }\nteam: platform\nrules:\n  - { name: a, event: { type: deploy } }\n  - { name: b, event: { type: deploy, team: \"12\" } }\n"
        )
        #expect(try map(s, "{}").events.map(\.team) == [.name("platform"), .id(12)])
    }
}
