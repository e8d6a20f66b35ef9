// JSONParser+Numbers.swift — the number parser of `_JSONByteParser`, and its error messages.

/// Exact powers of ten representable in a Double (10^0 ... 10^22).
@inline(__always)
private func _exactPowerOfTen(_ k: Int) -> Double {
    switch k {
    case 0: 1e0
    case 1: 1e1
    case 2: 1e2
    case 3: 1e3
    case 4: 1e4
    case 5: 1e5
    case 6: 1e6
    case 7: 1e7
    case 8: 1e8
    case 9: 1e9
    case 10: 1e10
    case 11: 1e11
    case 12: 1e12
    case 13: 1e13
    case 14: 1e14
    case 15: 1e15
    case 16: 1e16
    case 17: 1e17
    case 18: 1e18
    case 19: 1e19
    case 20: 1e20
    case 21: 1e21
    default: 1e22
    }
}

extension _JSONByteParser {
    // MARK: numbers

    /// Parses the number at `pos` per RFC 8259: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    mutating func parseNumber() throws(JSONParseError) -> Double {
        let start = pos
        var i = pos
        let negative = base[i] == _B.minus
        if negative { i += 1 }
        var mantissa: UInt64 = 0
        var digits = 0  // digits accumulated into `mantissa` (at most 19 are kept)
        guard i < count else {
            throw fail(.invalidNumber, at: i, "expected a digit after '-', found end of input")
        }
        let first = base[i]
        if first == _B.zero {
            i += 1
            if i < count, base[i] >= _B.zero, base[i] <= _B.nine {
                throw fail(.invalidNumber, at: start, "leading zeros are not allowed in numbers")
            }
        } else if first > _B.zero && first <= _B.nine {
            repeat {
                if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(base[i] &- _B.zero) }
                digits += 1
                i += 1
            } while i < count && base[i] >= _B.zero && base[i] <= _B.nine
        } else {
            throw fail(.invalidNumber, at: i, "expected a digit after '-', found \(describe(at: i))")
        }
        var fractionDigits = 0
        var isPlain = true
        if i < count, base[i] == _B.dot {
            isPlain = false
            i += 1
            guard i < count, base[i] >= _B.zero, base[i] <= _B.nine else {
                throw fail(.invalidNumber, at: i, "expected a digit after the decimal point, found \(describe(at: i))")
            }
            repeat {
                if digits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(base[i] &- _B.zero)
                    fractionDigits += 1
                }
                digits += 1
                i += 1
            } while i < count && base[i] >= _B.zero && base[i] <= _B.nine
        }
        var exponent = 0
        if i < count, base[i] | 0x20 == _B.lowerE {
            isPlain = false
            i += 1
            var expNegative = false
            if i < count, base[i] == _B.minus || base[i] == _B.plus {
                expNegative = base[i] == _B.minus
                i += 1
            }
            guard i < count, base[i] >= _B.zero, base[i] <= _B.nine else {
                throw fail(.invalidNumber, at: i, "expected a digit in the exponent, found \(describe(at: i))")
            }
            repeat {
                if exponent < 100_000 { exponent = exponent * 10 + Int(base[i] &- _B.zero) }
                i += 1
            } while i < count && base[i] >= _B.zero && base[i] <= _B.nine
            if expNegative { exponent = -exponent }
        }
        pos = i

        // Fast paths: exact integers (< 2^53) and Clinger's exact case (mantissa < 2^53, |power of ten| <= 22):
        // one correctly rounded IEEE operation on exact operands, so the result equals the correctly
        // rounded value `Double(String)` returns.
        if digits <= 19 {
            if isPlain && digits <= 15 {
                let v = Double(mantissa)
                return negative ? -v : v
            }
            if mantissa == 0 { return negative ? -0.0 : 0.0 }
            if mantissa <= (1 << 53) {
                let e10 = exponent - fractionDigits
                if e10 >= -22 && e10 <= 22 {
                    var v = Double(mantissa)
                    if e10 < 0 { v /= _exactPowerOfTen(-e10) } else { v *= _exactPowerOfTen(e10) }
                    return negative ? -v : v
                }
            }
        }
        // General case: the standard library's correctly rounded conversion of the literal text.
        // Literals up to 15 bytes become small (non-allocating) strings.
        let text = String(decoding: UnsafeBufferPointer(start: base + start, count: i - start), as: UTF8.self)
        guard let v = Double(text) else {
            throw fail(.invalidNumber, at: start, "invalid number")
        }
        if !v.isFinite {
            throw fail(.numberOutOfRange, at: start, "number out of range (its magnitude exceeds the largest Double)")
        }
        return v
    }

    // MARK: errors (cold)

    @inline(never)
    func badValueStart() -> JSONParseError {
        let b = base[pos]
        switch b {
        case _B.plus:
            return fail(.invalidNumber, at: pos, "a number cannot start with '+'")
        case _B.dot:
            return fail(.invalidNumber, at: pos, "a number needs a digit before the decimal point")
        case 0x27:
            return fail(
                .unexpectedByte(b), at: pos, "expected a JSON value, found a single quote (strings use double quotes)")
        case _B.slash:
            return fail(
                .unexpectedByte(b), at: pos, "expected a JSON value, found '/' (comments are not allowed in JSON)")
        case 0x4E, 0x49:  // N, I
            return fail(
                .unexpectedByte(b), at: pos,
                "expected a JSON value, found \(describe(at: pos)) (NaN and Infinity are not JSON)")
        case _B.rbracket, _B.rbrace:
            return fail(.unexpectedByte(b), at: pos, "expected a JSON value, found \(describe(at: pos))")
        default:
            return fail(.unexpectedByte(b), at: pos, "expected a JSON value, found \(describe(at: pos))")
        }
    }

    @inline(never)
    func controlCharacter(at i: Int) -> JSONParseError {
        fail(
            .controlCharacterInString, at: i,
            "unescaped control character 0x\(_hex2(base[i])) in a string (use an escape such as \\n or \\u00XX)")
    }

    @inline(never)
    func invalidUTF8(at i: Int, _ what: String) -> JSONParseError {
        fail(.invalidUTF8, at: i, "invalid UTF-8 in a string: \(what) at byte 0x\(_hex2(base[i]))")
    }

    @inline(never)
    func truncatedUTF8(at i: Int) -> JSONParseError {
        fail(
            .invalidUTF8, at: i, "invalid UTF-8 in a string: truncated sequence starting with byte 0x\(_hex2(base[i]))")
    }

    /// "end of input", "'x'", or "byte 0xNN".
    func describe(at i: Int) -> String {
        guard i < count else { return "end of input" }
        return _describeByte(base[i])
    }

    /// Builds the error, computing line and column (only now, on the error path).
    @inline(never)
    func fail(_ reason: JSONParseError.Reason, at offset: Int, _ message: String) -> JSONParseError {
        let end = min(offset, count)
        var line = 1
        var lineStart = 0
        var j = 0
        while j < end {
            if base[j] == _B.lf {
                line += 1
                lineStart = j + 1
            }
            j += 1
        }
        if lineStart == 0, count >= 3, base[0] == 0xEF, base[1] == 0xBB, base[2] == 0xBF {
            lineStart = min(3, end)  // the BOM is not a column
        }
        var column = 1
        j = lineStart
        while j < end {
            if base[j] & 0xC0 != 0x80 { column += 1 }
            j += 1
        }
        return JSONParseError(reason: reason, offset: offset, line: line, column: column, message: message)
    }
}

