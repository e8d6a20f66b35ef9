import BridgeCore
import BridgeVerification
import Foundation

/// Runs the `tests:` of rule files: each test's request goes through verification (signed with a test
/// secret unless `sign: false`) and the source's rules, and the outputs are compared with `expect`.
public struct RuleTestRunner: Sendable {
    public struct CaseResult: Sendable {
        public var source: String
        public var file: String
        public var line: Int
        public var name: String
        public var failures: [String]
        public var passed: Bool { failures.isEmpty }
    }

    public var mapper: Mapper
    public var now: Date

    public init(mapper: Mapper = Mapper(defaultStreamToken: Secret("test-stream-token")), now: Date = Date()) {
        self.mapper = mapper
        self.now = now
    }

    /// What one request produces, with the same status logic as the live ingress (no store).
    public struct Evaluation: Sendable {
        public var outcome: String
        public var status: Int
        public var result: MappingResult?
        public var message: String?
    }

    /// Verifies and maps a request through `source` using `verifier`.
    public func evaluate(
        _ request: IncomingRequest, source: SourceDefinition, verifier: SignatureVerifier?, subpath: String
    ) -> Evaluation {
        if let verifier {
            do { try verifier.verify(request, now: now) } catch {
                return Evaluation(outcome: "refused", status: 401, result: nil, message: "\(error)")
            }
        }
        do {
            let result = try mapper.map(request, source: source, subpath: subpath)
            if !result.records.isEmpty { return Evaluation(outcome: "accepted", status: 202, result: result) }
            if !result.explanation.rejected.isEmpty {
                return Evaluation(outcome: "rejected", status: 422, result: result)
            }
            return Evaluation(outcome: "ignored", status: 202, result: result)
        } catch {
            return Evaluation(outcome: "refused", status: 400, result: nil, message: "\(error)")
        }
    }

    public func run(_ source: SourceDefinition) -> [CaseResult] {
        source.tests.map { run($0, source: source) }
    }

    func run(_ test: RuleTest, source: SourceDefinition) -> CaseResult {
        var failures: [String] = []
        var headers = HeaderBag(test.headers)
        if headers["Content-Type"] == nil { headers.add("Content-Type", "application/json") }
        var verifier: SignatureVerifier?
        // SNS messages are signed by AWS with its certificate, Pub/Sub push tokens by Google with its keys: rule-file
        // tests map them unsigned (the aws-sns and gcp-pubsub presets themselves are tested with test certificates
        // and keys in Tests/BridgeVerificationTests).
        var isSNS = false
        if case .awsSNS? = source.verifier?.scheme { isSNS = true }
        if case .gcpPubSub? = source.verifier?.scheme { isSNS = true }
        if case .azureEventGrid(let auth)? = source.verifier?.scheme, auth.usesEntraID { isSNS = true }
        if let configured = source.verifier, configured.scheme != .unverified, !isSNS {
            var scheme = configured.scheme
            if case .basic(let user) = scheme, user.isEmpty { scheme = .basic(user: "test-user") }
            let secrets = Signer.testSecrets(for: scheme)
            verifier = SignatureVerifier(
                scheme: scheme, secrets: [secrets.verifying], tolerance: configured.tolerance,
                allowedNetworks: configured.allowedNetworks)
            if test.sign {
                do {
                    let signed = try Signer(scheme: scheme, secret: secrets.signing).headers(
                        for: test.body, existing: headers, now: now)
                    for (n, v) in signed { headers.add(n, v) }
                } catch {
                    failures.append("cannot sign the test request: \(error)")
                }
            }
        }
        var query = test.query
        if case .queryToken(let parameter)? = source.verifier?.scheme, test.sign,
            !query.contains(where: { $0.name == parameter })
        {
            query.append((parameter, Signer.testSecrets(for: source.verifier!.scheme).signing.string))
        }
        let request = IncomingRequest(
            source: source.name, path: "/hooks/\(source.name)" + (test.subpath.isEmpty ? "" : "/\(test.subpath)"),
            query: query, headers: headers, body: test.body, clientAddress: "127.0.0.1", receivedAt: now)
        let evaluation = evaluate(request, source: source, verifier: verifier, subpath: test.subpath)
        let expectedOutcome =
            test.expect.outcome
            ?? (test.expect.events != nil || test.expect.metrics != nil || test.expect.costImpact != nil
                ? "accepted" : nil)
        if let expectedOutcome, expectedOutcome != evaluation.outcome,
            !(expectedOutcome == "refused" && evaluation.outcome == "refused")
        {
            var why = ""
            if let m = evaluation.message {
                why = ": \(m)"
            } else if let r = evaluation.result {
                why =
                    r.explanation.rejected.isEmpty
                    ? " (\(r.explanation.summary))"
                    : " (\(r.explanation.rejected.map { "\($0.rule): \($0.reason)" }.joined(separator: "; ")))"
            }
            failures.append("expected outcome '\(expectedOutcome)', got '\(evaluation.outcome)'\(why)")
        }
        if let status = test.expect.status, status != evaluation.status {
            failures.append("expected status \(status), got \(evaluation.status)")
        }
        let result = evaluation.result
        if let expected = test.expect.events {
            let actual = (result?.events ?? []).map(RuleTestRunner.fields)
            failures += RuleTestRunner.compare("event", expected, actual, exact: test.expect.exact)
        }
        if let expected = test.expect.metrics {
            let actual = (result?.metrics ?? []).map(RuleTestRunner.fields)
            failures += RuleTestRunner.compare("metric", expected, actual, exact: test.expect.exact)
        }
        if let expected = test.expect.costImpact {
            let actual = (result?.followUps ?? []).map(RuleTestRunner.fields)
            failures += RuleTestRunner.compare(
                "cost impact follow-up", expected, actual, exact: test.expect.exact)
        }
        return CaseResult(source: source.name, file: source.file, line: test.line, name: test.name, failures: failures)
    }

