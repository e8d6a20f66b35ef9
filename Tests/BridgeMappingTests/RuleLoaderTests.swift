import Foundation
import Testing

@testable import BridgeCore
@testable import BridgeMapping
@testable import BridgeVerification

func load(_ yaml: String, file: String = "mappings/test.yaml", env: [String: String] = ["TEST_WEBHOOK_SECRET": "s"])
    -> (SourceDefinition?, [String])
{
    let (source, diags) = RuleLoader(environment: env).load(file: file, text: yaml)
    return (source, diags.map(\.description))
}

@Suite("Rule files")
struct RuleLoaderTests {
    @Test func everyProblemIsReportedAtOnceWithLineAndColumn() {
        let yaml = """
            source: github
            verify:
              preset: githb
              secrets: ["${TEST_WEBHOOK_SECRET}"]
            rules:
              - name: deploy
                when:
                  header.X-GitHub-Event: deployment_status
                  paylod.state: success
                  payload.ref: { regex: "v(?=1)" }
                event:
                  type: deploy
                  trget: x
                  description: "{{ payload.repo | uper }}"
                metric:
                  name: deployments
                  aggregate: Summ
                  value: 1
              - name: nothing
            """
        let (source, diags) = load(yaml)
        #expect(source == nil)
        #expect(
            diags == [
                "mappings/test.yaml:3:11: error: unknown preset 'githb'; did you mean 'github'? (presets: \(VerificationPreset.names.joined(separator: ", ")))",
                "mappings/test.yaml:9:7: error: unknown condition 'paylod.state'; did you mean 'payload'?: a condition key is a path (payload., header., query., item., path) or all/any/not",
                "mappings/test.yaml:10:29: error: regex 'v(?=1)' uses look-around ('(?='), which rule files do not support",
                "mappings/test.yaml:13:7: error: unknown key 'trget' in an event",
                "mappings/test.yaml:14:39: error: event 'description': unknown filter 'uper'; did you mean 'upper'? (filters: default, upper, lower, capitalize, trim, truncate, replace, join, map, first, last, length, json, split, slice, find, prefix, suffix, date, seconds_since, duration, minutes, hours, round, plus, minus, times, divided_by)",
                "mappings/test.yaml:17:18: error: unknown aggregate 'Summ'; did you mean 'Sum'? (Sum, Average, Maximum or Minimum)",
                "mappings/test.yaml:19:5: error: rule 'nothing' produces nothing: add an 'event' or a 'metric'",
            ])
    }

    @Test func structuralErrors() {
        let yaml = """
            source: Bad Name
            rules:
              - name: r
                event: { type: deploy }
                metric:
                  name: m
                  aggregate: Sum
                  value: 1
                  dimensions: { a: "1", b: "2", c: "3", d: "4", e: "5", f: "6", g: "7", h: "8", i: "9", j: "10", k: "11" }
              - name: r
                event: { type: deploy, description: "{{ item.x }}" }
            tests:
              - name: t
                body_file: nowhere.json
            """
        let (_, diags) = load(yaml)
        #expect(
            diags == [
                "mappings/test.yaml:1:1: error: missing key 'verify': say how webhooks are authenticated (a preset and secrets), or 'verify: {unverified: true}'",
                "mappings/test.yaml:1:9: error: source name 'Bad Name' must be lower-case letters, digits, '-' or '_' (it is the URL path /hooks/Bad Name)",
                "mappings/test.yaml:9:7: error: a metric has at most 10 dimensions in Cloudthread; this one has 11",
                "mappings/test.yaml:10:5: error: rule 'r' uses 'item.x' but has no 'for_each'",
                "mappings/test.yaml:10:5: error: rule name 'r' is used twice",
                "mappings/test.yaml:14:16: error: body_file 'nowhere.json' cannot be read (looked for mappings/nowhere.json)",
            ])
    }

    @Test func yamlSyntaxErrorsCarryTheirPosition() {
        let (_, diags) = load("source: x\nverify: [unclosed\n")
        #expect(diags.count == 1)
        #expect(diags[0].hasPrefix("mappings/test.yaml:3:1: error: invalid YAML"))
    }

    @Test func sourceWithoutSecretIsDisabledNeverOpen() throws {
        let yaml = """
            source: github
            verify: { preset: github, secrets: ["${GITHUB_WEBHOOK_SECRET}", "${GITHUB_WEBHOOK_SECRET_PREVIOUS}"] }
            rules: [{ name: r, event: { type: deploy } }]
            """
        let (source, diags) = load(yaml, env: [:])
        #expect(diags.isEmpty)
        let s = try #require(source)
        #expect(s.disabledReason == "no secret configured: set GITHUB_WEBHOOK_SECRET or GITHUB_WEBHOOK_SECRET_PREVIOUS")
        // With one of the two set, it is enabled with that single secret.
        let (enabled, _) = load(yaml, env: ["GITHUB_WEBHOOK_SECRET_PREVIOUS": "old"])
        #expect(enabled?.disabledReason == nil)
        #expect(enabled?.verifier?.secrets.map(\.string) == ["old"])
    }

    @Test func anUnverifiedSourceMustSaySo() {
        let (_, missing) = load(
            "source: x\nverify: { preset: github }\nrules: [{ name: r, event: { type: deploy } }]\n")
        #expect(
            missing == [
                "mappings/test.yaml:2:9: error: 'verify' needs 'secrets' (for example [\"${X_WEBHOOK_SECRET}\"]); an unverified source must say 'unverified: true'"
            ])
        let (open, diags) = load(
            "source: x\nverify: { unverified: true }\nrules: [{ name: r, event: { type: deploy } }]\n")
        #expect(diags.isEmpty)
        #expect(open?.verifier?.scheme == .unverified)
    }

    @Test func inlineSecretsAreAWarning() {
        let (source, diags) = load(
            "source: x\nverify:\n  preset: github\n  secrets: [hunter2]\nrules: [{ name: r, event: { type: deploy } }]\n"
        )
        #expect(source != nil)
        #expect(
            diags == [
                "mappings/test.yaml:4:13: warning: secret written inline in the rule file; read it from the environment with \"${NAME}\" or from a file with {file: /path}"
            ])
    }

    @Test func secretsFromFiles() throws {
        let path = NSTemporaryDirectory() + "ctb-secret-\(UUID().uuidString)"
        try "from-file\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (source, diags) = load(
            "source: x\nverify:\n  preset: github\n  secrets: [{ file: \"\(path)\" }]\nrules: [{ name: r, event: { type: deploy } }]\n",
            env: [:])
        #expect(diags.isEmpty)
        #expect(source?.verifier?.secrets.map(\.string) == ["from-file"])
    }

    @Test func customHMACScheme() throws {
        let yaml = """
            source: custom
            verify:
              hmac: { algorithm: sha512, header: X-Sig, prefix: "v1=", format: list, separator: ",", encoding: base64, signed: "{timestamp}:{body}", timestamp_header: X-Ts }
              secrets: ["${TEST_WEBHOOK_SECRET}"]
              tolerance: 60
            rules: [{ name: r, event: { type: deploy } }]
            """
        let (source, diags) = load(yaml)
        #expect(diags.isEmpty)
        let v = try #require(source?.verifier)
        #expect(
            v.scheme
                == .hmac(
                    HMACScheme(
                        algorithm: .sha512, header: "X-Sig", format: .list(separator: ",", prefix: "v1="),
                        encoding: .base64, signed: [.timestamp, .literal(":"), .body], timestampHeader: "X-Ts")))
        #expect(v.tolerance == 60)
    }
}

