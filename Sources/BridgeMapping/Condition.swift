import BridgeCore
import Foundation

/// A rule's `when:`: tests on request values combined with all/any/not.
public indirect enum Condition: Sendable {
    case always
    case test(PayloadPath, Matcher)
    case all([Condition])
    case any([Condition])
    case not(Condition)

    /// One check's outcome, for `try` and recorded explanations.
    public typealias Check = ConditionCheck

    /// Evaluates the condition; `checks` receives each leaf test in order.
    public func evaluate(_ context: MappingContext, checks: inout [Check]) -> Bool {
        switch self {
        case .always:
            return true
        case .test(let path, let matcher):
            let value = context.lookup(path)
            let ok = matcher.matches(value)
            checks.append(Check(path: path.description, expectation: matcher.description, seen: value.map { Condition.abbreviate($0) }, passed: ok))
            return ok
        case .all(let cs):
            var ok = true
            for c in cs where !c.evaluate(context, checks: &checks) {
                ok = false
                break
            }
            return ok
        case .any(let cs):
            for c in cs where c.evaluate(context, checks: &checks) { return true }
            return false
        case .not(let c):
            var inner: [Check] = []
            let ok = !c.evaluate(context, checks: &inner)
            checks.append(contentsOf: inner.map { Check(path: $0.path, expectation: "not " + $0.expectation, seen: $0.seen, passed: !$0.passed) })
            return ok
        }
    }

    static func abbreviate(_ v: JSONValue) -> String {
        let t: String
        if case .string(let s) = v { t = JSONValue.quote(s) } else { t = v.json }
        return t.count > 80 ? String(t.prefix(79)) + "…" : t
    }

    /// Every path the condition reads.
    public var paths: [PayloadPath] {
        switch self {
        case .always: []
        case .test(let p, _): [p]
        case .all(let cs), .any(let cs): cs.flatMap(\.paths)
        case .not(let c): c.paths
        }
    }
}

/// A test on one value.
public enum Matcher: Sendable, CustomStringConvertible {
    case equals(String)
    case oneOf([String])
    case regex(BoundedRegex)
    case exists(Bool)
    case compare(Comparison, Double)
    case contains(String)

    public enum Comparison: String, Sendable { case gt, gte, lt, lte }

    public func matches(_ value: JSONValue?) -> Bool {
        switch self {
        case .exists(let wanted):
            let present = value != nil && value != .null
            return present == wanted
        case .equals(let s):
            guard let value else { return false }
            return value.text == s
        case .oneOf(let list):
            guard let value else { return false }
            return list.contains(value.text)
        case .regex(let r):
            guard let value, value != .null else { return false }
            return r.matches(value.text)
        case .compare(let op, let rhs):
            guard let lhs = value?.number else { return false }
            switch op {
            case .gt: return lhs > rhs
            case .gte: return lhs >= rhs
            case .lt: return lhs < rhs
            case .lte: return lhs <= rhs
            }
        case .contains(let s):
            switch value {
            case .array(let a)?: return a.contains { $0.text == s }
            case .string(let t)?: return t.contains(s)
            default: return false
            }
        }
    }

    public var description: String {
        switch self {
        case .equals(let s): "equals \(JSONValue.quote(s))"
        case .oneOf(let l): "one of [\(l.map { JSONValue.quote($0) }.joined(separator: ", "))]"
        case .regex(let r): "matches /\(r.pattern)/"
        case .exists(let b): b ? "exists" : "is absent"
        case .compare(let op, let n): "\(["gt": ">", "gte": ">=", "lt": "<", "lte": "<="][op.rawValue]!) \(JSONValue.format(n))"
        case .contains(let s): "contains \(JSONValue.quote(s))"
        }
    }
}

/// A regular expression with bounded cost: patterns are limited in length and checked at load time,
/// and a value is matched on at most `maxInput` characters, so a hostile payload cannot make a rule
/// run for long.
public struct BoundedRegex: @unchecked Sendable {
    public static let maxPattern = 512
    public static let maxInput = 4096

    public let pattern: String
    let regex: NSRegularExpression

    public init(_ pattern: String) throws {
        guard pattern.count <= BoundedRegex.maxPattern else {
            throw PathError("regex is longer than \(BoundedRegex.maxPattern) characters")
        }
        // Nested quantifiers such as (a+)+ are the classic catastrophic-backtracking shape: refuse them.
        if pattern.range(of: #"\([^()]*[+*][^()]*\)[+*{]"#, options: .regularExpression) != nil {
            throw PathError("regex '\(pattern)' nests a repetition inside a repetition, which can backtrack without bound")
        }
        do {
            regex = try NSRegularExpression(pattern: pattern)
        } catch {
            throw PathError("invalid regex '\(pattern)'")
        }
        self.pattern = pattern
    }

    public func matches(_ text: String) -> Bool {
        let subject = text.count > BoundedRegex.maxInput ? String(text.prefix(BoundedRegex.maxInput)) : text
        let range = NSRange(subject.startIndex..<subject.endIndex, in: subject)
        return regex.firstMatch(in: subject, range: range) != nil
    }
}
