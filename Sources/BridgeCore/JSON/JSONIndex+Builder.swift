// JSONIndex+Builder.swift — the validating pass that writes `JSONIndex`'s tape.
//
// It mirrors `_JSONByteParser.parseDocument` (JSONParser.swift) step for step, with the same checks in the same order
// and the same number, string and error code, so that it refuses the same inputs with the same error. Strings are
// validated without being built; a duplicate key is refused when its object closes, as the parser does, comparing
// keys as Swift strings (by their bytes when every key of the object is ASCII without escapes, where that is the
// same thing).

extension _JSONByteParser {
    mutating func indexDocument() throws(JSONParseError) {
        tape.reserveCapacity(max(16, count / 16))
        // The keys of the open objects: reserved once, as it would otherwise grow by doubling from empty (about six
        // allocations for a 9 KB GitHub body, whose largest object has 78 keys).
        keyStack.reserveCapacity(max(16, min(count / 64, 256)))
        if count >= 3, base[0] == 0xEF, base[1] == 0xBB, base[2] == 0xBF { pos = 3 }
        skipWhitespace()
        if pos == count {
            throw fail(.empty, at: pos, "the input contains no JSON value (only whitespace)")
        }
        try indexValue(depth: 0)
        skipWhitespace()
        if pos != count {
            throw fail(.trailingContent, at: pos, "unexpected \(describe(at: pos)) after the end of the JSON value")
        }
    }

    @inline(__always)
    mutating func appendScalar(_ kind: JSONIndex.Kind, flags: UInt8 = 0, start: Int, number: Double = 0) {
        tape.append(
            JSONIndex.Entry(
                kind: kind, flags: flags, count: 0, start: start, end: pos, next: tape.count + 1, number: number))
    }

    /// Indexes the value at `pos` (whitespace already skipped). `depth` is the nesting of the enclosing container.
    mutating func indexValue(depth: Int) throws(JSONParseError) {
        guard pos < count else {
            throw fail(.unexpectedEnd, at: pos, "expected a JSON value, found end of input")
        }
        let start = pos
        switch base[pos] {
        case _B.quote:
            let flags = try skipString()
            appendScalar(.string, flags: flags, start: start)
        case _B.lbrace:
            try indexObject(depth: depth + 1)
        case _B.lbracket:
            try indexArray(depth: depth + 1)
        case _B.minus, _B.zero..._B.nine:
            let n = try parseNumber()
            appendScalar(.number, start: start, number: n)
        case 0x74:  // t
            try expectLiteral("true")
            appendScalar(.bool, flags: 1, start: start)
        case 0x66:  // f
            try expectLiteral("false")
            appendScalar(.bool, start: start)
        case 0x6E:  // n
            try expectLiteral("null")
            appendScalar(.null, start: start)
        default:
            throw badValueStart()
        }
    }

    /// Validates the string at `pos` (the opening quote) as `parseString` does, without building it; returns its
    /// flags (`JSONIndex.Entry.escaped`, `.nonASCII`).
    mutating func skipString() throws(JSONParseError) -> UInt8 {
        let start = pos + 1
        var i = start
        var flags: UInt8 = 0
        while true {
            i = scanPlain(from: i)
            if i >= count { break }
            let b = base[i]
            if b == _B.quote {
                pos = i + 1
                return flags
            }
            if b == _B.backslash {
                flags |= JSONIndex.Entry.escaped
                break
            }
            if b < 0x20 {
                throw controlCharacter(at: i)
            }
            flags |= JSONIndex.Entry.nonASCII
            i = try utf8SequenceEnd(at: i)
        }
        if flags & JSONIndex.Entry.escaped == 0 {
            throw fail(.unexpectedEnd, at: i, "unterminated string (opened at byte \(start - 1)), found end of input")
        }
        // As `parseEscapedString`.
        while true {
            i = scanPlain(from: i)
            if i >= count { break }
            let b = base[i]
            if b == _B.quote {
                pos = i + 1
                return flags
            }
            if b == _B.backslash {
                guard i + 1 < count else {
                    throw fail(.unexpectedEnd, at: i + 1, "unterminated escape sequence, found end of input")
                }
                switch base[i + 1] {
                case _B.quote, _B.backslash, _B.slash, 0x62, 0x66, 0x6E, 0x72, 0x74:  // " \ / b f n r t
                    i += 2
                case 0x75:  // u
                    i = try unicodeEscape(at: i).1
                default:
                    throw invalidEscape(at: i)
                }
                continue
            }
            if b < 0x20 {
                throw controlCharacter(at: i)
            }
            flags |= JSONIndex.Entry.nonASCII
            i = try utf8SequenceEnd(at: i)
        }
        throw fail(.unexpectedEnd, at: i, "unterminated string (opened at byte \(start - 1)), found end of input")
    }

    /// Appends a container's entry; `close` fills in its end, count and next.
    @inline(__always)
    mutating func openContainer(_ kind: JSONIndex.Kind) -> Int {
        let me = tape.count
        tape.append(JSONIndex.Entry(kind: kind, flags: 0, count: 0, start: pos, end: 0, next: 0, number: 0))
        return me
    }

    @inline(__always)
    mutating func close(_ me: Int, count n: Int) {
        tape[me].end = pos
        tape[me].count = Int32(truncatingIfNeeded: n)
        tape[me].next = tape.count
    }

