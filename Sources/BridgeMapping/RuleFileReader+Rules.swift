import BridgeCore
import BridgeVerification
import Foundation
import Yams

/// One entry of `rules`.
extension RuleFileReader {
    static let ruleKeys = [
        "name", "when", "for_each", "dedupe_key", "team", "stream_token", "event", "events", "metric", "metrics",
    ]
    static let eventKeys = ["type", "time", "description", "url", "team", "cost_impact"]
    static let metricKeys = ["name", "aggregate", "value", "time", "dimensions", "stream_token"]

    mutating func rule(_ node: Node, index: Int) -> Rule? {
        guard let pairs = mapping(node, allowed: RuleFileReader.ruleKeys, what: "a rule") else { return nil }
        var rule = Rule(
            name: "rule-\(index + 1)", condition: .always, forEach: nil, dedupeKey: nil, team: nil, streamToken: nil,
            events: [], metrics: [], line: node.mark?.line ?? 0)
        var hasName = false
        for (key, _, value) in pairs {
            switch key {
            case "name":
                if let s = nonEmptyString(value, what: "rule 'name'") {
                    rule.name = s
                    hasName = true
                }
            case "when":
                if let c = condition(value) { rule.condition = c }
            case "for_each":
                if let s = string(value, what: "'for_each'"), let p = path(value, s, what: "'for_each'") {
                    rule.forEach = p
                }
            case "dedupe_key":
                if let t = template(value, what: "'dedupe_key'") { rule.dedupeKey = t }
            case "team":
                if let s = string(value, what: "'team'") { rule.team = teamTemplate(value, s) }
            case "stream_token":
                if let s = string(value, what: "'stream_token'") {
                    rule.streamToken = nonEmpty(expand(s).value).map(Secret.init)
                }
            case "event", "events":
                let items: [Node] = key == "events" ? (sequence(value, what: "'events'") ?? []) : [value]
                for item in items { if let e = eventTemplate(item) { rule.events.append(e) } }
            case "metric", "metrics":
                let items: [Node] = key == "metrics" ? (sequence(value, what: "'metrics'") ?? []) : [value]
                for item in items { if let m = metricTemplate(item) { rule.metrics.append(m) } }
            default: break
            }
        }
        if !hasName && !pairs.contains(where: { $0.key == "name" }) { error(node, "a rule needs a 'name'") }
        if rule.events.isEmpty && rule.metrics.isEmpty
            && !pairs.contains(where: { ["event", "events", "metric", "metrics"].contains($0.key) })
        {
            error(node, "rule '\(rule.name)' produces nothing: add an 'event' or a 'metric'")
        }
        if rule.forEach == nil {
            for p in rule.condition.paths + rule.events.flatMap(eventPaths) + rule.metrics.flatMap(metricPaths)
                + (rule.dedupeKey?.paths ?? []) where p.root == .item
            {
                error(node, "rule '\(rule.name)' uses '\(p)' but has no 'for_each'")
                break
            }
        }
        return rule
    }

    func eventPaths(_ e: EventTemplate) -> [PayloadPath] {
        ([e.type, e.time, e.description, e.url, e.team].compactMap { $0 }
            + (e.costImpact?.dimensions ?? []).map(\.value)).flatMap(\.paths)
    }

    func metricPaths(_ m: MetricTemplate) -> [PayloadPath] {
        ([m.name, m.value, m.time].compactMap { $0 } + m.dimensions.map(\.value)).flatMap(\.paths)
    }
}
