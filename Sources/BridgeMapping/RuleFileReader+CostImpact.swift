import BridgeCore
import BridgeVerification
import Foundation
import Yams

/// An event's `cost_impact:` (docs/rules.md, "Cost impact follow-ups"): everything is checked at load time, so
/// `check` refuses a bad duration, threshold or id and the mapper only evaluates the dimension templates.
extension RuleFileReader {
    static let costImpactKeys = [
        "view", "unit_metric", "before", "after", "threshold", "settle", "dimensions", "stream_token",
    ]

    mutating func costImpactTemplate(_ node: Node) -> CostImpactTemplate? {
        guard let pairs = mapping(node, allowed: RuleFileReader.costImpactKeys, what: "'cost_impact'") else {
            return nil
        }
        var source: CostSource?
        var sourceKey: String?
        var sourceMissing = true
        var beforeDays = 7
        var afterDays = 3
        var threshold: Double?
        var settlingHours = 24
        var dimensions: [(key: String, value: Template)]?
        var streamToken: Secret?
        var valid = true
        for (key, keyNode, value) in pairs {
            switch key {
            case "view", "unit_metric":
                if let first = sourceKey {
                    error(keyNode, "cost_impact takes 'view' or 'unit_metric', not both ('\(first)' is given above)")
                    valid = false
                    continue
                }
                sourceKey = key
                sourceMissing = false
                guard let id = costImpactID(value, key: key) else {
                    valid = false
                    continue
                }
                source = key == "view" ? .costView(id) : .unitMetric(id)
            case "before", "after":
                guard let s = string(value, what: "cost_impact '\(key)'") else {
                    valid = false
                    continue
                }
                do {
                    // At least 2 days: CostImpactParse.days refuses fewer, as they could never be compared.
                    let n = try CostImpactParse.days(s, option: key)
                    if key == "before" { beforeDays = n } else { afterDays = n }
                } catch {
                    costImpactError(value, error)
                    valid = false
                }
            case "threshold":
                guard let s = string(value, what: "cost_impact 'threshold'") else {
                    valid = false
                    continue
                }
                do { threshold = try CostImpactParse.percent(s, option: "threshold") } catch {
                    costImpactError(value, error)
                    valid = false
                }
            case "settle":
                guard let s = string(value, what: "cost_impact 'settle'") else {
                    valid = false
                    continue
                }
                do { settlingHours = try CostImpactParse.settlingHours(s, option: "settle") } catch {
                    costImpactError(value, error)
                    valid = false
                }
            case "dimensions":
                guard let d = dimensionTemplates(value, keyNode: keyNode, what: "cost_impact") else {
                    valid = false
                    continue
                }
                dimensions = d
            case "stream_token":
                guard let s = string(value, what: "cost_impact 'stream_token'") else {
                    valid = false
                    continue
                }
                streamToken = nonEmpty(expand(s).value).map(Secret.init)
            default: break
            }
        }
        if sourceMissing {
            error(
                node,
                "cost_impact needs 'view' (a Cost View id) or 'unit_metric' (a Unit Metric id): the series to compare "
                    + "before and after the deploy")
            return nil
        }
        guard valid, let source else { return nil }
        do {
            let spec = try CostImpactSpec(
                source: source, beforeDays: beforeDays, afterDays: afterDays, thresholdPercent: threshold,
                settlingHours: settlingHours)
            return CostImpactTemplate(spec: spec, dimensions: dimensions, streamToken: streamToken)
        } catch {
            costImpactError(node, error)
            return nil
        }
    }

    /// A Cost View or Unit Metric id, `${NAME}` expanded; an id that expands to nothing names the unset variables.
    mutating func costImpactID(_ node: Node, key: String) -> String? {
        guard let raw = string(node, what: "cost_impact '\(key)'") else { return nil }
        let (id, references) = expand(raw)
        if id.isEmpty {
            let unset = references.filter { (environment[$0] ?? "").isEmpty }
            if unset.isEmpty {
                error(node, "cost_impact '\(key)' must not be empty: give the \(costImpactNoun(key)) id")
            } else {
                let names = unset.joined(separator: ", ")
                error(
                    node,
                    "cost_impact '\(key)' is empty: \(names) \(unset.count == 1 ? "is" : "are") not set (set "
                        + "\(unset.count == 1 ? "it" : "them") to the \(costImpactNoun(key)) id, or remove the "
                        + "cost_impact section)")
            }
            return nil
        }
        do {
            return try CostImpactParse.metricID(id, option: key)
        } catch {
            costImpactError(node, error)
            return nil
        }
    }

    func costImpactNoun(_ key: String) -> String { key == "view" ? "Cost View" : "Unit Metric" }

    mutating func costImpactError(_ node: Node, _ error: any Error) {
        let message = (error as? CostImpactError)?.message ?? "\(error)"
        self.error(node, "cost_impact: \(message)")
    }

    /// `dimensions:` of a metric or a cost impact: names to templates, at most `CloudthreadLimits.maxDimensions`.
    /// Nil when the node is not a mapping.
    mutating func dimensionTemplates(_ node: Node, keyNode: Node, what: String) -> [(key: String, value: Template)]? {
        guard let dm = node.mapping else {
            error(node, "'dimensions' must be a mapping of names to templates")
            return nil
        }
        if dm.count > CloudthreadLimits.maxDimensions {
            error(
                keyNode,
                "\(what) has at most \(CloudthreadLimits.maxDimensions) dimensions in Cloudthread; this one has "
                    + "\(dm.count)"
            )
        }
        var out: [(key: String, value: Template)] = []
        for (dk, dv) in dm {
            guard let dkey = dk.scalar?.string, !dkey.isEmpty else {
                error(dk, "dimension names must be non-empty strings")
                continue
            }
            if let t = template(dv, what: "dimension '\(dkey)'") { out.append((dkey, t)) }
        }
        return out
    }
}