    mutating func indexArray(depth: Int) throws(JSONParseError) {
        if depth > maxDepth {
            throw fail(
                .tooDeep(maxDepth), at: pos, "arrays and objects are nested deeper than the limit of \(maxDepth)")
        }
        let me = openContainer(.array)
        pos += 1  // [
        skipWhitespace()
        if pos < count, base[pos] == _B.rbracket {
            pos += 1
            close(me, count: 0)
            return
        }
        var n = 0
        while true {
            try indexValue(depth: depth)
            n += 1
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
                close(me, count: n)
                return
            }
            throw fail(
                .unexpectedByte(b), at: pos, "expected ',' or ']' after an array element, found \(describe(at: pos))")
        }
    }

    mutating func indexObject(depth: Int) throws(JSONParseError) {
        if depth > maxDepth {
            throw fail(
                .tooDeep(maxDepth), at: pos, "arrays and objects are nested deeper than the limit of \(maxDepth)")
        }
        let me = openContainer(.object)
        pos += 1  // {
        skipWhitespace()
        if pos < count, base[pos] == _B.rbrace {
            pos += 1
            close(me, count: 0)
            return
        }
        let stackBase = keyStack.count
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
            keyStack.append(tape.count)
            let flags = try skipString()
            appendScalar(.string, flags: flags, start: keyStart)
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
            try indexValue(depth: depth)
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
                try checkDuplicateKeys(from: stackBase)
                close(me, count: keyStack.count - stackBase)
                keyStack.removeSubrange(stackBase...)
                return
            }
            throw fail(
                .unexpectedByte(b), at: pos, "expected ',' or '}' after an object member, found \(describe(at: pos))")
        }
    }

    // MARK: duplicate keys

    /// The key of the entry `k` as `parseString` builds it.
    mutating func keyString(_ k: Int) -> String {
        let entry = tape[k]
        if entry.flags & JSONIndex.Entry.escaped == 0 {
            return String(
                decoding: UnsafeBufferPointer(start: base + entry.start + 1, count: entry.end - entry.start - 2),
                as: UTF8.self)
        }
        let saved = pos
        pos = entry.start
        let s = (try? parseString()) ?? ""  // validated already
        pos = saved
        return s
    }

    @inline(__always)
    func keyBytesEqual(_ a: Int, _ b: Int) -> Bool {
        let x = tape[a]
        let y = tape[b]
        let n = x.end - x.start
        guard n == y.end - y.start else { return false }
        var i = 1
        while i < n - 1 {
            if base[x.start + i] != base[y.start + i] { return false }
            i += 1
        }
        return true
    }

    @inline(__always)
    func keyHash(_ k: Int) -> UInt64 {
        let entry = tape[k]
        let first = entry.start + 1
        let n = entry.end - 1 - first
        var h = UInt64(truncatingIfNeeded: n) &* 0x9E37_79B9_7F4A_7C15
        if n >= 8 {
            // The first and the last eight bytes (keys often share a prefix or a suffix, not both).
            let a = UnsafeRawPointer(base + first).loadUnaligned(as: UInt64.self)
            let b = UnsafeRawPointer(base + first + n - 8).loadUnaligned(as: UInt64.self)
            h ^= a &* 0xFF51_AFD7_ED55_8CCD
            h = (h ^ (h >> 29)) &+ b &* 0xC4CE_B9FE_1A85_EC53
        } else {
            var i = first
            while i < first + n {
                h = (h ^ UInt64(base[i])) &* 0x100_0000_01B3
                i += 1
            }
        }
        return h ^ (h >> 32)
    }

    /// Refuses the first member (in order) whose key equals an earlier member's, as the parser's dictionary does.
    mutating func checkDuplicateKeys(from stackBase: Int) throws(JSONParseError) {
        let n = keyStack.count - stackBase
        if n < 2 { return }
        var plain = true
        for s in stackBase..<keyStack.count where tape[keyStack[s]].flags != 0 {
            plain = false
            break
        }
        if !plain {
            var seen = Set<String>(minimumCapacity: n)
            for s in stackBase..<keyStack.count {
                let key = keyString(keyStack[s])
                if !seen.insert(key).inserted { throw duplicateKey(key, entry: keyStack[s]) }
            }
            return
        }
        if n <= 8 {
            for s in (stackBase + 1)..<keyStack.count {
                for r in stackBase..<s where keyBytesEqual(keyStack[r], keyStack[s]) {
                    throw duplicateKey(keyString(keyStack[s]), entry: keyStack[s])
                }
            }
            return
        }
        var size = 16
        while size < 2 * n { size <<= 1 }
        if keyTable.count < size {
            keyTable = [Int32](repeating: 0, count: size)
        } else {
            for t in 0..<size { keyTable[t] = 0 }
        }
        let mask = size - 1
        for s in stackBase..<keyStack.count {
            let k = keyStack[s]
            var slot = Int(truncatingIfNeeded: keyHash(k)) & mask
            while true {
                let other = Int(keyTable[slot])
                if other == 0 {
                    keyTable[slot] = Int32(truncatingIfNeeded: k + 1)
                    break
                }
                if keyBytesEqual(other - 1, k) { throw duplicateKey(keyString(k), entry: k) }
                slot = (slot + 1) & mask
            }
        }
    }

    @inline(never)
    func duplicateKey(_ key: String, entry: Int) -> JSONParseError {
        fail(.duplicateKey(key), at: tape[entry].start, "duplicate key \(_quoteForMessage(key)) in an object")
    }
}
