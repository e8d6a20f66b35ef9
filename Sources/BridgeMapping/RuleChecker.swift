import BridgeCore
import BridgeVerification
import Foundation

/// `cloudthread-bridge check`: the loader's diagnostics plus checks that need the example payloads.
public struct RuleChecker: Sendable {
    public var environment: [String: String]

    public init(environment: [String: String]) { self.environment = environment }

    /// Reports team names that Cloudthread does not know (`teams`: the organisation's team names).
    public static func unknownTeams(in sources: [SourceDefinition], teams: [String]) -> [Diagnostic] {
        let known = Set(teams.map { $0.lowercased() })
        return sources.flatMap { source in
            source.teamNames.filter { !known.contains($0.name.lowercased()) }.map {
                Diagnostic(
                    file: source.file, line: $0.line, column: $0.column, severity: .error,
                    message:
                        "unknown Cloudthread team '\($0.name)'\(suggestion($0.name, teams)) (teams: "
                        + "\(teams.sorted().joined(separator: ", ")))"
                )
            }
        }
    }

    public func check(path: String) -> [Diagnostic] {
        let result = RuleLoader(environment: environment).load(path: path)
        var diagnostics = result.diagnostics
        for source in result.loadedSources {
            if let reason = source.disabledReason {
                diagnostics.append(
                    Diagnostic(
                        file: source.file, line: 1, column: 1, severity: .note,
                        message: "source '\(source.name)' would start disabled: \(reason)"))
            }
            diagnostics += examplePathWarnings(source)
            diagnostics += aggregationWarnings(source)
        }
        return diagnostics.sorted
    }

    /// Warns when one metric name of a stream is written with several aggregations: Cloudthread keeps one series per
    /// aggregation, so the charts would show separate lines where one was meant.
    func aggregationWarnings(_ source: SourceDefinition) -> [Diagnostic] {
        var seen: [String: (Aggregation, String)] = [:]
        var out: [Diagnostic] = []
        for rule in source.rules {
            for m in rule.metrics where m.name.isLiteral {
                let token = m.streamToken ?? rule.streamToken ?? source.streamToken
                let key = "\(token.map { $0.string } ?? "")|\(m.name.description)"
                if let (agg, other) = seen[key], agg != m.aggregation {
                    out.append(
                        Diagnostic(
                            file: source.file, line: rule.line, column: 5, severity: .warning,
                            message:
                                "metric '\(m.name.description)' is aggregated with \(m.aggregation.rawValue) here "
                                + "and with \(agg.rawValue) in rule '\(other)'; Cloudthread keeps a separate series "
                                + "per aggregation"
                        ))
                } else if seen[key] == nil {
                    seen[key] = (m.aggregation, rule.name)
                }
            }
        }
        return out
    }

    /// Warns about `payload.` paths that a rule reads but that no example payload matched by that rule contains.
    func examplePathWarnings(_ source: SourceDefinition) -> [Diagnostic] {
        let mapper = Mapper(defaultStreamToken: Secret("check"), dryRun: true)
        var bodies: [(IncomingRequest, JSONValue)] = []
        for test in source.tests {
            var headers = HeaderBag(test.headers)
            if headers["Content-Type"] == nil { headers.add("Content-Type", "application/json") }
            let request = IncomingRequest(source: source.name, query: test.query, headers: headers, body: test.body)
            if let payload = try? Mapper.parseBody(request) { bodies.append((request, payload)) }
        }
        guard !bodies.isEmpty else { return [] }
        var out: [Diagnostic] = []
        for rule in source.rules {
            let single = SourceDefinition(
                name: source.name, file: source.file, verifier: nil, disabledReason: nil, preset: source.preset,
                dedupe: source.dedupe, team: source.team, streamToken: source.streamToken, rules: [rule], tests: [])
            var matchedContexts: [MappingContext] = []
            for (request, payload) in bodies {
                guard let result = try? mapper.map(request, source: single),
                    result.explanation.rules.first?.matched == true
                else { continue }
                let base = MappingContext(request: request, payload: payload)
                if let forEach = rule.forEach, case .array(let items)? = base.lookup(forEach) {
                    matchedContexts += items.map { base.with(item: $0) }
                } else {
                    matchedContexts.append(base)
                }
            }
            guard !matchedContexts.isEmpty else {
                out.append(
                    Diagnostic(
                        file: source.file, line: rule.line, column: 5, severity: .warning,
                        message:
                            "rule '\(rule.name)' matches none of the file's test payloads; add a test that exercises it"
                    ))
                continue
            }
            var paths: [PayloadPath] = []
            for e in rule.events {
                paths += [e.type, e.time, e.description, e.url, e.team].compactMap { $0 }.flatMap(\.requiredPaths)
                paths += (e.costImpact?.dimensions ?? []).map(\.value).flatMap(\.requiredPaths)
            }
            for m in rule.metrics {
                paths += ([m.name, m.value, m.time].compactMap { $0 } + m.dimensions.map(\.value)).flatMap(
                    \.requiredPaths)
            }
            var reported: Set<String> = []
            for p in paths where (p.root == .payload || p.root == .item) && !reported.contains(p.description) {
                if !matchedContexts.contains(where: { $0.lookup(p) != nil }) {
                    reported.insert(p.description)
                    out.append(
                        Diagnostic(
                            file: source.file, line: rule.line, column: 5, severity: .warning,
                            message: "rule '\(rule.name)' reads '\(p)', which no example payload it matches contains"))
                }
            }
        }
        return out
    }
}
