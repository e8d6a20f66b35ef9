// JSONIndex.swift — one validating pass over a JSON document that records where each value is, so that a reader
// builds a `JSONValue` only for the values it reads.
//
// The pass (JSONIndex+Builder.swift) accepts and refuses exactly what `JSONValue.parse` does, with the same
// `JSONParseError` (reason, offset, line, column, message): it shares the parser's number, string, UTF-8 and error
// code, and checks in the same order. Instead of a tree of dictionaries it writes a tape: one entry per value in
// document order (an object's entry is followed by its members, each a key entry then the value's entries; an
// array's by its elements), with the value's kind and byte range, a container's member count and the entry after
// its subtree, and a number's `Double` (already computed to check its range).

/// A validated JSON document and the tape of its values; `JSONIndex.Node` names one value.
public final class JSONIndex: Sendable {
    public enum Kind: UInt8, Sendable {
        case null, bool, number, string, array, object
    }

    /// One value of the document (an index into the tape).
    public typealias Node = Int

    struct Entry: Sendable {
        var kind: Kind
        /// Strings: `Entry.escaped` and `Entry.nonASCII`. Booleans: 1 for true.
        var flags: UInt8
        /// Containers: the number of elements or members.
        var count: Int32
        /// The offset of the value's first byte (a string's opening quote).
        var start: Int
        /// The offset after the value's last byte.
        var end: Int
        /// The entry after this value's subtree.
        var next: Int
        /// Numbers: the value.
        var number: Double

        static let escaped: UInt8 = 1
        static let nonASCII: UInt8 = 2
    }

    let bytes: [UInt8]
    let entries: [Entry]

    /// Indexes one JSON document (RFC 8259, strict), refusing exactly what `JSONValue.parse` refuses, with the same
    /// error. The index keeps `bytes` (without copying them).
    public init(_ bytes: [UInt8], maxDepth: Int = 128) throws(JSONParseError) {
        let result: Result<[Entry], JSONParseError> = bytes.withUnsafeBufferPointer { buffer in
            guard let raw = buffer.baseAddress, buffer.count > 0 else {
                return .failure(
                    JSONParseError(
                        reason: .empty, offset: 0, line: 1, column: 1,
                        message: "the input is empty; expected a JSON value"
                    ))
            }
            var parser = _JSONByteParser(base: raw, count: buffer.count, maxDepth: maxDepth)
            do throws(JSONParseError) {
                try parser.indexDocument()
                return .success(parser.tape)
            } catch {
                return .failure(error)
            }
        }
        self.bytes = bytes
        self.entries = try result.get()
    }

    /// The document's top-level value.
    public var root: Node { 0 }

    public func kind(_ node: Node) -> Kind { entries[node].kind }

    /// The number of elements of an array or members of an object; 0 for anything else.
    public func count(_ node: Node) -> Int { Int(entries[node].count) }

    /// The value of `key` in the object `node`; nil when `node` is not an object or has no such key. Keys compare as
    /// Swift strings do, as `JSONValue`'s dictionaries do.
    public func member(_ key: String, in node: Node) -> Node? {
        let object = entries[node]
        guard object.kind == .object else { return nil }
        var k = node + 1
        let end = object.next
        var key = key
        let asciiKey = key.utf8.allSatisfy { $0 < 0x80 }
        while k < end {
            let entry = entries[k]
            let equal: Bool
            if asciiKey && entry.flags == 0 {
                equal = key.withUTF8 { utf8 in
                    bytes.withUnsafeBufferPointer { body in
                        _bytesEqual(utf8, body, start: entry.start + 1, end: entry.end - 1)
                    }
                }
            } else {
                equal = string(k) == key
            }
            if equal { return k + 1 }
            k = entries[k + 1].next
        }
        return nil
    }

    /// Element `i` (0-based) of the array `node`; nil when `node` is not an array or `i` is out of range.
    public func element(_ i: Int, in node: Node) -> Node? {
        let array = entries[node]
        guard array.kind == .array, i >= 0, i < Int(array.count) else { return nil }
        var k = node + 1
        for _ in 0..<i { k = entries[k].next }
        return k
    }

    /// The elements of the array `node`, in order; empty for anything else.
    public func elements(of node: Node) -> [Node] {
        let array = entries[node]
        guard array.kind == .array else { return [] }
        var out: [Node] = []
        out.reserveCapacity(Int(array.count))
        var k = node + 1
        while k < array.next {
            out.append(k)
            k = entries[k].next
        }
        return out
    }

    /// The text of the string `node` (escapes decoded); nil for anything else.
    public func string(_ node: Node) -> String? {
        let entry = entries[node]
        guard entry.kind == .string else { return nil }
        return bytes.withUnsafeBufferPointer { body in decodeString(entry, body) }
    }

    /// The value `node` as a `JSONValue`, equal to what `JSONValue.parse` gives for it (a container with everything
    /// in it).
    public func value(_ node: Node) -> JSONValue {
        bytes.withUnsafeBufferPointer { body in
            var k = node
            return materialize(&k, body)
        }
    }

    private func decodeString(_ entry: Entry, _ body: UnsafeBufferPointer<UInt8>) -> String {
        if entry.flags & Entry.escaped == 0 {
            return String(
                decoding: UnsafeBufferPointer(rebasing: body[(entry.start + 1)..<(entry.end - 1)]), as: UTF8.self)
        }
        var parser = _JSONByteParser(base: body.baseAddress!, count: body.count, maxDepth: 0)
        parser.pos = entry.start
        // Validated when indexed, so this cannot fail.
        return (try? parser.parseString()) ?? ""
    }

    /// Builds the value at `k` and moves `k` past its subtree.
    private func materialize(_ k: inout Int, _ body: UnsafeBufferPointer<UInt8>) -> JSONValue {
        let entry = entries[k]
        k += 1
        switch entry.kind {
        case .null: return .null
        case .bool: return .bool(entry.flags != 0)
        case .number: return .number(entry.number)
        case .string: return .string(decodeString(entry, body))
        case .array:
            var items: [JSONValue] = []
            items.reserveCapacity(Int(entry.count))
            while k < entry.next { items.append(materialize(&k, body)) }
            return .array(items)
        case .object:
            var members = [String: JSONValue](minimumCapacity: Int(entry.count))
            while k < entry.next {
                let key = decodeString(entries[k], body)
                k += 1
                members.updateValue(materialize(&k, body), forKey: key)
            }
            return .object(members)
        }
    }
}

/// True when `key` equals `body[start..<end]`.
@inline(__always)
func _bytesEqual(_ key: UnsafeBufferPointer<UInt8>, _ body: UnsafeBufferPointer<UInt8>, start: Int, end: Int) -> Bool {
    guard key.count == end - start else { return false }
    var i = 0
    while i < key.count {
        if key[i] != body[start + i] { return false }
        i += 1
    }
    return true
}