// MARK: - message helpers (never echo more than ~40 bytes of input; escape non-printables)

let _hexDigits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F"]

func _hex2(_ b: UInt8) -> String {
    String([_hexDigits[Int(b >> 4)], _hexDigits[Int(b & 0xF)]])
}

func _hex4(_ v: UInt32) -> String {
    _hex2(UInt8(truncatingIfNeeded: v >> 8)) + _hex2(UInt8(truncatingIfNeeded: v))
}

/// A byte as shown in a message.
func _describeByte(_ b: UInt8) -> String {
    if b == 0x27 { return "a single quote" }
    if b > 0x20 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
    if b == 0x20 { return "a space" }
    if b < 0x20 || b == 0x7F { return "control byte 0x\(_hex2(b))" }
    return "byte 0x\(_hex2(b))"
}

/// A printable rendering of one byte for inline use (e.g. after a backslash).
func _printable(_ b: UInt8) -> String {
    if b >= 0x20 && b < 0x7F { return String(Character(Unicode.Scalar(b))) }
    return "<0x\(_hex2(b))>"
}

/// A string (e.g. a key) in double quotes, escaped, truncated to about 40 bytes.
func _quoteForMessage(_ s: String) -> String {
    var out = "\""
    var used = 0
    for scalar in s.unicodeScalars {
        let piece: String
        switch scalar.value {
        case 0x22: piece = "\\\""
        case 0x5C: piece = "\\\\"
        case 0x20..<0x7F: piece = String(Character(scalar))
        default: piece = "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
        }
        if used + piece.utf8.count > 40 {
            out += "…"
            break
        }
        out += piece
        used += piece.utf8.count
    }
    return out + "\""
}
