import BridgeCore
import Foundation

/// A regular expression with bounded cost: patterns are limited in length and checked at load time, and a value
/// is matched on at most `maxInput` characters, so a hostile payload cannot make a rule run for long.
///
/// The check (`BoundedRegex.Shape`) reads the pattern the way the engine does (escapes, character classes, groups)
/// and refuses what makes a backtracking engine take exponential time: a repetition of a group that itself repeats
/// or chooses (`(a+)+`, `((ab)*)*c`, `(a|aa)+$`, `(a?)*`), backreferences and look-around. What is left backtracks
/// at most polynomially on the `maxInput` characters it is given.
public struct BoundedRegex: @unchecked Sendable {
    public static let maxPattern = 512
    public static let maxInput = 4096
    /// The largest bound of a counted repetition (`{n,m}`).
    public static let maxCount = 100

    public let pattern: String
    let regex: NSRegularExpression

    public init(_ pattern: String) throws {
        guard pattern.count <= BoundedRegex.maxPattern else {
            throw PathError("regex is longer than \(BoundedRegex.maxPattern) characters")
        }
        if let refusal = Shape.refusal(pattern) {
            throw PathError("regex '\(pattern)' \(refusal)")
        }
        do {
            regex = try NSRegularExpression(pattern: pattern)
        } catch {
            throw PathError("invalid regex '\(pattern)'")
        }
        self.pattern = pattern
    }

    public func matches(_ text: String) -> Bool {
        let subject = text.count > BoundedRegex.maxInput ? String(text.prefix(BoundedRegex.maxInput)) : text
        let range = NSRange(subject.startIndex..<subject.endIndex, in: subject)
        return regex.firstMatch(in: subject, range: range) != nil
    }

    /// A reading of a pattern's structure, enough to find the shapes that backtrack without bound.
    enum Shape {
        /// Why `pattern` is refused (the end of a sentence starting with the pattern), or nil.
        static func refusal(_ pattern: String) -> String? {
            var parser = Parser(Array(pattern.unicodeScalars))
            do {
                _ = try parser.alternation()
                if parser.i < parser.s.count { return "has an unbalanced ')'" }
                return nil
            } catch let error as Refusal {
                return error.text
            } catch { return "cannot be read" }
        }

        struct Refusal: Error { var text: String }

        /// What a sub-pattern contains: a repetition, a choice.
        struct Info {
            var repeats = false
            var chooses = false
            mutating func add(_ other: Info) {
                repeats = repeats || other.repeats
                chooses = chooses || other.chooses
            }
        }

        struct Parser {
            let s: [Unicode.Scalar]
            var i = 0
            init(_ s: [Unicode.Scalar]) { self.s = s }

            var peek: Unicode.Scalar? { i < s.count ? s[i] : nil }

            mutating func alternation() throws -> Info {
                var info = try sequence()
                while peek == "|" {
                    i += 1
                    info.add(try sequence())
                    info.chooses = true
                }
                return info
            }

            mutating func sequence() throws -> Info {
                var info = Info()
                while let c = peek, c != "|", c != ")" {
                    var atom = try self.atom()
                    if let (unbounded, max) = try quantifier() {
                        if unbounded || max > 1, atom.repeats || atom.chooses {
                            throw Refusal(
                                text:
                                    "repeats a group that itself repeats or chooses between alternatives (as "
                                    + "(a+)+ or (a|aa)+ do), which can take exponential time; write it without the "
                                    + "nesting, with a character class or the repetition spelled out")
                        }
                        atom.repeats = true
                    }
                    info.add(atom)
                }
                return info
            }

            /// Reads a quantifier after an atom: (unbounded, upper bound), or nil when there is none.
            mutating func quantifier() throws -> (Bool, Int)? {
                guard let c = peek else { return nil }
                var result: (Bool, Int)
                switch c {
                case "*", "+":
                    i += 1
                    result = (true, Int.max)
                case "?":
                    i += 1
                    result = (false, 1)
                case "{":
                    guard let counted = try counted() else { return nil }
                    result = counted
                default: return nil
                }
                if peek == "?" || peek == "+" { i += 1 }  // lazy or possessive: the same shape
                return result
            }

            /// `{n}`, `{n,}`, `{n,m}`; nil (a literal brace) when it is not one.
            mutating func counted() throws -> (Bool, Int)? {
                var j = i + 1
                func number() -> Int? {
                    var n = 0
                    var digits = 0
                    while j < s.count, let d = Int(String(s[j])), s[j].isASCII {
                        n = min(n * 10 + d, 1_000_000)
                        digits += 1
                        j += 1
                    }
                    return digits > 0 ? n : nil
                }
                guard let low = number() else { return nil }
                var high: Int? = low
                if j < s.count, s[j] == "," {
                    j += 1
                    high = number()
                }
                guard j < s.count, s[j] == "}" else { return nil }
                i = j + 1
                if low > BoundedRegex.maxCount || (high ?? 0) > BoundedRegex.maxCount {
                    throw Refusal(text: "counts a repetition above \(BoundedRegex.maxCount)")
                }
                return high.map { (false, $0) } ?? (true, Int.max)
            }

            mutating func atom() throws -> Info {
                let c = s[i]
                switch c {
                case "(":
                    i += 1
                    if peek == "?" {
                        let next = i + 1 < s.count ? s[i + 1] : " "
                        if next == "=" || next == "!"
                            || next == "<" && i + 2 < s.count
                                && (s[i + 2] == "=" || s[i + 2] == "!")
                        {
                            throw Refusal(text: "uses look-around, which this bridge does not run")
                        }
                        // (?:...), (?i), (?i:...), (?<name>...): skip to the group's body.
                        i += 1
                        if peek == "<" {
                            while let d = peek, d != ">" { i += 1 }
                        }
                        while let d = peek, d != ":", d != ")", d != ">" { i += 1 }
                        if peek == ")" {  // a flag group such as (?i): no body
                            i += 1
                            return Info()
                        }
                        i += 1
                    }
                    let inner = try alternation()
                    guard peek == ")" else { throw Refusal(text: "has an unclosed '('") }
                    i += 1
                    return inner
                case "[":
                    try skipClass()
                    return Info()
                case "\\":
                    i += 1
                    guard let e = peek else { throw Refusal(text: "ends with a lone backslash") }
                    if e.properties.numericType != nil && e != "0" || e == "k" {
                        throw Refusal(text: "uses a backreference, which can take exponential time")
                    }
                    i += 1
                    if e == "p" || e == "P" || e == "x" || e == "N", peek == "{" {
                        while let d = peek, d != "}" { i += 1 }
                        i += 1
                    } else if e == "Q" {
                        while i < s.count, !(s[i] == "\\" && i + 1 < s.count && s[i + 1] == "E") { i += 1 }
                        i = min(i + 2, s.count)
                    }
                    return Info()
                case "*", "+", "?":
                    throw Refusal(text: "has a repetition with nothing to repeat")
                default:
                    i += 1
                    return Info()
                }
            }

            mutating func skipClass() throws {
                i += 1
                if peek == "^" { i += 1 }
                if peek == "]" { i += 1 }
                var depth = 1
                while let c = peek {
                    i += 1
                    if c == "\\" {
                        i += 1
                    } else if c == "[" {
                        depth += 1
                    } else if c == "]" {
                        depth -= 1
                        if depth == 0 { return }
                    }
                }
                throw Refusal(text: "has an unclosed '['")
            }
        }
    }
}
