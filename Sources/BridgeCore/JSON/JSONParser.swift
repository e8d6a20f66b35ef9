// JSONParser.swift — strict RFC 8259 JSON parser producing `JSONValue`.
//
// Replaces the Foundation `JSONDecoder` + `Decodable` path of `JSONValue.parse`.
// Works directly on the input bytes (no Foundation, no Codable, no Scanner).
//
// Policies (see README.md):
//   * Strict RFC 8259 grammar. No trailing commas, comments, single quotes, NaN/Infinity,
//     leading zeros, '+' signs, '.5' or '1.'; only the four JSON whitespace bytes
//     (space, tab, LF, CR); nothing but whitespace after the value; empty input refused.
//   * A UTF-8 byte order mark (EF BB BF) at byte 0 is skipped. A BOM anywhere else is
//     an ordinary byte (an error outside strings, the character U+FEFF inside strings).
//   * Strings must be valid UTF-8 (no overlongs, no encoded surrogates, nothing above
//     U+10FFFF, no truncated sequences); raw bytes < 0x20 are refused inside strings;
//     `\uXXXX` surrogate escapes must form a high+low pair.
//   * Duplicate keys in one object are refused (`.duplicateKey`). Keys are compared as Swift
//     `String`s, i.e. by canonical equivalence ("\u00e9" and "e\u0301" are the same key),
//     because `[String: JSONValue]` could not hold both anyway.
//   * Nesting of arrays + objects deeper than `maxDepth` (default 128) is refused
//     (`.tooDeep`). The parser recurses once per nesting level, so stack use is bounded
//     by `maxDepth` (a few hundred bytes per level).
//   * Numbers give the same `Double` as `Double(String)` for the literal text; a literal that
//     overflows to ±infinity is refused (`.numberOutOfRange`); underflow gives (±)0 or a
//     subnormal, as `Double(String)` does.

extension JSONValue {
    /// Parses one JSON document (RFC 8259, strict) from `bytes`.
    /// - Parameter maxDepth: maximum nesting of arrays and objects (the top-level container is depth 1).
    public static func parse(bytes: UnsafeRawBufferPointer, maxDepth: Int = 128) throws(JSONParseError) -> JSONValue {
        guard let raw = bytes.baseAddress, bytes.count > 0 else {
            throw JSONParseError(
                reason: .empty, offset: 0, line: 1, column: 1, message: "the input is empty; expected a JSON value")
        }
        var parser = _JSONByteParser(
            base: raw.assumingMemoryBound(to: UInt8.self), count: bytes.count, maxDepth: maxDepth)
        return try parser.parseDocument()
    }

