import Foundation
import Testing

@testable import BridgeCore
@testable import BridgeMapping
@testable import BridgeVerification

/// A rule file with one deploy rule whose event has `cost_impact:` with these lines (indented under the event).
func costImpactFile(_ costImpact: String, metric: String = "", extra: String = "") -> String {
    """
    source: deploys
    verify: { unverified: true }
    rules:
      - name: deploy
        event:
          type: deploy
          time: payload.at
          description: "{{ payload.service }} {{ payload.version }}"
          url: "{{ payload.url }}"
          team: platform
          cost_impact:
    \(costImpact.split(separator: "\n").map { "        " + $0 }.joined(separator: "\n"))
    \(metric)\(extra)
    """
}

/// Maps with the time received on 2024-05-10T00:13:20Z, so that deploys of 2024-05-08 and 05-09 are accepted.
func mapLater(_ s: SourceDefinition, _ body: String, streamToken: String? = "tok") throws -> MappingResult {
    let r = IncomingRequest(
        source: s.name, headers: HeaderBag([("Content-Type", "application/json")]), body: Array(body.utf8),
        receivedAt: Date(timeIntervalSince1970: 1_715_300_000))
    return try Mapper(defaultStreamToken: streamToken.map(Secret.init)).map(r, source: s)
}

func costImpactEvent(_ s: SourceDefinition) throws -> CostImpactTemplate {
    try #require(s.rules.first?.events.first?.costImpact)
}

@Suite("Cost impact in rule files")
struct CostImpactRuleTests {
    // MARK: loading

