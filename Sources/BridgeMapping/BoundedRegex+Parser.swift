/// Reading a pattern into a tree, refusing what the engine does not run.
extension BoundedRegex {
    /// A parsed pattern.
    indirect enum Node: Equatable {
        case empty
        /// One scalar; `caseless` under `(?i)`.
        case scalar(Unicode.Scalar, caseless: Bool)
        /// One scalar of a set: a class, `.`, `\d`...
        case set(ScalarSet)
        case assertion(Assertion)
        case sequence([Node])
        case choice([Node])
        /// `max` nil: no upper bound.
        case repetition(Node, min: Int, max: Int?)
    }

    /// A test of a position that consumes nothing.
    enum Assertion: Equatable {
        /// `^`: the start of the value.
        case start
        /// `$`: the end of the value, or before a line break that ends it (as ICU does).
        case end
        /// `\b`, `\B`.
        case wordBoundary, notWordBoundary
    }

    static let supportedEscapes = #"\d \w \s \D \W \S \b \B \t \n \r \f \v and a backslash before punctuation"#

    struct Parser {
        let s: [Unicode.Scalar]
        var i = 0
        /// Inside `(?i)` or `(?i:...)`.
        var caseless = false

        init(_ s: [Unicode.Scalar]) { self.s = s }

        var peek: Unicode.Scalar? { i < s.count ? s[i] : nil }

        func peek(_ offset: Int) -> Unicode.Scalar? { i + offset < s.count ? s[i + offset] : nil }

        /// The pattern's text from `start` to the current position.
        func text(from start: Int) -> String {
            var out = ""
            out.unicodeScalars.append(contentsOf: s[start..<min(i, s.count)])
            return out
        }

        mutating func parse() throws -> Node {
            let node = try choice()
            if i < s.count { throw Refusal("has an unbalanced ')'") }
            return node
        }

        mutating func choice() throws -> Node {
            var branches = [try sequence()]
            while peek == "|" {
                i += 1
                branches.append(try sequence())
            }
            return branches.count == 1 ? branches[0] : .choice(branches)
        }

        mutating func sequence() throws -> Node {
            var items: [Node] = []
            while let c = peek, c != "|", c != ")" {
                let start = i
                guard let atom = try atom() else { continue }  // a flag group such as (?i)
                if let (min, max) = try quantifier(after: start) {
                    if case .assertion = atom, s[start] != "(" {
                        throw Refusal("repeats an anchor ('\(text(from: start))'), which matches no character")
                    }
                    items.append(.repetition(atom, min: min, max: max))
                } else {
                    items.append(atom)
                }
            }
            return items.isEmpty ? .empty : items.count == 1 ? items[0] : .sequence(items)
        }

        /// Reads a quantifier after the atom that starts at `start`: (min, max), or nil when there is none.
        mutating func quantifier(after start: Int) throws -> (Int, Int?)? {
            guard let c = peek else { return nil }
            var result: (Int, Int?)
            switch c {
            case "*":
                i += 1
                result = (0, nil)
            case "+":
                i += 1
                result = (1, nil)
            case "?":
                i += 1
                result = (0, 1)
            case "{": result = try count()
            default: return nil
            }
            if peek == "?" {
                i += 1  // lazy: the same values match
            } else if peek == "+" {
                i += 1
                throw Refusal(
                    "uses a possessive quantifier ('\(text(from: start))'), which rule files do not support; "
                        + "drop the last '+'")
            }
            if let c = peek, c == "*" || c == "+" || c == "?" || c == "{" {
                i += 1
                throw Refusal(
                    "repeats a repetition ('\(text(from: start))'); put the repeated part in a group, as (a*)*")
            }
            return result
        }

        /// `{m}`, `{m,}`, `{m,n}`.
        mutating func count() throws -> (Int, Int?) {
            let start = i
            i += 1
            func number() -> Int? {
                var n = 0
                var digits = 0
                while let d = peek, ("0"..."9").contains(d) {
                    n = Swift.min(n * 10 + Int(d.value - 48), 1_000_000)
                    digits += 1
                    i += 1
                }
                return digits > 0 ? n : nil
            }
            let low = number()
            var high = low
            if peek == "," {
                i += 1
                high = number()
            }
            guard let low, peek == "}" else {
                i = start
                throw Refusal("has a '{' that is not a count ({m}, {m,} or {m,n}); write \\{ for the character")
            }
            i += 1
            if low > BoundedRegex.maxCount || (high ?? 0) > BoundedRegex.maxCount {
                throw Refusal("counts a repetition above \(BoundedRegex.maxCount)")
            }
            if let high, high < low {
                throw Refusal("has a count ('\(text(from: start))') whose minimum is above its maximum")
            }
            return (low, high)
        }

        /// One atom, or nil after a flag group (`(?i)`), which changes what follows it.
        mutating func atom() throws -> Node? {
            let c = s[i]
            switch c {
            case "(": return try group()
            case "[": return .set(try charClass())
            case "\\": return try escape()
            case ".":
                i += 1
                return .set(ScalarSet(classes: [.init(kind: .lineBreak, negated: false)], negated: true))
            case "^":
                i += 1
                return .assertion(.start)
            case "$":
                i += 1
                return .assertion(.end)
            case "*", "+", "?":
                i += 1
                throw Refusal("has a repetition ('\(c)') with nothing to repeat")
            case "{":
                throw Refusal("has a '{' that is not a count after something to repeat; write \\{ for the character")
            default:
                i += 1
                return .scalar(c, caseless: caseless)
            }
        }

