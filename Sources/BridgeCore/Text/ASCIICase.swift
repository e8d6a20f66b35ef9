/// ASCII case-insensitive comparisons on UTF-8 bytes, without allocating: the webhook path compares header names
/// (HTTP tokens, always ASCII) this way instead of lowercasing both sides through `lowercased()` or Foundation.
/// `equals` gives the same answer as lowercasing both sides with `lowercased()` and comparing as `String` (text that
/// is not all ASCII takes that slower path); `containsAny` answers nil for such text, and its caller decides.
public enum ASCIICase {
    /// `byte` lowercased when it is an ASCII capital letter, unchanged otherwise.
    @inlinable
    public static func lower(_ byte: UInt8) -> UInt8 { byte &- 0x41 < 26 ? byte | 0x20 : byte }

    /// True when `a` and `b` are equal ignoring case: `a.lowercased() == b.lowercased()`.
    public static func equals(_ a: String, _ b: String) -> Bool {
        var answer = contiguousEquals(a, b)
        if answer == undecided, !(a.utf8.contains { $0 >= 0x80 } || b.utf8.contains { $0 >= 0x80 }) {
            // A bridged or otherwise non-contiguous ASCII string: one copy each, then the same comparison.
            var x = a
            var y = b
            answer = x.withUTF8 { p in y.withUTF8 { q in equalsASCII(p, q) } }
        }
        return answer == undecided ? a.lowercased() == b.lowercased() : answer == 1
    }

    /// 1 equal, 0 unequal, `undecided` for text that is not ASCII or not contiguous.
    static let undecided: Int8 = -1

    static func contiguousEquals(_ a: String, _ b: String) -> Int8 {
        a.utf8.withContiguousStorageIfAvailable { x -> Int8 in
            b.utf8.withContiguousStorageIfAvailable { y -> Int8 in equalsASCII(x, y) } ?? undecided
        } ?? undecided
    }

    /// The byte comparison; `undecided` when either side holds a non-ASCII byte (then Unicode case rules decide).
    static func equalsASCII(_ x: UnsafeBufferPointer<UInt8>, _ y: UnsafeBufferPointer<UInt8>) -> Int8 {
        guard x.count == y.count else {
            // Different lengths are unequal only when both are ASCII ("K", the Kelvin sign, lowercases to "k").
            return isASCII(x) && isASCII(y) ? 0 : undecided
        }
        var equal: Int8 = 1
        var i = 0
        while i < x.count {
            let p = x[i]
            let q = y[i]
            if (p | q) >= 0x80 { return undecided }
            if p != q && lower(p) != lower(q) { equal = 0 }
            i += 1
        }
        return equal
    }

    static func isASCII(_ x: UnsafeBufferPointer<UInt8>) -> Bool {
        var any: UInt8 = 0
        for b in x { any |= b }
        return any < 0x80
    }

    /// True when `text` contains one of `words` ignoring ASCII case, searched byte by byte without allocating;
    /// nil when `text` is not all ASCII (the caller then decides by Unicode rules). Every word must be non-empty
    /// lowercase ASCII.
    public static func containsAny(_ text: String, _ words: [[UInt8]]) -> Bool? {
        if let found = text.utf8.withContiguousStorageIfAvailable({ x -> Bool? in containsAnyASCII(x, words) }) {
            return found
        }
        var copy = text
        return copy.withUTF8 { containsAnyASCII($0, words) }
    }

    /// The byte search; nil when `x` holds a non-ASCII byte.
    static func containsAnyASCII(_ x: UnsafeBufferPointer<UInt8>, _ words: [[UInt8]]) -> Bool? {
        guard isASCII(x) else { return nil }
        for word in words where !word.isEmpty && word.count <= x.count {
            let first = word[0]
            var start = 0
            while start + word.count <= x.count {
                if lower(x[start]) == first {
                    var j = 1
                    while j < word.count, lower(x[start + j]) == word[j] { j += 1 }
                    if j == word.count { return true }
                }
                start += 1
            }
        }
        return false
    }
}
