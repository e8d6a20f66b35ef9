import BridgeCore
import BridgeVerification
import Foundation
import Yams

/// The outputs of a rule: `event`/`events` and `metric`/`metrics` (an event's `cost_impact:` is in
/// RuleFileReader+CostImpact.swift).
extension RuleFileReader {
    mutating func eventTemplate(_ node: Node) -> EventTemplate? {
        guard let pairs = mapping(node, allowed: RuleFileReader.eventKeys, what: "an event") else { return nil }
        var type: Template?
        var e = EventTemplate(type: .literal(""), time: nil, description: nil, url: nil, team: nil)
        for (key, _, value) in pairs {
            switch key {
            case "type": type = template(value, what: "event 'type'")
            case "time": e.time = timeTemplate(value, what: "event 'time'")
            case "description": e.description = template(value, what: "event 'description'")
            case "url": e.url = template(value, what: "event 'url'")
            case "team": if let s = string(value, what: "'team'") { e.team = teamTemplate(value, s) }
            case "cost_impact": e.costImpact = costImpactTemplate(value)
            default: break
            }
        }
        guard let type else {
            if !pairs.contains(where: { $0.key == "type" }) {
                error(node, "an event needs a 'type' (deploy, incident, rollback, ...)")
            }
            return nil
        }
        e.type = type
        return e
    }

    mutating func metricTemplate(_ node: Node) -> MetricTemplate? {
        guard let pairs = mapping(node, allowed: RuleFileReader.metricKeys, what: "a metric") else { return nil }
        var name: Template?
        var aggregation: Aggregation?
        var value: Template?
        var m = MetricTemplate(
            name: .literal(""), aggregation: .sum, value: .literal("1"), time: nil, dimensions: [], streamToken: nil)
        for (key, keyNode, v) in pairs {
            switch key {
            case "name": name = template(v, what: "metric 'name'")
            case "aggregate":
                if let s = string(v, what: "'aggregate'") {
                    aggregation = Aggregation.allCases.first { $0.rawValue.lowercased() == s.lowercased() }
                    if aggregation == nil {
                        error(
                            v,
                            "unknown aggregate '\(s)'\(suggestion(s, Aggregation.allCases.map(\.rawValue))) (Sum, "
                                + "Average, Maximum or Minimum)"
                        )
                    }
                }
            case "value":
                if let s = string(v, what: "metric 'value'") {
                    if s.contains("{{") {
                        value = template(v, what: "metric 'value'")
                    } else if Double(s) != nil {
                        value = .literal(s)
                    } else {
                        value = pathTemplate(v, s, what: "metric 'value'")
                    }
                }
            case "time": m.time = timeTemplate(v, what: "metric 'time'")
            case "stream_token":
                if let s = string(v, what: "'stream_token'") {
                    m.streamToken = nonEmpty(expand(s).value).map(Secret.init)
                }
            case "dimensions":
                if let d = dimensionTemplates(v, keyNode: keyNode, what: "a metric") { m.dimensions = d }
            default: break
            }
        }
        if name == nil, !pairs.contains(where: { $0.key == "name" }) { error(node, "a metric needs a 'name'") }
        if aggregation == nil, !pairs.contains(where: { $0.key == "aggregate" }) {
            error(node, "a metric needs 'aggregate' (Sum, Average, Maximum or Minimum)")
        }
        if value == nil, !pairs.contains(where: { $0.key == "value" }) {
            error(node, "a metric needs a 'value' (a number, a path or a template)")
        }
        guard let name, let aggregation, let value else { return nil }
        m.name = name
        m.aggregation = aggregation
        m.value = value
        return m
    }
}