        mutating func group() throws -> Node? {
            let start = i
            i += 1
            let saved = caseless
            if peek == "?" {
                i += 1
                switch peek {
                case ":": i += 1
                case "=", "!":
                    i += 1
                    throw Refusal("uses look-around ('\(text(from: start))'), which rule files do not support")
                case "<" where peek(1) == "=" || peek(1) == "!":
                    i += 2
                    throw Refusal("uses look-around ('\(text(from: start))'), which rule files do not support")
                case "<", "P", "'":
                    i += 1
                    throw Refusal(
                        "uses a named group ('\(text(from: start))'), which rule files do not support; write (?:...)")
                case ">":
                    i += 1
                    throw Refusal("uses an atomic group ('(?>'), which rule files do not support; write (?:...)")
                case "#":
                    i += 1
                    throw Refusal("uses a comment group ('(?#'), which rule files do not support")
                default:
                    // Flags: (?i) for the rest of the enclosing group, (?i:...) for this group.
                    var flags = ""
                    while let f = peek, f != ")", f != ":" {
                        flags.unicodeScalars.append(f)
                        i += 1
                    }
                    guard let end = peek else { throw Refusal("has an unclosed '('") }
                    i += 1
                    guard flags == "i" else {
                        throw Refusal(
                            "uses the flag group '\(text(from: start))', which rule files do not support; "
                                + "the only flag is i, as (?i) or (?i:...)")
                    }
                    caseless = true
                    // (?i) holds until the enclosing group ends; (?i:...) until this one does.
                    if end == ")" { return nil }
                }
            }
            let inner = try choice()
            guard peek == ")" else { throw Refusal("has an unclosed '('") }
            i += 1
            caseless = saved
            return inner
        }

        /// `\e` outside a class.
        mutating func escape() throws -> Node {
            let start = i
            i += 1
            guard let e = peek else { throw Refusal("ends with a lone backslash") }
            i += 1
            switch e {
            case "b": return .assertion(.wordBoundary)
            case "B": return .assertion(.notWordBoundary)
            default:
                switch try escapeItem(e, start: start) {
                case .scalar(let c): return .scalar(c, caseless: caseless)
                case .class(let item): return .set(ScalarSet(classes: [item], caseless: caseless))
                }
            }
        }

        enum EscapeItem {
            case scalar(Unicode.Scalar)
            case `class`(ScalarSet.ClassItem)
        }

        /// The meaning of `\e`, inside or outside a class (`\b`, `\B` are handled before, outside).
        func escapeItem(_ e: Unicode.Scalar, start: Int) throws -> EscapeItem {
            switch e {
            case "d": return .class(.init(kind: .digit, negated: false))
            case "D": return .class(.init(kind: .digit, negated: true))
            case "w": return .class(.init(kind: .word, negated: false))
            case "W": return .class(.init(kind: .word, negated: true))
            case "s": return .class(.init(kind: .space, negated: false))
            case "S": return .class(.init(kind: .space, negated: true))
            case "t": return .scalar("\t")
            case "n": return .scalar("\n")
            case "r": return .scalar("\r")
            case "f": return .scalar("\u{0C}")
            case "v": return .scalar("\u{0B}")
            case "1"..."9", "k":
                throw Refusal("uses a backreference ('\(text(from: start))'), which rule files do not support")
            default:
                if e.isASCII, !e.properties.isAlphabetic, !("0"..."9").contains(e) { return .scalar(e) }
                if !e.isASCII { return .scalar(e) }
                throw Refusal(
                    "uses the escape '\(text(from: start))', which rule files do not support "
                        + "(they support \(BoundedRegex.supportedEscapes))")
            }
        }

        /// `[...]`, `[^...]`.
        mutating func charClass() throws -> ScalarSet {
            var set = ScalarSet(caseless: caseless)
            i += 1
            if peek == "^" {
                set.negated = true
                i += 1
            }
            var first = true
            while true {
                guard let c = peek else { throw Refusal("has an unclosed '['") }
                if c == "]", !first {
                    i += 1
                    return set
                }
                first = false
                let start = i
                if c == "[" {
                    throw Refusal(
                        "has a '[' inside a character class (a nested class, [:name:] or a set operation), which "
                            + "rule files do not support; write \\[ for the character")
                }
                if (c == "&" || c == "-") && peek(1) == c && !(c == "-" && peek(2) == "]") {
                    throw Refusal(
                        "has '\(c)\(c)' in a character class, a set operation that rule files do not support; "
                            + "write \\\(c) for the character")
                }
                let low = try classItem()
                guard case .scalar(let lo) = low else {
                    if case .class(let item) = low { set.classes.append(item) }
                    continue
                }
                if peek == "-", let next = peek(1), next != "]" {
                    i += 1
                    guard case .scalar(let hi) = try classItem() else {
                        throw Refusal("has a range ('\(text(from: start))') that ends at a class, not a character")
                    }
                    guard lo <= hi else {
                        throw Refusal("has a range ('\(text(from: start))') whose ends are in the wrong order")
                    }
                    set.ranges.append(lo...hi)
                } else {
                    set.ranges.append(lo...lo)
                }
            }
        }

        /// One character or escape inside a class.
        mutating func classItem() throws -> EscapeItem {
            let start = i
            let c = s[i]
            i += 1
            guard c == "\\" else { return .scalar(c) }
            guard let e = peek else { throw Refusal("ends with a lone backslash") }
            i += 1
            if e == "b" || e == "B" {
                throw Refusal(
                    "uses '\(text(from: start))' inside a character class, which rule files do not support")
            }
            return try escapeItem(e, start: start)
        }
    }
}