    static func fields(_ e: EventRecord) -> [String: JSONValue] {
        var o: [String: JSONValue] = ["type": .string(e.type), "timestamp": .string(e.timestamp)]
        if let d = e.description { o["description"] = .string(d) }
        if let u = e.url { o["url"] = .string(u) }
        if let t = e.team { o["team"] = .string(t.description) }
        return o
    }

    static func fields(_ m: MetricObservation) -> [String: JSONValue] {
        var o: [String: JSONValue] = [
            "name": .string(m.name), "aggregate": .string(m.aggregation.rawValue), "value": .number(m.value),
            "hour": .string(m.hour),
        ]
        if !m.dimensions.isEmpty { o["dimensions"] = .object(m.dimensions.mapValues(JSONValue.string)) }
        return o
    }

    static func fields(_ f: CostFollowUp) -> [String: JSONValue] {
        var o: [String: JSONValue] = [
            "due": .string(CostImpactTime.rfc3339(f.due)), "deploy_at": .string(CostImpactTime.rfc3339(f.deployAt)),
            "before": .string("\(f.spec.beforeDays)d"), "after": .string("\(f.spec.afterDays)d"),
            "dimensions": .object(f.dimensions.mapValues(JSONValue.string)),
        ]
        switch f.spec.source {
        case .costView(let id): o["view"] = .string(id)
        case .unitMetric(let id): o["unit_metric"] = .string(id)
        }
        if let t = f.spec.thresholdPercent { o["threshold"] = .string("\(CostImpactFormatNumber.plain(t))%") }
        return o
    }

    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.allSatisfy { k, v in y[k].map { same(v, $0) } ?? false }
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        default:
            if let n = a.number, let m = b.number, case .number = b { return abs(n - m) <= 1e-6 * max(1, abs(n)) }
            if let n = a.number, let m = b.number, case .number = a { return abs(n - m) <= 1e-6 * max(1, abs(n)) }
            return a.text == b.text
        }
    }

    static func compare(_ kind: String, _ expected: [[String: JSONValue]], _ actual: [[String: JSONValue]], exact: Bool)
        -> [String]
    {
        var failures: [String] = []
        if expected.count != actual.count {
            failures.append(
                "expected \(expected.count) \(kind)\(expected.count == 1 ? "" : "s"), got \(actual.count)"
                    + (actual.isEmpty ? "" : ": " + actual.map { JSONValue.object($0).json }.joined(separator: ", ")))
        }
        for (i, (want, got)) in zip(expected, actual).enumerated() {
            for (key, value) in want.sorted(by: { $0.key < $1.key }) {
                guard let g = got[key] else {
                    failures.append("\(kind) \(i + 1): expected \(key) \(value.json), but it has no \(key)")
                    continue
                }
                if !same(value, g) { failures.append("\(kind) \(i + 1): expected \(key) \(value.json), got \(g.json)") }
            }
            if exact {
                for key in got.keys.sorted() where want[key] == nil && key != "timestamp" && key != "hour" {
                    failures.append("\(kind) \(i + 1): unexpected \(key) \(got[key]!.json) (exact match)")
                }
            }
        }
        return failures
    }
}
