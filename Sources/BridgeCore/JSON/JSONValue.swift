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

    /// `s` as a JSON string literal, the bytes `_writeString` writes: sized in a first pass and written straight
    /// into the string's storage (one allocation, none for a result of up to 15 bytes; it is on every webhook's path).
    package static func quote(_ s: String) -> String {
        var s = s
        return s.withUTF8 { bytes in
            var size = 2
            for b in bytes {
                if b >= 0x20 && b != 0x22 && b != 0x5C {
                    size += 1
                } else {
                    size += (b == 0x22 || b == 0x5C || b == 0x0A || b == 0x0D || b == 0x09) ? 2 : 6
                }
            }
            return String(unsafeUninitializedCapacity: size) { out in
                let hex: StaticString = "0123456789abcdef"
                var j = 0
                out[j] = 0x22
                j += 1
                for b in bytes {
                    if b >= 0x20 && b != 0x22 && b != 0x5C {
                        out[j] = b
                        j += 1
                        continue
                    }
                    out[j] = 0x5C
                    switch b {
                    case 0x22, 0x5C: out[j + 1] = b
                    case 0x0A: out[j + 1] = 0x6E
                    case 0x0D: out[j + 1] = 0x72
                    case 0x09: out[j + 1] = 0x74
                    default:
                        // \u00xx, lowercase hex
                        out[j + 1] = 0x75
                        out[j + 2] = 0x30
                        out[j + 3] = 0x30
                        out[j + 4] = hex.utf8Start[Int(b >> 4)]
                        out[j + 5] = hex.utf8Start[Int(b & 0xF)]
                        j += 4
                    }
                    j += 2
                }
                out[j] = 0x22
                return j + 1
            }
        }
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
