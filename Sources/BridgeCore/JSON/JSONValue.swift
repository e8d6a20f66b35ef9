import Foundation

/// A parsed JSON value, as rules see a payload.
public enum JSONValue: Sendable, Equatable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The value as text for templates: strings as-is, integers without a fraction, JSON for containers.
    public var text: String {
        switch self {
        case .null: ""
        case .bool(let b): b ? "true" : "false"
        case .number(let n): JSONValue.format(n)
        case .string(let s): s
        case .array, .object: json
        }
    }

    public static func format(_ n: Double) -> String {
        if n.rounded() == n, abs(n) < 1e15 { return String(Int64(n)) }
        if n.rounded() == n, abs(n) < 1e21 { return String(format: "%.0f", n) }
        return String(n)
    }

    /// Compact JSON text with sorted keys.
    public var json: String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        write(into: &out, sortedKeys: true)
        return String(decoding: out, as: UTF8.self)
    }

    package static func quote(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 2)
        _writeString(s, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public var number: Double? {
        switch self {
        case .number(let n): n
        case .string(let s): Double(s.trimmed)
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    /// Truthiness used by `exists`-style checks and `default`.
    public var isEmptyValue: Bool {
        switch self {
        case .null: true
        case .string(let s): s.isEmpty
        default: false
        }
    }
}
