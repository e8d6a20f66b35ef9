/// Replacing and splitting on UTF-8 bytes, for ASCII text: the template filters `replace` and `split` used
/// Foundation's `replacingOccurrences` and `components(separatedBy:)`, which go through `NSString` for every call.
/// For ASCII text and a non-empty ASCII pattern a byte match is exactly what those find (ASCII has no combining
/// characters); both functions answer nil otherwise, and the caller keeps Foundation for that case. A carriage
/// return counts as not ASCII here: `components(separatedBy:)` keeps CR LF whole (one `Character`), so text or a
/// pattern with a CR is left to Foundation too.
public enum ASCIIText {
    /// `text` with every occurrence of `pattern` (left to right, not overlapping) replaced by `replacement`; nil
    /// when `text` or `pattern` is not ASCII (or holds a CR) or `pattern` is empty.
    public static func replacing(_ text: String, _ pattern: String, with replacement: String) -> String? {
        let t = Array(text.utf8)
        let p = Array(pattern.utf8)
        guard !p.isEmpty, isASCII(t), isASCII(p) else { return nil }
        var out: [UInt8] = []
        var copied = 0
        var i = 0
        while i + p.count <= t.count {
            if t[i] == p[0] && t[i..<(i + p.count)].elementsEqual(p) {
                if out.isEmpty { out.reserveCapacity(t.count + replacement.utf8.count) }
                out.append(contentsOf: t[copied..<i])
                out.append(contentsOf: replacement.utf8)
                i += p.count
                copied = i
            } else {
                i += 1
            }
        }
        if copied == 0 { return text }
        out.append(contentsOf: t[copied...])
        return String(decoding: out, as: UTF8.self)
    }

    /// The pieces of `text` between occurrences of `separator` (empty pieces kept); nil when `text` or
    /// `separator` is not ASCII (or holds a CR) or `separator` is empty.
    public static func split(_ text: String, separator: String) -> [String]? {
        let t = Array(text.utf8)
        let s = Array(separator.utf8)
        guard !s.isEmpty, isASCII(t), isASCII(s) else { return nil }
        var pieces: [String] = []
        var start = 0
        var i = 0
        while i + s.count <= t.count {
            if t[i] == s[0] && t[i..<(i + s.count)].elementsEqual(s) {
                pieces.append(String(decoding: t[start..<i], as: UTF8.self))
                i += s.count
                start = i
            } else {
                i += 1
            }
        }
        pieces.append(String(decoding: t[start...], as: UTF8.self))
        return pieces
    }

    /// ASCII without a carriage return.
    static func isASCII(_ bytes: [UInt8]) -> Bool {
        var any: UInt8 = 0
        var carriageReturn = false
        for b in bytes {
            any |= b
            carriageReturn = carriageReturn || b == 0x0D
        }
        return any < 0x80 && !carriageReturn
    }
}
