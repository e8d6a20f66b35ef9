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

enum _B {
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
    /// The tape `JSONIndex` builds (JSONIndex+Builder.swift); unused by the tree parser.
    var tape: [JSONIndex.Entry] = []
    /// The key entries of the objects being indexed (shared by all nesting levels).
    var keyStack: [Int] = []
    /// Open-addressing table for the duplicate-key check of large objects while indexing (entry index + 1, 0 empty).
    var keyTable: [Int32] = []

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
}
