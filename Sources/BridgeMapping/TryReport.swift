import BridgeCore
import BridgeVerification
import Foundation

/// The text `cloudthread-bridge try` prints: each rule, whether it matched and what each condition saw,
/// then the exact Cloudthread requests that would be sent.
public struct TryReport: Sendable {
    public var mapper: Mapper

    public init(mapper: Mapper) { self.mapper = mapper }

    public func render(_ request: IncomingRequest, source: SourceDefinition, subpath: String = "") -> String {
        var out = "source \(source.name) (\(source.file))\n"
        let result: MappingResult
        do {
            result = try mapper.map(request, source: source, subpath: subpath)
        } catch {
            return out + "refused: \(error)\n"
        }
        for trace in result.explanation.rules {
            let verdict = trace.matched ? "MATCHED" : "no match"
            var counts = ""
            if trace.matched {
                counts =
                    " -> \(trace.events) event\(trace.events == 1 ? "" : "s"), \(trace.metrics) "
                    + "metric\(trace.metrics == 1 ? "" : "s")"
            }
            if let items = trace.items { counts += " (for_each over \(items) item\(items == 1 ? "" : "s"))" }
            out += "rule \(trace.rule): \(verdict)\(counts)\n"
            if trace.checks.isEmpty { out += "  (no conditions)\n" }
            for check in trace.checks {
                out +=
                    "  \(check.passed ? "ok  " : "FAIL") \(check.path) \(check.expectation); saw "
                    + "\(check.seen ?? "nothing (absent)")\n"
            }
        }
        for r in result.explanation.rejected { out += "rejected (rule \(r.rule)): \(r.reason)\n" }
        let followUpNotes = Set(result.followUps.map(Mapper.note))
        for n in result.explanation.notes where !followUpNotes.contains(n) { out += "note: \(n)\n" }
        if let key = result.contentKey { out += "dedupe key: \(key)\n" }
        let requests = TryReport.requests(for: result)
        if requests.isEmpty {
            out +=
                "outcome: \(result.explanation.rejected.isEmpty ? "ignored (202)" : "rejected (422)"); nothing "
                + "would be sent\n"
        } else {
            out += "outcome: accepted (202); would send:\n"
            for (path, body) in requests { out += "POST \(path)\n\(body)\n" }
            for f in result.followUps { out += TryReport.followUp(f) }
            for name in Set(
                result.events.compactMap { e -> String? in if case .name(let n)? = e.team { n } else { nil } }
            ).sorted() {
                out += "note: team '\(name)' is sent as its id, looked up through GET /teams\n"
            }
            if !result.metrics.isEmpty {
                out += "note: metric values are this webhook's alone; live, the bridge sends the hour's aggregate\n"
            }
        }
        return out
    }

    /// A planned follow-up: its summary (with the due time), the request it will make and the data point's
    /// dimensions.
    static func followUp(_ f: CostFollowUp) -> String {
        var out = "then, rule \(f.rule): \(f.summary)\n"
        if let windows = try? CostWindows(deployAt: f.deployAt, spec: f.spec) {
            let request = CostWindows.request(source: f.spec.source, range: windows.queryRange, options: f.spec.query)
            out +=
                "  when due: GET \(request.path)?\(request.query.map { "\($0.0)=\($0.1)" }.joined(separator: "&")) "
                + "(deploy at \(CostImpactTime.rfc3339(f.deployAt)); before \(windows.before), after "
                + "\(windows.after))\n"
        }
        if f.streamToken != nil {
            let dimensions = f.dimensions.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            out +=
                "  data point deploy_cost_change"
                + (dimensions.isEmpty ? " (no dimensions)" : " with \(dimensions.joined(separator: ", "))") + "\n"
        }
        return out
    }

    /// The Cloudthread requests for a mapping result (metric values as this webhook alone would set them;
    /// live, the bridge sends the hour's aggregate). Stream tokens are shown redacted.
    public static func requests(for result: MappingResult) -> [(String, String)] {
        var out: [(String, String)] = []
        if !result.events.isEmpty {
            let items = result.events.map { e -> EventsRequest.Item in
                var teamId: Int?
                if case .id(let n)? = e.team { teamId = n }
                return EventsRequest.Item(
                    timestamp: e.timestamp, teamID: teamId,
                    payload: .init(type: e.type, description: e.description, eventURL: e.url))
            }
            out.append(("/events", pretty(EventsRequest(data: items))))
        }
        var groups: [String: [MetricObservation]] = [:]
        var order: [String] = []
        for m in result.metrics {
            let k = m.aggregation.rawValue
            if groups[k] == nil { order.append(k) }
            groups[k, default: []].append(m)
        }
        for k in order {
            let ms = groups[k]!
            let req = IngestRequest(
                dataStreamToken: "<redacted>", metricAggFunc: k,
                data: ms.map {
                    IngestRequest.Point(
                        timestamp: $0.hour, metricName: $0.name, metricValue: $0.value,
                        customDimensions: $0.dimensions.isEmpty ? nil : $0.dimensions)
                })
            out.append(("/streams/ingest", pretty(req)))
        }
        return out
    }

    static func pretty<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
    }
}