@Suite("check")
struct RuleCheckerTests {
    @Test func warnsAboutMixedAggregationsAndUntestedRulesAndMissingPaths() throws {
        let yaml = """
            source: mixed
            verify: { unverified: true }
            rules:
              - name: a
                when: { payload.kind: deploy }
                metric: { name: deploys, aggregate: Sum, value: 1 }
                event: { type: deploy, description: "{{ payload.service }} {{ payload.owner | default \\"nobody\\" }}" }
              - name: b
                when: { payload.kind: deploy }
                metric: { name: deploys, aggregate: Maximum, value: 1 }
              - name: c
                when: { payload.kind: never }
                event: { type: deploy }
            tests:
              - name: t
                body: { kind: deploy }
                expect: { outcome: accepted }
            """
        let dir = NSTemporaryDirectory() + "ctb-check-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try yaml.write(toFile: dir + "/mixed.yaml", atomically: true, encoding: .utf8)
        let diags = RuleChecker(environment: [:]).check(path: dir).map {
            $0.description.replacingOccurrences(of: dir + "/", with: "")
        }
        #expect(
            diags == [
                "mixed.yaml:4:5: warning: rule 'a' reads 'payload.service', which no example payload it matches contains",
                "mixed.yaml:8:5: warning: metric 'deploys' is aggregated with Maximum here and with Sum in rule 'a'; Cloudthread keeps a separate series per aggregation",
                "mixed.yaml:11:5: warning: rule 'c' matches none of the file's test payloads; add a test that exercises it",
            ])
    }
}
