import BridgeCore
import BridgeVerification
import Foundation
import Yams

/// One entry of `tests`.
extension RuleFileReader {
    static let testKeys = ["name", "headers", "query", "path", "body", "body_file", "sign", "expect"]
    static let expectKeys = ["outcome", "status", "events", "metrics", "exact", "cost_impact"]
    static let expectedCostImpactKeys = [
        "view", "unit_metric", "due", "deploy_at", "before", "after", "threshold", "dimensions",
    ]

    mutating func ruleTest(_ node: Node, index: Int) -> RuleTest? {
        guard let pairs = mapping(node, allowed: RuleFileReader.testKeys, what: "a test") else { return nil }
        var t = RuleTest(
            name: "test \(index + 1)", line: node.mark?.line ?? 0, headers: [], query: [], subpath: "", body: [],
            sign: true, expect: .init(outcome: nil, status: nil, events: nil, metrics: nil, exact: false))
        var hasBody = false
        for (key, _, value) in pairs {
            switch key {
            case "name": if let s = nonEmptyString(value, what: "test 'name'") { t.name = s }
            case "headers", "query":
                guard let m = value.mapping else {
                    error(value, "'\(key)' must be a mapping of names to values")
                    continue
                }
                for (k, v) in m {
                    guard let name = k.scalar?.string,
                        let s = string(v, what: "a \(key == "headers" ? "header" : "query") value")
                    else { continue }
                    if key == "headers" { t.headers.append((name, s)) } else { t.query.append((name, s)) }
                }
            case "path": if let s = string(value, what: "'path'") { t.subpath = s }
            case "body":
                hasBody = true
                if let s = value.scalar?.string {
                    t.body = Array(s.utf8)
                } else {
                    t.body = Array(RuleFileReader.json(value).utf8)
                }
            case "body_file":
                hasBody = true
                guard let s = nonEmptyString(value, what: "'body_file'") else { continue }
                let path = s.hasPrefix("/") ? s : "\(directory)/\(s)"
                if let data = FileManager.default.contents(atPath: path) {
                    t.body = [UInt8](data)
                } else {
                    error(value, "body_file '\(s)' cannot be read (looked for \(path))")
                }
            case "sign": if let b = bool(value, what: "'sign'") { t.sign = b }
            case "expect":
                guard let ep = mapping(value, allowed: RuleFileReader.expectKeys, what: "'expect'") else { continue }
                for (ek, _, ev) in ep {
                    switch ek {
                    case "outcome":
                        if let s = string(ev, what: "'outcome'") {
                            if ["accepted", "ignored", "rejected", "refused", "duplicate"].contains(s) {
                                t.expect.outcome = s
                            } else {
                                error(ev, "unknown outcome '\(s)' (accepted, ignored, rejected or refused)")
                            }
                        }
                    case "status":
                        if let n = number(ev, what: "'status'") {
                            if let code = Int(exactly: n), (100...599).contains(code) {
                                t.expect.status = code
                            } else {
                                error(ev, "'status' must be an HTTP status code (100 to 599)")
                            }
                        }
                    case "exact": if let b = bool(ev, what: "'exact'") { t.expect.exact = b }
                    case "events", "metrics":
                        guard let list = sequence(ev, what: "'\(ek)'") else { continue }
                        var items: [[String: JSONValue]] = []
                        let allowed =
                            ek == "events"
                            ? ["type", "description", "url", "team", "timestamp"]
                            : ["name", "aggregate", "value", "dimensions", "hour", "stream_token"]
                        for item in list {
                            guard
                                let ip = mapping(
                                    item, allowed: allowed, what: "an expected \(ek == "events" ? "event" : "metric")")
                            else { continue }
                            var o: [String: JSONValue] = [:]
                            for (ik, _, iv) in ip { o[ik] = RuleFileReader.jsonValue(iv) }
                            items.append(o)
                        }
                        if ek == "events" { t.expect.events = items } else { t.expect.metrics = items }
                    case "cost_impact":
                        guard let list = sequence(ev, what: "'cost_impact'") else { continue }
                        var items: [[String: JSONValue]] = []
                        for item in list {
                            guard
                                let ip = mapping(
                                    item, allowed: RuleFileReader.expectedCostImpactKeys,
                                    what: "an expected cost impact follow-up")
                            else { continue }
                            var o: [String: JSONValue] = [:]
                            for (ik, _, iv) in ip { o[ik] = RuleFileReader.jsonValue(iv) }
                            items.append(o)
                        }
                        t.expect.costImpact = items
                    default: break
                    }
                }
            default: break
            }
        }
        if !hasBody { error(node, "test '\(t.name)' needs a 'body' or a 'body_file'") }
        return t
    }
}
