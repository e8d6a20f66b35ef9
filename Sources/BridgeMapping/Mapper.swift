import BridgeCore
import BridgeVerification
import Foundation

/// Applies a source's rules to a request.
public struct Mapper: Sendable {
    /// Stream token used by metrics that name none.
    public var defaultStreamToken: Secret?
    /// In dry-run mode a metric without any stream token is still produced (token `dry-run`), so that
    /// what would be sent can be seen.
    public var dryRun: Bool

    public init(defaultStreamToken: Secret?, dryRun: Bool = false) {
        self.defaultStreamToken = defaultStreamToken
        self.dryRun = dryRun
    }

    /// Parses a body: JSON, or a form with a `payload=` JSON field (GitHub, Travis), or other form fields as an object.
    /// An empty body is an empty object.
    public static func parseBody(_ request: IncomingRequest) throws -> JSONValue { try indexBody(request).value }

    /// The body as `parseBody` reads it, with JSON indexed (`JSONIndex`) rather than built: only the values a rule
    /// reads are built. The same bodies are refused with the same errors.
    static func indexBody(_ request: IncomingRequest) throws -> PayloadNode {
        let body = request.body
        if body.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x0d || $0 == 0x09 }) { return .built(.object([:])) }
        let contentType = request.headers["Content-Type"]?.lowercased() ?? ""
        let first = body.first { $0 != 0x20 && $0 != 0x0a && $0 != 0x0d && $0 != 0x09 }
        let looksLikeJSON = first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
        if contentType.hasPrefix("application/x-www-form-urlencoded") && !looksLikeJSON {
            let pairs = FormDecoding.pairs(String(decoding: body, as: UTF8.self))
            if let payload = pairs.first(where: { $0.name == "payload" }) {
                do {
                    let index = try JSONIndex(Array(payload.value.utf8))
                    return .indexed(index, index.root)
                } catch {
                    throw MappingError.malformedBody("the payload field: \(error)")
                }
            }
            var object: [String: JSONValue] = [:]
            for p in pairs { object[p.name] = .string(p.value) }
            return .built(.object(object))
        }
        do {
            let index = try JSONIndex(body)
            return .indexed(index, index.root)
        } catch {
            throw MappingError.malformedBody(error.description)
        }
    }

    /// An Event Grid delivery as a list of events in the Event Grid schema's names: one CloudEvent becomes a list of
    /// one, and a CloudEvent's `type`, `time` and `source` are also given as `eventType`, `eventTime` and `topic`.
    static func eventGridEvents(_ payload: JSONValue) -> JSONValue {
        func aliased(_ event: JSONValue) -> JSONValue {
            guard case .object(var fields) = event, fields["specversion"] != nil else { return event }
            if fields["eventType"] == nil, let t = fields["type"] { fields["eventType"] = t }
            if fields["eventTime"] == nil, let t = fields["time"] { fields["eventTime"] = t }
            if fields["topic"] == nil, let s = fields["source"] { fields["topic"] = s }
            return .object(fields)
        }
        switch payload {
        case .array(let events): return .array(events.map(aliased))
        case .object: return .array([aliased(payload)])
        default: return payload
        }
    }

    /// Maps `request` (already verified) through `source`.
    /// - Throws: `MappingError.malformedBody` when the body cannot be parsed.
    public func map(_ request: IncomingRequest, source: SourceDefinition, subpath: String = "") throws -> MappingResult
    {
        map(request, body: try Mapper.indexBody(request), source: source, subpath: subpath)
    }

    /// Maps `request` (already verified) with its body already parsed to `payload` (as `parseBody` gives it).
    public func map(_ request: IncomingRequest, payload: JSONValue, source: SourceDefinition, subpath: String = "")
        -> MappingResult
    {
        map(request, body: .built(payload), source: source, subpath: subpath)
    }

    func map(_ request: IncomingRequest, body: PayloadNode, source: SourceDefinition, subpath: String) -> MappingResult
    {
        var payload = body
        if source.preset == "azure-eventgrid" { payload = .built(Mapper.eventGridEvents(payload.value)) }
        let context = MappingContext(request: request, payload: payload, subpath: subpath)
        var explanation = Explanation(source: source.name)
        var records: [OutputRecord] = []
        var followUps: [CostFollowUp] = []
        for rule in source.rules {
            var trace = Explanation.RuleTrace(
                rule: rule.name, matched: false, checks: [], items: nil, events: 0, metrics: 0)
            var contexts: [MappingContext] = []
            if let forEach = rule.forEach {
                let list = context.lookupNode(forEach)
                guard let elements = list?.elements else {
                    trace.checks.append(
                        Condition.Check(
                            path: forEach.description, expectation: "is a list (for_each)",
                            seen: list.map { Condition.abbreviate($0.value) }, passed: false))
                    explanation.rules.append(trace)
                    continue
                }
                trace.items = elements.count
                for element in elements {
                    let itemContext = context.with(item: element)
                    if rule.condition.evaluate(itemContext, checks: &trace.checks) { contexts.append(itemContext) }
                }
            } else if rule.condition.evaluate(context, checks: &trace.checks) {
                contexts.append(context)
            }
            trace.matched = !contexts.isEmpty
            for ctx in contexts {
                var itemKey: String?
                if let keyTemplate = rule.dedupeKey, let k = try? keyTemplate.render(ctx), !k.isEmpty {
                    itemKey = "\(rule.name):\(k)"
                }
                for template in rule.events {
                    switch render(template, rule: rule, source: source, ctx) {
                    case .success(let rendered):
                        var e = rendered.event
                        e.dedupeKey = itemKey
                        records.append(.event(e))
                        trace.events += 1
                        if let costImpact = template.costImpact {
                            switch followUp(costImpact, event: e, at: rendered.at, rule: rule, source: source, ctx) {
                            case .success(var f):
                                f.dedupeKey = itemKey
                                followUps.append(f)
                                explanation.notes.append(Mapper.note(f))
                            case .failure(let reason):
                                explanation.rejected.append(.init(rule: rule.name, reason: reason.description))
                            }
                        }
                    case .failure(let reason):
                        explanation.rejected.append(.init(rule: rule.name, reason: reason.description))
                    }
                }
                for template in rule.metrics {
                    switch render(template, rule: rule, source: source, ctx) {
                    case .success(var m?):
                        m.dedupeKey = itemKey
                        records.append(.metric(m))
                        trace.metrics += 1
                    case .success(nil):
                        explanation.notes.append(
                            "rule '\(rule.name)': metric skipped, no data stream token configured (set "
                                + "CLOUDTHREAD_STREAM_TOKEN or stream_token)"
                        )
                    case .failure(let reason):
                        explanation.rejected.append(.init(rule: rule.name, reason: reason.description))
                    }
                }
            }
            explanation.rules.append(trace)
        }
        var contentKey: String?
        if let keyTemplate = source.dedupe.key {
            let key = (try? keyTemplate.render(context)) ?? ""
            if !key.isEmpty { contentKey = key }
        }
        return MappingResult(
            records: records, explanation: explanation, contentKey: contentKey, followUps: followUps)
    }

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    /// The explanation's note for a planned follow-up (`try` shows the follow-up itself instead).
    static func note(_ f: CostFollowUp) -> String { "rule '\(f.rule)': \(f.summary)" }

    private func time(_ template: Template?, _ ctx: MappingContext, what: String) throws -> String {
        CloudthreadTime.hour(try date(template, ctx, what: what))
    }

    /// The time `template` gives, or the time received when there is none or it is empty.
    private func date(_ template: Template?, _ ctx: MappingContext, what: String) throws -> Date {
        guard let template else { return ctx.request.receivedAt }
        let value: JSONValue?
        do { value = try template.value(ctx) } catch { throw Invalid(description: "\(what) time: \(error)") }
        guard let value, !value.isEmptyValue else { return ctx.request.receivedAt }
        guard let date = TimeParsing.parse(value) else {
            throw Invalid(
                description:
                    "\(what) time '\(value.text.prefix(60))' from \(template) is not RFC 3339 or epoch "
                    + "seconds/milliseconds"
            )
        }
        guard let window = CloudthreadTime.acceptedWindow(now: ctx.request.receivedAt), window.contains(date) else {
            throw Invalid(
                description:
                    "\(what) time '\(value.text.prefix(60))' from \(template) is outside the accepted range "
                    + "(2000-01-01 to one day after the time received)")
        }
        return date
    }

    private func text(_ template: Template?, _ ctx: MappingContext, what: String) throws -> String? {
        guard let template else { return nil }
        do {
            let s = try template.render(ctx).trimmed
            return s.isEmpty ? nil : s
        } catch {
            throw Invalid(description: "\(what): \(error)")
        }
    }

    /// The event, and its time before it is floored to the hour (a cost follow-up's deploy time).
    func render(_ t: EventTemplate, rule: Rule, source: SourceDefinition, _ ctx: MappingContext) -> Result<
        (event: EventRecord, at: Date), Invalid
    > {
        do {
            guard let type = try text(t.type, ctx, what: "event type") else {
                throw Invalid(description: "event type from \(t.type) is empty")
            }
            let at = try date(t.time, ctx, what: "event")
            var description = try text(t.description, ctx, what: "event description")
            if let d = description { description = CloudthreadLimits.clampDescription(d) }
            let url = try text(t.url, ctx, what: "event url")
            if let url, !(url.hasPrefix("https://") || url.hasPrefix("http://")) {
                throw Invalid(description: "event url '\(url.prefix(80))' is not an http(s) URL")
            }
            let teamText = try text(t.team ?? rule.team ?? source.team, ctx, what: "event team")
            let event = EventRecord(
                timestamp: CloudthreadTime.hour(at), team: teamText.flatMap(TeamRef.init(text:)), type: type,
                description: description, url: url, rule: rule.name)
            return .success((event, at))
        } catch let e as Invalid {
            return .failure(e)
        } catch {
            return .failure(Invalid(description: "\(error)"))
        }
    }

    /// The follow-up an event's `cost_impact:` asks for: the deploy at `at` to the second, the event's text, URL
    /// and team, the dimensions of `cost_impact` or else of the rule's first metric (evaluated for the same webhook
    /// or item; one that cannot be evaluated is left out), and the stream token chain metrics use.
    func followUp(
        _ c: CostImpactTemplate, event: EventRecord, at: Date, rule: Rule, source: SourceDefinition,
        _ ctx: MappingContext
    ) -> Result<CostFollowUp, Invalid> {
        let metric = rule.metrics.first
        var dimensions: [String: String] = [:]
        for (key, template) in c.dimensions ?? metric?.dimensions ?? [] {
            do { dimensions[key] = try text(template, ctx, what: "dimension '\(key)'") ?? "" } catch { continue }
        }
        let token = streamToken(c.streamToken ?? metric?.streamToken, rule: rule, source: source)
        do {
            return .success(
                try CostFollowUp(
                    spec: c.spec, deployAt: Date(timeIntervalSince1970: at.timeIntervalSince1970.rounded(.down)),
                    description: event.description, url: event.url, team: event.team, dimensions: dimensions,
                    streamToken: token, rule: rule.name))
        } catch {
            let message = (error as? CostImpactError)?.message ?? "\(error)"
            return .failure(Invalid(description: "cost impact follow-up not planned (the event is sent): \(message)"))
        }
    }

    /// The data stream of a metric (or a follow-up's data point): its own token, the rule's, the source's, the
    /// default, and in dry run `dry-run`; nil when there is none (an empty token counts as none).
    static let dryRunToken = Secret("dry-run")

    func streamToken(_ own: Secret?, rule: Rule, source: SourceDefinition) -> Secret? {
        let token =
            own ?? rule.streamToken ?? source.streamToken ?? defaultStreamToken ?? (dryRun ? Mapper.dryRunToken : nil)
        return token.flatMap { $0.bytes.isEmpty ? nil : $0 }
    }

    func render(_ t: MetricTemplate, rule: Rule, source: SourceDefinition, _ ctx: MappingContext) -> Result<
        MetricObservation?, Invalid
    > {
        do {
            guard let name = try text(t.name, ctx, what: "metric name") else {
                throw Invalid(description: "metric name from \(t.name) is empty")
            }
            let raw: JSONValue?
            do { raw = try t.value.value(ctx) } catch { throw Invalid(description: "metric '\(name)' value: \(error)") }
            guard let value = raw?.number, value.isFinite else {
                throw Invalid(
                    description:
                        "metric '\(name)' value \(raw.map { "'\($0.text.prefix(40))'" } ?? "(absent)") from "
                        + "\(t.value) is not a number"
                )
            }
            var dimensions: [String: String] = [:]
            for (key, template) in t.dimensions {
                dimensions[key] = try text(template, ctx, what: "dimension '\(key)'") ?? ""
            }
            guard dimensions.count <= CloudthreadLimits.maxDimensions else {
                throw Invalid(
                    description: "metric '\(name)' has \(dimensions.count) dimensions; Cloudthread accepts at most 10")
            }
            let hour = try time(t.time, ctx, what: "metric")
            guard let token = streamToken(t.streamToken, rule: rule, source: source) else { return .success(nil) }
            return .success(
                MetricObservation(
                    streamToken: token, name: name, aggregation: t.aggregation, value: value, dimensions: dimensions,
                    hour: hour, rule: rule.name))
        } catch let e as Invalid {
            return .failure(e)
        } catch {
            return .failure(Invalid(description: "\(error)"))
        }
    }
}
