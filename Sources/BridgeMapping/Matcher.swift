import BridgeCore
import Foundation

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
        case .compare(let op, let n):
            "\(["gt": ">", "gte": ">=", "lt": "<", "lte": "<="][op.rawValue]!) \(JSONValue.format(n))"
        case .contains(let s): "contains \(JSONValue.quote(s))"
        }
    }
}