    @Test func defaults() throws {
        let (s, diags) = load(costImpactFile("view: cv-42"))
        #expect(diags == [])
        let c = try costImpactEvent(try #require(s))
        #expect(c.spec.source == .costView("cv-42"))
        #expect(c.spec.beforeDays == 7)
        #expect(c.spec.afterDays == 3)
        #expect(c.spec.thresholdPercent == nil)
        #expect(c.spec.settlingHours == 24)
        #expect(c.dimensions == nil)
        #expect(c.streamToken == nil)
    }

    @Test func everyKeyAndAUnitMetric() throws {
        let (s, diags) = load(
            costImpactFile(
                """
                unit_metric: um_7.a~b
                before: 14d
                after: 5D
                threshold: 12.5%
                settle: 12h
                dimensions: { service: "{{ payload.service }}", tier: gold }
                stream_token: "${COST_STREAM}"
                """), env: ["COST_STREAM": "stream-1"])
        #expect(diags == [])
        let c = try costImpactEvent(try #require(s))
        #expect(c.spec.source == .unitMetric("um_7.a~b"))
        #expect(c.spec.beforeDays == 14)
        #expect(c.spec.afterDays == 5)
        #expect(c.spec.thresholdPercent == 12.5)
        #expect(c.spec.settlingHours == 12)
        #expect(c.dimensions?.map(\.key) == ["service", "tier"])
        #expect(c.streamToken?.string == "stream-1")
    }

    @Test func environmentReferencesAreExpandedAtLoadTime() throws {
        let file = costImpactFile("view: \"${CLOUDTHREAD_COST_VIEW_ID}\"\nstream_token: \"${MISSING_TOKEN}\"")
        let (s, diags) = load(file, env: ["CLOUDTHREAD_COST_VIEW_ID": "cv-from-env"])
        #expect(diags == [])
        let c = try costImpactEvent(try #require(s))
        #expect(c.spec.source == .costView("cv-from-env"))
        #expect(c.streamToken == nil)
        let (d, _) = load(costImpactFile("view: \"${UNSET_VIEW:-cv-default}\""), env: [:])
        #expect(try costImpactEvent(try #require(d)).spec.source == .costView("cv-default"))
    }

    @Test func anUnsetViewVariableIsNamed() {
        let (s, diags) = load(costImpactFile("view: \"${CLOUDTHREAD_COST_VIEW_ID}\""), env: [:])
        #expect(s == nil)
        #expect(
            diags == [
                "mappings/test.yaml:12:15: error: cost_impact 'view' is empty: CLOUDTHREAD_COST_VIEW_ID is not set (set "
                    + "it to the Cost View id, or remove the cost_impact section)"
            ])
        let (_, empty) = load(costImpactFile("unit_metric: \"\""))
        #expect(
            empty == [
                "mappings/test.yaml:12:22: error: cost_impact 'unit_metric' must not be empty: give the Unit Metric id"
            ])
    }

    @Test func everyProblemIsReportedAtItsValue() {
        let yaml = """
            source: deploys
            verify: { unverified: true }
            rules:
              - name: none
                event:
                  type: deploy
                  cost_impact: { before: 7d }
              - name: both
                event:
                  type: deploy
                  cost_impact: { view: cv-1, unit_metric: um-1 }
              - name: bad-id
                event:
                  type: deploy
                  cost_impact: { view: "cost/view 1" }
              - name: durations
                event:
                  type: deploy
                  cost_impact:
                    view: cv-1
                    before: 1d
                    after: 72h
                    settle: 31d
              - name: more-durations
                event:
                  type: deploy
                  cost_impact: { view: cv-1, before: 7, after: 91d, settle: soon }
              - name: thresholds
                events:
                  - type: deploy
                    cost_impact: { view: cv-1, threshold: 5 }
                  - type: deploy
                    cost_impact: { view: cv-1, threshold: 0% }
                  - type: deploy
                    cost_impact: { view: cv-1, threshold: "-3%" }
              - name: shapes
                events:
                  - type: deploy
                    cost_impact: cv-1
                  - type: deploy
                    cost_impact: { view: cv-1, thresold: 5%, before: [7d] }
            """
        let (s, diags) = load(yaml)
        #expect(s == nil)
        #expect(
            diags == [
                "mappings/test.yaml:7:20: error: cost_impact needs 'view' (a Cost View id) or 'unit_metric' (a Unit "
                    + "Metric id): the series to compare before and after the deploy",
                "mappings/test.yaml:11:34: error: cost_impact takes 'view' or 'unit_metric', not both ('view' is given "
                    + "above)",
                "mappings/test.yaml:15:28: error: cost_impact: view 'cost/view 1' is not a Cloudthread id (letters, "
                    + "digits, - _ . ~; at most 128)",
                "mappings/test.yaml:21:17: error: cost_impact: before '1d': at least 2d (at least 2 days on each side "
                    + "are needed to compare)",
                "mappings/test.yaml:22:16: error: cost_impact: after '72h': whole days only; write whole days like 7d "
                    + "(2d to 90d)",
                "mappings/test.yaml:23:17: error: cost_impact: settle '31d': at most 30d",
                "mappings/test.yaml:27:42: error: cost_impact: before '7': add the unit; write whole days like 7d (2d "
                    + "to 90d)",
                "mappings/test.yaml:27:52: error: cost_impact: after '91d': at most 90d",
                "mappings/test.yaml:27:65: error: cost_impact: settle 'soon' is not a duration; write hours or days "
                    + "like 12h or 1d (at most 30d)",
                "mappings/test.yaml:31:47: error: cost_impact: threshold '5': add the % sign; write a percentage like "
                    + "5% or 12.5% (above 0%, at most 1000%)",
                "mappings/test.yaml:33:47: error: cost_impact: threshold '0%': must be above 0%",
                "mappings/test.yaml:35:47: error: cost_impact: threshold '-3%': must be above 0%",
                "mappings/test.yaml:39:22: error: 'cost_impact' must be a mapping of keys to values",
                "mappings/test.yaml:41:36: error: unknown key 'thresold' in 'cost_impact'; did you mean 'threshold'?",
                "mappings/test.yaml:41:58: error: cost_impact 'before' must be a single value, not a list",
            ])
    }