    /// Parses one JSON document (RFC 8259, strict) from `bytes`.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 128) throws(JSONParseError) -> JSONValue {
        // `withUnsafeBytes` cannot forward a typed error, so carry the result out.
        let result: Result<JSONValue, JSONParseError> = bytes.withUnsafeBytes { buffer in
            do throws(JSONParseError) {
                return .success(try parse(bytes: buffer, maxDepth: maxDepth))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}

// MARK: - Implementation

private enum _B {
    static let quote: UInt8 = 0x22  // "
    static let backslash: UInt8 = 0x5C  // \
    static let slash: UInt8 = 0x2F  // /
    static let comma: UInt8 = 0x2C  // ,
    static let colon: UInt8 = 0x3A  // :
    static let lbracket: UInt8 = 0x5B  // [
    static let rbracket: UInt8 = 0x5D  // ]
    static let lbrace: UInt8 = 0x7B  // {
    static let rbrace: UInt8 = 0x7D  // }
    static let minus: UInt8 = 0x2D  // -
    static let plus: UInt8 = 0x2B  // +
    static let dot: UInt8 = 0x2E  // .
    static let zero: UInt8 = 0x30  // 0
    static let nine: UInt8 = 0x39  // 9
    static let lowerE: UInt8 = 0x65  // e
    static let upperE: UInt8 = 0x45  // E
    static let space: UInt8 = 0x20
    static let tab: UInt8 = 0x09
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D
}

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

struct _Member {
    var key: String
    var value: JSONValue
    var offset: Int
}

struct _JSONByteParser {
    let base: UnsafePointer<UInt8>
    let count: Int
    let maxDepth: Int
    var pos: Int = 0
    /// Reused buffer for strings that contain escapes.
    var scratch: [UInt8] = []
    /// Elements of the arrays being parsed (shared by all nesting levels), so each array is
    /// allocated once at its final size.
    var valueStack: [JSONValue] = []
    /// Members of the objects being parsed (shared by all nesting levels), so each dictionary is
    /// created once with the right capacity.
    var memberStack: [_Member] = []

    init(base: UnsafePointer<UInt8>, count: Int, maxDepth: Int) {
        self.base = base
        self.count = count
        self.maxDepth = maxDepth
    }

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        if count >= 3, base[0] == 0xEF, base[1] == 0xBB, base[2] == 0xBF { pos = 3 }
        skipWhitespace()
        if pos == count {
            throw fail(.empty, at: pos, "the input contains no JSON value (only whitespace)")
        }
        let value = try parseValue(depth: 0)
        skipWhitespace()
        if pos != count {
            throw fail(.trailingContent, at: pos, "unexpected \(describe(at: pos)) after the end of the JSON value")
        }
        return value
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while pos < count {
            let b = base[pos]
            if b == _B.space || b == _B.lf || b == _B.cr || b == _B.tab {
                pos += 1
            } else {
                return
            }
        }
    }

    /// Parses the value at `pos` (whitespace already skipped). `depth` is the nesting of the enclosing container.
    mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard pos < count else {
            throw fail(.unexpectedEnd, at: pos, "expected a JSON value, found end of input")
        }
        switch base[pos] {
        case _B.quote:
            return .string(try parseString())
        case _B.lbrace:
            return try parseObject(depth: depth + 1)
        case _B.lbracket:
            return try parseArray(depth: depth + 1)
        case _B.minus, _B.zero..._B.nine:
            return .number(try parseNumber())
        case 0x74:  // t
            try expectLiteral("true")
            return .bool(true)
        case 0x66:  // f
            try expectLiteral("false")
            return .bool(false)
        case 0x6E:  // n
            try expectLiteral("null")
            return .null
        default:
            throw badValueStart()
        }
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let n = literal.utf8CodeUnitCount
        let text = literal.utf8Start
        for k in 1..<n {
            let i = pos + k
            guard i < count else {
                throw fail(.unexpectedEnd, at: i, "expected '\(literal)', found end of input")
            }
            if base[i] != text[k] {
                throw fail(.unexpectedByte(base[i]), at: i, "expected '\(literal)', found \(describe(at: i))")
            }
        }
        pos += n
    }

    // MARK: containers

    mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        if depth > maxDepth {
            throw fail(
                .tooDeep(maxDepth), at: pos, "arrays and objects are nested deeper than the limit of \(maxDepth)")
        }
        pos += 1  // [
        skipWhitespace()
        if pos < count, base[pos] == _B.rbracket {
            pos += 1
            return .array([])
        }
        let stackBase = valueStack.count
        while true {
            let item = try parseValue(depth: depth)
            valueStack.append(item)
            skipWhitespace()
            guard pos < count else {
                throw fail(.unexpectedEnd, at: pos, "expected ',' or ']' after an array element, found end of input")
            }
            let b = base[pos]
            if b == _B.comma {
                pos += 1
                skipWhitespace()
                if pos < count, base[pos] == _B.rbracket {
                    throw fail(.trailingComma, at: pos, "trailing comma before ']' (a value must follow ',')")
                }
                continue
            }
            if b == _B.rbracket {
                pos += 1
                let items = Array(valueStack[stackBase...])
                valueStack.removeSubrange(stackBase...)
                return .array(items)
            }
            throw fail(
                .unexpectedByte(b), at: pos, "expected ',' or ']' after an array element, found \(describe(at: pos))")
        }
    }

    mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        if depth > maxDepth {
            throw fail(
                .tooDeep(maxDepth), at: pos, "arrays and objects are nested deeper than the limit of \(maxDepth)")
        }
        pos += 1  // {
        skipWhitespace()
        if pos < count, base[pos] == _B.rbrace {
            pos += 1
            return .object([:])
        }
        let stackBase = memberStack.count
        while true {
            // whitespace skipped; a key must follow
            guard pos < count else {
                throw fail(.unexpectedEnd, at: pos, "expected a string key, found end of input")
            }
            let keyStart = pos
            let k = base[pos]
            if k != _B.quote {
                if k == 0x27 {
                    throw fail(
                        .unexpectedByte(k), at: pos, "expected a string key in double quotes, found a single quote")
                }
                throw fail(.unexpectedByte(k), at: pos, "expected a string key, found \(describe(at: pos))")
            }
            let key = try parseString()
            skipWhitespace()
            guard pos < count else {
                throw fail(.unexpectedEnd, at: pos, "expected ':' after an object key, found end of input")
            }
            if base[pos] != _B.colon {
                throw fail(
                    .unexpectedByte(base[pos]), at: pos, "expected ':' after an object key, found \(describe(at: pos))")
            }
            pos += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            memberStack.append(_Member(key: key, value: value, offset: keyStart))
            skipWhitespace()
            guard pos < count else {
                throw fail(.unexpectedEnd, at: pos, "expected ',' or '}' after an object member, found end of input")
            }
            let b = base[pos]
            if b == _B.comma {
                pos += 1
                skipWhitespace()
                if pos < count, base[pos] == _B.rbrace {
                    throw fail(.trailingComma, at: pos, "trailing comma before '}' (a member must follow ',')")
                }
                continue
            }
            if b == _B.rbrace {
                pos += 1
                return .object(try makeObject(from: stackBase))
            }
            throw fail(
                .unexpectedByte(b), at: pos, "expected ',' or '}' after an object member, found \(describe(at: pos))")
        }
    }

    /// Builds the dictionary of the members on `memberStack` from `stackBase`, refusing duplicate keys.
    mutating func makeObject(from stackBase: Int) throws(JSONParseError) -> [String: JSONValue] {
        var members = [String: JSONValue](minimumCapacity: memberStack.count - stackBase)
        for k in stackBase..<memberStack.count {
            let member = memberStack[k]
            if members.updateValue(member.value, forKey: member.key) != nil {
                throw fail(
                    .duplicateKey(member.key), at: member.offset,
                    "duplicate key \(_quoteForMessage(member.key)) in an object")
            }
        }
        memberStack.removeSubrange(stackBase...)
        return members
    }

    // MARK: strings

    /// Index of the first byte at or after `i` that is not plain string content
    /// (a quote, a backslash, a byte < 0x20 or a byte >= 0x80), or `count`.
    /// Checks 8 bytes at a time; the lowest flagged byte of each word is exact.
    @inline(__always)
    func scanPlain(from start: Int) -> Int {
        var i = start
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while i &+ 8 <= count {
            let w = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self).littleEndian
            let quotes = w ^ (ones &* 0x22)
            let slashes = w ^ (ones &* 0x5C)
            let flags =
                (w | ((w &- ones &* 0x20) & ~w) | ((quotes &- ones) & ~quotes) | ((slashes &- ones) & ~slashes)) & highs
            if flags != 0 { return i &+ flags.trailingZeroBitCount &>> 3 }
            i &+= 8
        }
        while i < count {
            let b = base[i]
            if b < 0x20 || b >= 0x80 || b == _B.quote || b == _B.backslash { return i }
            i &+= 1
        }
        return i
    }

    /// Parses the string starting at `pos` (which holds the opening quote).
    mutating func parseString() throws(JSONParseError) -> String {
        let start = pos + 1
        var i = start
        while true {
            i = scanPlain(from: i)
            if i >= count { break }
            let b = base[i]
            if b == _B.quote {
                pos = i + 1
                return String(decoding: UnsafeBufferPointer(start: base + start, count: i - start), as: UTF8.self)
            }
            if b == _B.backslash {
                return try parseEscapedString(start: start, firstEscape: i)
            }
            if b < 0x20 {
                throw controlCharacter(at: i)
            }
            i = try utf8SequenceEnd(at: i)
        }
        throw fail(.unexpectedEnd, at: i, "unterminated string (opened at byte \(start - 1)), found end of input")
    }

    /// Slow path: the string has at least one escape; decode into `scratch`.
    mutating func parseEscapedString(start: Int, firstEscape: Int) throws(JSONParseError) -> String {
        scratch.removeAll(keepingCapacity: true)
        var spanStart = start
        var i = firstEscape
        while true {
            i = scanPlain(from: i)
            if i >= count { break }
            let b = base[i]
            if b == _B.quote {
                if i > spanStart {
                    scratch.append(contentsOf: UnsafeBufferPointer(start: base + spanStart, count: i - spanStart))
                }
                pos = i + 1
                return String(decoding: scratch, as: UTF8.self)
            }
            if b == _B.backslash {
                if i > spanStart {
                    scratch.append(contentsOf: UnsafeBufferPointer(start: base + spanStart, count: i - spanStart))
                }
                guard i + 1 < count else {
                    throw fail(.unexpectedEnd, at: i + 1, "unterminated escape sequence, found end of input")
                }
                let e = base[i + 1]
                switch e {
                case _B.quote, _B.backslash, _B.slash: scratch.append(e)
                case 0x62: scratch.append(0x08)  // b
                case 0x66: scratch.append(0x0C)  // f
                case 0x6E: scratch.append(0x0A)  // n
                case 0x72: scratch.append(0x0D)  // r
                case 0x74: scratch.append(0x09)  // t
                case 0x75:  // u
                    let (scalar, next) = try unicodeEscape(at: i)
                    appendUTF8(scalar)
                    i = next
                    spanStart = i
                    continue
                default:
                    throw fail(
                        .invalidEscape, at: i,
                        "invalid escape sequence '\\\(_printable(e))' (allowed: \\\" \\\\ \\/ \\b \\f \\n \\r \\t "
                            + "\\uXXXX)"
                    )
                }
                i += 2
                spanStart = i
                continue
            }
            if b < 0x20 {
                throw controlCharacter(at: i)
            }
            i = try utf8SequenceEnd(at: i)
        }
        throw fail(.unexpectedEnd, at: i, "unterminated string (opened at byte \(start - 1)), found end of input")
    }

    /// Decodes `\uXXXX` (or a `\uXXXX\uXXXX` surrogate pair) at `i` (the backslash). Returns the scalar and the index after it.
    func unicodeEscape(at i: Int) throws(JSONParseError) -> (UInt32, Int) {
        let high = try hex4(escapeAt: i)
        if high & 0xF800 != 0xD800 { return (high, i + 6) }
        if high >= 0xDC00 {
            throw fail(
                .loneSurrogate, at: i, "low surrogate escape \\u\(_hex4(high)) without a preceding high surrogate")
        }
        let j = i + 6
        guard j + 1 < count, base[j] == _B.backslash, base[j + 1] == 0x75 else {
            throw fail(
                .loneSurrogate, at: i,
                "high surrogate escape \\u\(_hex4(high)) is not followed by a low surrogate escape")
        }
        let low = try hex4(escapeAt: j)
        guard low >= 0xDC00 && low <= 0xDFFF else {
            throw fail(
                .loneSurrogate, at: j,
                "high surrogate escape \\u\(_hex4(high)) is followed by \\u\(_hex4(low)), not a low surrogate")
        }
        return (0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00), j + 6)
    }

    /// The four hex digits after the `\u` at `i`.
    func hex4(escapeAt i: Int) throws(JSONParseError) -> UInt32 {
        var value: UInt32 = 0
        for k in 2..<6 {
            guard i + k < count else {
                throw fail(.unexpectedEnd, at: i + k, "incomplete \\u escape, found end of input")
            }
            let c = base[i + k]
            let digit: UInt32
            switch c {
            case 0x30...0x39: digit = UInt32(c &- 0x30)
            case 0x41...0x46: digit = UInt32(c &- 0x41 &+ 10)
            case 0x61...0x66: digit = UInt32(c &- 0x61 &+ 10)
            default:
                throw fail(
                    .invalidUnicodeEscape, at: i,
                    "\\u must be followed by four hex digits, found \(describe(at: i + k))")
            }
            value = value << 4 | digit
        }
        return value
    }

    mutating func appendUTF8(_ v: UInt32) {
        if v < 0x80 {
            scratch.append(UInt8(v))
        } else if v < 0x800 {
            scratch.append(UInt8(0xC0 | (v >> 6)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        } else if v < 0x10000 {
            scratch.append(UInt8(0xE0 | (v >> 12)))
            scratch.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        } else {
            scratch.append(UInt8(0xF0 | (v >> 18)))
            scratch.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (v & 0x3F)))
        }
    }

    /// Validates the multi-byte UTF-8 sequence whose lead byte (>= 0x80) is at `i`; returns the index after it.
    /// Well-formed sequences per Unicode Table 3-7.
    @inline(__always)
    func utf8SequenceEnd(at i: Int) throws(JSONParseError) -> Int {
        let b0 = base[i]
        if b0 < 0xC2 {
            throw invalidUTF8(at: i, b0 < 0xC0 ? "unexpected UTF-8 continuation byte" : "overlong UTF-8 encoding")
        }
        if b0 < 0xE0 {
            guard i + 1 < count, base[i + 1] & 0xC0 == 0x80 else { throw truncatedUTF8(at: i) }
            return i + 2
        }
        if b0 < 0xF0 {
            guard i + 2 < count else { throw truncatedUTF8(at: i) }
            let b1 = base[i + 1]
            let lo: UInt8 = b0 == 0xE0 ? 0xA0 : 0x80
            let hi: UInt8 = b0 == 0xED ? 0x9F : 0xBF
            guard b1 >= lo && b1 <= hi else {
                if b1 & 0xC0 != 0x80 { throw truncatedUTF8(at: i) }
                throw invalidUTF8(
                    at: i, b0 == 0xE0 ? "overlong UTF-8 encoding" : "UTF-8-encoded surrogate (U+D800...U+DFFF)")
            }
            guard base[i + 2] & 0xC0 == 0x80 else { throw truncatedUTF8(at: i) }
            return i + 3
        }
        if b0 < 0xF5 {
            guard i + 3 < count else { throw truncatedUTF8(at: i) }
            let b1 = base[i + 1]
            let lo: UInt8 = b0 == 0xF0 ? 0x90 : 0x80
            let hi: UInt8 = b0 == 0xF4 ? 0x8F : 0xBF
            guard b1 >= lo && b1 <= hi else {
                if b1 & 0xC0 != 0x80 { throw truncatedUTF8(at: i) }
                throw invalidUTF8(at: i, b0 == 0xF0 ? "overlong UTF-8 encoding" : "UTF-8 sequence above U+10FFFF")
            }
            guard base[i + 2] & 0xC0 == 0x80, base[i + 3] & 0xC0 == 0x80 else { throw truncatedUTF8(at: i) }
            return i + 4
        }
        throw invalidUTF8(at: i, "invalid UTF-8 lead byte")
    }

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

private let _hexDigits: [Character] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "A", "B", "C", "D", "E", "F"]

private func _hex2(_ b: UInt8) -> String {
    String([_hexDigits[Int(b >> 4)], _hexDigits[Int(b & 0xF)]])
}

private func _hex4(_ v: UInt32) -> String {
    _hex2(UInt8(truncatingIfNeeded: v >> 8)) + _hex2(UInt8(truncatingIfNeeded: v))
}

/// A byte as shown in a message.
private func _describeByte(_ b: UInt8) -> String {
    if b == 0x27 { return "a single quote" }
    if b > 0x20 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
    if b == 0x20 { return "a space" }
    if b < 0x20 || b == 0x7F { return "control byte 0x\(_hex2(b))" }
    return "byte 0x\(_hex2(b))"
}

/// A printable rendering of one byte for inline use (e.g. after a backslash).
private func _printable(_ b: UInt8) -> String {
    if b >= 0x20 && b < 0x7F { return String(Character(Unicode.Scalar(b))) }
    return "<0x\(_hex2(b))>"
}

/// A string (e.g. a key) in double quotes, escaped, truncated to about 40 bytes.
private func _quoteForMessage(_ s: String) -> String {
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
