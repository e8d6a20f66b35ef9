// JSONParser+Strings.swift — the string scanner of `_JSONByteParser`: plain runs, escapes, UTF-8 checks.

extension _JSONByteParser {
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
                    throw invalidEscape(at: i)
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

    @inline(never)
    func invalidEscape(at i: Int) -> JSONParseError {
        fail(
            .invalidEscape, at: i,
            "invalid escape sequence '\\\(_printable(base[i + 1]))' (allowed: \\\" \\\\ \\/ \\b \\f \\n \\r \\t "
                + "\\uXXXX)"
        )
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
}