    @Test func checkRunsTheSameValidation() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cost-impact-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try costImpactFile("view: cv-1\nafter: 1d").write(
            to: dir.appendingPathComponent("deploys.yaml"), atomically: true, encoding: .utf8)
        let diags = RuleChecker(environment: [:]).check(path: dir.path).map(\.description)
        #expect(
            diags.contains {
                $0.hasSuffix(
                    "deploys.yaml:13:16: error: cost_impact: after '1d': at least 2d (at least 2 days on each side are needed to compare)"
                )
            })
    }

    // MARK: mapping

    let deploy = """
        source: deploys
        verify: { unverified: true }
        stream_token: source-token
        rules:
          - name: deploy
            event:
              type: deploy
              time: payload.at
              description: "{{ payload.service }} {{ payload.version }}"
              url: "{{ payload.url }}"
              team: platform
              cost_impact: { view: cv-42, threshold: 5% }
            metrics:
              - name: deployments
                aggregate: Sum
                value: 1
                stream_token: metric-token
                dimensions: { service: "{{ payload.service }}", env: "{{ payload.env }}" }
              - name: other
                aggregate: Sum
                value: 1
                dimensions: { other: x }
        """

    let body = """
        {"service":"api","version":"v1.4.2","env":"production","url":"https://ci.example.com/1","n":1,
         "at":"2024-05-08T14:23:05.789Z"}
        """

    @Test func aDeployPlansAFollowUpAtItsTimeToTheSecond() throws {
        let r = try mapLater(try source(deploy), body)
        #expect(r.events.count == 1)
        #expect(r.events[0].timestamp == "2024-05-08 14:00:00")
        #expect(r.followUps.count == 1)
        let f = try #require(r.followUps.first)
        #expect(f.deployAt == Date(timeIntervalSince1970: 1_715_178_185))  // 2024-05-08T14:23:05Z
        #expect(CostImpactTime.rfc3339(f.due) == "2024-05-13T00:00:00Z")
        #expect(f.spec.source == .costView("cv-42"))
        #expect(f.spec.thresholdPercent == 5)
        #expect(f.description == "api v1.4.2")
        #expect(f.url == "https://ci.example.com/1")
        #expect(f.team == .name("platform"))
        #expect(f.rule == "deploy")
        #expect(f.dedupeKey == nil)
        // The rule's first metric's dimensions, evaluated for this webhook.
        #expect(f.dimensions == ["service": "api", "env": "production"])
        #expect(f.streamToken?.string == "metric-token")
        #expect(
            r.explanation.notes == [
                "rule 'deploy': cost impact follow-up planned: cost view cv-42, 3 days after vs 7 days before "
                    + "2024-05-08, due 2024-05-13T00:00:00Z, threshold 5%"
            ])
        #expect(r.explanation.rejected.map(\.reason) == [])
    }

    @Test func withoutATimeTheDeployIsTheTimeReceived() throws {
        let r = try map(try source(costImpactFile("view: cv-1\nsettle: 0h")), #"{"service":"api"}"#)
        let f = try #require(r.followUps.first)
        #expect(f.deployAt == Date(timeIntervalSince1970: 1_714_572_300))  // 2024-05-01T14:05:00Z
        #expect(CostImpactTime.rfc3339(f.due) == "2024-05-05T00:00:00Z")
        #expect(f.dimensions == [:])
        #expect(f.url == nil)
    }

    @Test func explicitDimensionsReplaceTheMetricsAndAreEvaluatedTheSameWay() throws {
        let file = costImpactFile(
            """
            view: cv-1
            dimensions: { service: "{{ payload.service | upper }}", missing: "{{ payload.nothing }}", bad: '{{ payload.service | date "yyyy" }}' }
            """,
            metric: """
                    metric: { name: deployments, aggregate: Sum, value: 1, dimensions: { env: x } }
                """)
        let r = try mapLater(try source(file), #"{"service":"api","at":"2024-05-08T14:23:05Z"}"#)
        #expect(r.followUps.map(\.dimensions) == [["service": "API", "missing": ""]])
    }

    @Test func theStreamTokenChainIsTheMetricsOne() throws {
        func token(_ yaml: String, mapper: String? = "default-token", dryRun: Bool = false) throws -> String? {
            let r = IncomingRequest(
                source: "deploys", headers: HeaderBag([("Content-Type", "application/json")]),
                body: Array(#"{"at":"2024-05-08T14:23:05Z"}"#.utf8),
                receivedAt: Date(timeIntervalSince1970: 1_715_200_000))
            let result = try Mapper(defaultStreamToken: mapper.map(Secret.init), dryRun: dryRun).map(
                r, source: try source(yaml))
            return try #require(result.followUps.first).streamToken?.string
        }
        let metric = "    metric: { name: d, aggregate: Sum, value: 1, stream_token: metric-token }"
        let ruleToken = "    stream_token: rule-token"
        #expect(try token(costImpactFile("view: cv-1\nstream_token: own-token", metric: metric)) == "own-token")
        #expect(try token(costImpactFile("view: cv-1", metric: metric + "\n" + ruleToken)) == "metric-token")
        #expect(try token(costImpactFile("view: cv-1", metric: ruleToken)) == "rule-token")
        let sourceToken = costImpactFile("view: cv-1").replacingOccurrences(
            of: "verify: { unverified: true }", with: "verify: { unverified: true }\nstream_token: source-token")
        #expect(try token(sourceToken) == "source-token")
        #expect(try token(costImpactFile("view: cv-1")) == "default-token")
        #expect(try token(costImpactFile("view: cv-1"), mapper: nil) == nil)
        #expect(try token(costImpactFile("view: cv-1"), mapper: nil, dryRun: true) == "dry-run")
        let r = try mapLater(
            try source(costImpactFile("view: cv-1")), #"{"at":"2024-05-08T14:23:05Z"}"#, streamToken: nil)
        #expect(
            r.explanation.notes.first?.hasSuffix("(no data stream token: no deploy_cost_change data point)") == true)
    }

    @Test func forEachPlansOneFollowUpPerItemWithItsDedupeKey() throws {
        let yaml = """
            source: deploys
            verify: { unverified: true }
            rules:
              - name: deploy
                for_each: payload.deploys
                when: { item.env: production }
                dedupe_key: "{{ item.id }}"
                event:
                  type: deploy
                  time: item.at
                  cost_impact: { view: cv-1, after: 2d, dimensions: { service: "{{ item.service }}" } }
            """
        let body = """
            {"deploys":[{"id":1,"env":"production","service":"api","at":"2024-05-08T14:23:05Z"},
                        {"id":2,"env":"staging","service":"web","at":"2024-05-08T15:00:00Z"},
                        {"id":3,"env":"production","service":"web","at":"2024-05-09T23:59:59Z"}]}
            """
        let r = try mapLater(try source(yaml), body)
        #expect(r.events.count == 2)
        #expect(r.followUps.map(\.dimensions) == [["service": "api"], ["service": "web"]])
        #expect(r.followUps.map(\.dedupeKey) == ["deploy:1", "deploy:3"])
        #expect(
            r.followUps.map { CostImpactTime.rfc3339($0.deployAt) } == ["2024-05-08T14:23:05Z", "2024-05-09T23:59:59Z"])
        #expect(r.followUps.map { CostImpactTime.rfc3339($0.due) } == ["2024-05-12T00:00:00Z", "2024-05-13T00:00:00Z"])
        #expect(r.explanation.notes.count == 2)
    }

    @Test func aRejectedEventPlansNothing() throws {
        let r = try mapLater(
            try source(costImpactFile("view: cv-1")), #"{"url":"ftp://x","at":"2024-05-08T14:23:05Z"}"#)
        #expect(r.events.isEmpty)
        #expect(r.followUps.isEmpty)
        #expect(r.explanation.notes.isEmpty)
    }

    // MARK: try and tests

    @Test func tryShowsThePlannedFollowUp() throws {
        let request = IncomingRequest(
            source: "deploys", headers: HeaderBag([("Content-Type", "application/json")]), body: Array(body.utf8),
            receivedAt: Date(timeIntervalSince1970: 1_715_200_000))
        let text = TryReport(mapper: Mapper(defaultStreamToken: nil, dryRun: true)).render(
            request, source: try source(deploy))
        #expect(
            text.contains(
                """
                then, rule deploy: cost impact follow-up planned: cost view cv-42, 3 days after vs 7 days before \
                2024-05-08, due 2024-05-13T00:00:00Z, threshold 5%
                  when due: GET /cost/metric/cv-42?start_date=2024-05-01&end_date=2024-05-11 (deploy at \
                2024-05-08T14:23:05Z; before 2024-05-01...2024-05-07, after 2024-05-09...2024-05-11)
                  data point deploy_cost_change with env=production, service=api

                """), "\(text)")
        #expect(!text.contains("note: rule 'deploy': cost impact"), "\(text)")
    }

    @Test func ruleFileTestsCanExpectFollowUps() throws {
        let yaml = """
            source: deploys
            verify: { unverified: true }
            rules:
              - name: deploy
                event:
                  type: deploy
                  time: payload.at
                  cost_impact: { unit_metric: um-1, before: 14d, threshold: 2.5%, dimensions: { s: "{{ payload.s }}" } }
            tests:
              - name: planned
                body: { s: api, at: "2024-05-08T14:23:05Z" }
                expect:
                  cost_impact:
                    - { unit_metric: um-1, before: 14d, after: 3d, threshold: 2.5%, due: "2024-05-13T00:00:00Z", deploy_at: "2024-05-08T14:23:05Z", dimensions: { s: api } }
              - name: wrong
                body: { s: api, at: "2024-05-08T14:23:05Z" }
                expect:
                  cost_impact: [{ view: um-1, due: "2024-05-12T00:00:00Z" }, { unit_metric: um-1 }]
            """
        let results = RuleTestRunner().run(try source(yaml))
        #expect(results.map(\.passed) == [true, false])
        #expect(
            results[1].failures == [
                "expected 2 cost impact follow-ups, got 1: {\"after\":\"3d\",\"before\":\"14d\",\"deploy_at\":"
                    + "\"2024-05-08T14:23:05Z\",\"dimensions\":{\"s\":\"api\"},\"due\":\"2024-05-13T00:00:00Z\","
                    + "\"threshold\":\"2.5%\",\"unit_metric\":\"um-1\"}",
                "cost impact follow-up 1: expected due \"2024-05-12T00:00:00Z\", got \"2024-05-13T00:00:00Z\"",
                "cost impact follow-up 1: expected view \"um-1\", but it has no view",
            ])
    }
}
