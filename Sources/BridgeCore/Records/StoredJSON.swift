/// The JSON the store keeps for explanations and event records, written by hand (it is on every webhook's path,
/// and `JSONEncoder` cost a tenth of a webhook's CPU). Read back with `JSONDecoder`: the keys and shapes are those
/// of the types' `Codable` conformances, which a test checks by round trip.
extension Explanation {
    public var storedJSON: String {
        var object: [String: JSONValue] = [
            "source": .string(source),
            "rules": .array(rules.map(\.jsonValue)),
            "rejected": .array(rejected.map { .object(["rule": .string($0.rule), "reason": .string($0.reason)]) }),
            "notes": .array(notes.map(JSONValue.string)),
        ]
        if rules.isEmpty { object["rules"] = .array([]) }
        return JSONValue.object(object).json
    }
}

extension Explanation.RuleTrace {
    var jsonValue: JSONValue {
        var object: [String: JSONValue] = [
            "rule": .string(rule), "matched": .bool(matched), "events": .number(Double(events)),
            "metrics": .number(Double(metrics)),
            "checks": .array(checks.map(\.jsonValue)),
        ]
        if let items { object["items"] = .number(Double(items)) }
        return .object(object)
    }
}

extension ConditionCheck {
    var jsonValue: JSONValue {
        var object: [String: JSONValue] = [
            "path": .string(path), "expectation": .string(expectation), "passed": .bool(passed),
        ]
        if let seen { object["seen"] = .string(seen) }
        return .object(object)
    }
}

extension EventRecord {
    public var storedJSON: String {
        var object: [String: JSONValue] = [
            "timestamp": .string(timestamp), "type": .string(type), "rule": .string(rule),
        ]
        if let description { object["description"] = .string(description) }
        if let url { object["url"] = .string(url) }
        if let dedupeKey { object["dedupeKey"] = .string(dedupeKey) }
        switch team {
        case .id(let n)?: object["team"] = .object(["id": .object(["_0": .number(Double(n))])])
        case .name(let s)?: object["team"] = .object(["name": .object(["_0": .string(s)])])
        case nil: break
        }
        return JSONValue.object(object).json
    }
}

extension Dictionary where Key == String, Value == String {
    /// Dimensions as compact JSON with sorted keys.
    public var storedJSON: String { JSONValue.object(mapValues(JSONValue.string)).json }
}
