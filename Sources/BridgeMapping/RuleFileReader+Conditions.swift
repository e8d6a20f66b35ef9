import BridgeCore
import BridgeVerification
import Foundation
import Yams

/// `when`: conditions and matchers.
extension RuleFileReader {
    static let matcherKeys = ["equals", "one_of", "regex", "exists", "gt", "gte", "lt", "lte", "contains"]

    mutating func condition(_ node: Node) -> Condition? {
        guard let mapping = node.mapping else {
            error(node, "'when' must be a mapping of paths to expected values")
            return nil
        }
        var parts: [Condition] = []
        for (k, v) in mapping {
            guard let key = k.scalar?.string else {
                error(k, "condition keys must be paths")
                continue
            }
            switch key {
            case "all", "any":
                guard let list = sequence(v, what: "'\(key)'") else { continue }
                let cs = list.compactMap { condition($0) }
                parts.append(key == "all" ? .all(cs) : .any(cs))
            case "not":
                if let c = condition(v) { parts.append(.not(c)) }
            default:
                guard let p = pathForCondition(k, key) else { continue }
                if let m = matcher(v) { parts.append(m.count == 1 ? .test(p, m[0]) : .all(m.map { .test(p, $0) })) }
            }
        }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    mutating func pathForCondition(_ node: Node, _ key: String) -> PayloadPath? {
        switch PayloadPath.parse(key) {
        case .success(let p): return p
        case .failure(let e):
            let first = key.split(separator: ".").first.map(String.init) ?? key
            if PayloadPath.Root(rawValue: first) == nil {
                error(
                    node,
                    "unknown condition "
                        + "'\(key)'\(suggestion(first, PayloadPath.Root.allCases.map(\.rawValue) + ["all", "any", "not"])): a condition key is a path (payload., header., query., item., path) or all/any/not"
                )
            } else {
                error(node, e.description)
            }
            return nil
        }
    }

    mutating func matcher(_ node: Node) -> [Matcher]? {
        if let scalar = node.scalar { return [.equals(scalar.string)] }
        if let seq = node.sequence {
            var values: [String] = []
            for item in seq { if let s = string(item, what: "a value in a list of choices") { values.append(s) } }
            return [.oneOf(values)]
        }
        guard let pairs = mapping(node, allowed: RuleFileReader.matcherKeys, what: "a condition") else { return nil }
        var out: [Matcher] = []
        for (key, _, value) in pairs {
            switch key {
            case "equals": if let s = string(value, what: "'equals'") { out.append(.equals(s)) }
            case "one_of":
                if let list = sequence(value, what: "'one_of'") {
                    out.append(.oneOf(list.compactMap { string($0, what: "a choice") }))
                }
            case "regex":
                if let s = string(value, what: "'regex'") {
                    do { out.append(.regex(try BoundedRegex(s))) } catch { self.error(value, "\(error)") }
                }
            case "exists": if let b = bool(value, what: "'exists'") { out.append(.exists(b)) }
            case "contains": if let s = string(value, what: "'contains'") { out.append(.contains(s)) }
            default:
                if let n = number(value, what: "'\(key)'"), let op = Matcher.Comparison(rawValue: key) {
                    out.append(.compare(op, n))
                }
            }
        }
        if out.isEmpty, pairs.isEmpty {
            error(node, "an empty condition; use one of \(RuleFileReader.matcherKeys.joined(separator: ", "))")
        }
        return out
    }
}
