// JSONWriter.swift — fast serializer for `JSONValue`.
//
// `write(into:sortedKeys:)` with `sortedKeys: true` produces byte-for-byte the same text as the
// existing `JSONValue.json` property: compact, keys sorted with `String.<`, numbers formatted like
// `JSONValue.format` (integers below 1e15 without a fraction, integral values below 1e21 in full,
// everything else as `String(Double)`), non-finite numbers as `null`, and strings escaped like
// `JSONValue.quote` (\" \\ \n \r \t, other controls as \u00xx lowercase, everything else verbatim).
// No Foundation. Recursion depth equals the nesting depth of the value.

extension JSONValue {
    /// Appends the compact JSON text of this value to `out`.
    /// - Parameter sortedKeys: sort object keys (as `json` does); `false` writes them in dictionary order.
    public func write(into out: inout [UInt8], sortedKeys: Bool = true) {
        switch self {
        case .null:
            _appendASCII("null", to: &out)
        case .bool(let b):
            _appendASCII(b ? "true" : "false", to: &out)
        case .number(let n):
            JSONValue._writeNumber(n, into: &out)
        case .string(let s):
            JSONValue._writeString(s, into: &out)
        case .array(let items):
            out.append(0x5B)
            var first = true
            for item in items {
                if !first { out.append(0x2C) }
                first = false
                item.write(into: &out, sortedKeys: sortedKeys)
            }
            out.append(0x5D)
        case .object(let members):
            out.append(0x7B)
            var first = true
            if sortedKeys {
                for (key, value) in members.sorted(by: { $0.key < $1.key }) {
                    if !first { out.append(0x2C) }
                    first = false
                    JSONValue._writeString(key, into: &out)
                    out.append(0x3A)
                    value.write(into: &out, sortedKeys: true)
                }
            } else {
                for (key, value) in members {
                    if !first { out.append(0x2C) }
                    first = false
                    JSONValue._writeString(key, into: &out)
                    out.append(0x3A)
                    value.write(into: &out, sortedKeys: false)
                }
            }
            out.append(0x7D)
        }
    }

    /// Compact JSON bytes with sorted keys (the bytes of `json`).
    public var jsonBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        write(into: &out, sortedKeys: true)
        return out
    }

    static func _writeNumber(_ n: Double, into out: inout [UInt8]) {
        guard n.isFinite else {
            _appendASCII("null", to: &out)
            return
        }
        if n.rounded() == n {
            let magnitude = n.magnitude
            if magnitude < 1e15 {
                // String(Int64(n)); -0.0 prints as "0".
                if n < 0 { out.append(0x2D) }
                _appendDecimal(UInt64(magnitude), to: &out)
                return
            }
            if magnitude < 1e21 {
                // String(format: "%.0f", n): the exact integer value.
                if n < 0 { out.append(0x2D) }
                let big = UInt128(magnitude)
                let high = UInt64(big / 10_000_000_000_000_000_000)
                let low = UInt64(big % 10_000_000_000_000_000_000)
                if high > 0 {
                    _appendDecimal(high, to: &out)
                    _appendDecimal(low, to: &out, minimumDigits: 19)
                } else {
                    _appendDecimal(low, to: &out)
                }
                return
            }
        }
        out.append(contentsOf: n.description.utf8)
    }

    package static func _writeString(_ s: String, into out: inout [UInt8]) {
        out.append(0x22)
        var s = s
        s.withUTF8 { bytes in
            var runStart = 0
            var i = 0
            let n = bytes.count
            while i < n {
                let b = bytes[i]
                if b >= 0x20 && b != 0x22 && b != 0x5C {
                    i += 1
                    continue
                }
                if i > runStart { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
                switch b {
                case 0x22:
                    out.append(0x5C)
                    out.append(0x22)
                case 0x5C:
                    out.append(0x5C)
                    out.append(0x5C)
                case 0x0A:
                    out.append(0x5C)
                    out.append(0x6E)
                case 0x0D:
                    out.append(0x5C)
                    out.append(0x72)
                case 0x09:
                    out.append(0x5C)
                    out.append(0x74)
                default:
                    // \u00xx, lowercase hex as String(format: "\\u%04x")
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    out.append(0x5C)
                    out.append(0x75)
                    out.append(0x30)
                    out.append(0x30)
                    out.append(hex[Int(b >> 4)])
                    out.append(hex[Int(b & 0xF)])
                }
                i += 1
                runStart = i
            }
            if n > runStart { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<n])) }
        }
        out.append(0x22)
    }
}

@inline(__always)
private func _appendASCII(_ s: StaticString, to out: inout [UInt8]) {
    out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
}

private func _appendDecimal(_ value: UInt64, to out: inout [UInt8], minimumDigits: Int = 1) {
    let start = out.count
    var v = value
    var written = 0
    repeat {
        out.append(0x30 &+ UInt8(truncatingIfNeeded: v % 10))
        v /= 10
        written += 1
    } while v > 0 || written < minimumDigits
    out[start...].reverse()
}
