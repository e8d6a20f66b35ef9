import Foundation
import Testing

@testable import BridgeCore
@testable import BridgeMapping

/// Issue 18, point 10: a regular expression in a rule file either runs in linear time or is refused by the loader
/// (and so by `check`) at its file, line and column. The bridge's own engine runs every accepted pattern in time
/// linear in the value's length; NSRegularExpression (ICU, which rule files used before) is only the oracle here.
@Suite("Bounded regular expressions")
struct BoundedRegexTests {
    static func ruleFile(_ pattern: String) -> String {
        let quoted = pattern.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return """
            source: github
            verify:
              preset: github
              secrets: ["${TEST_WEBHOOK_SECRET}"]
            rules:
              - name: deploy
                when:
                  payload.ref: { regex: "\(quoted)" }
                event:
                  type: deploy
            """
    }

    /// Whether ICU finds `pattern` in `text`: the meaning rule files had before the bridge ran its own engine.
    static func icu(_ pattern: String, _ text: String) throws -> Bool {
        let regex = try NSRegularExpression(pattern: pattern)
        return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// Runs `regex` on all of `text` (no `maxInput` cut) and returns whether it matched and the steps it took.
    static func run(_ regex: BoundedRegex, _ text: String) -> (Bool, Int) {
        var steps = 0
        let matched = regex.program.run(Array(text.unicodeScalars), steps: &steps)
        return (matched, steps)
    }

    // MARK: Meaning

    static let table: [(String, String, Bool)] = [
        ("(?i)deploy", "Deploy production", true), ("(?i)deploy", "release", false),
        ("^(Deploy|Promote)", "Promote v2", true), ("^(Deploy|Promote)", "Rollback", false),
        (#"^v[0-9]+\."#, "v12.1", true), (#"^v[0-9]+\."#, "v12", false), ("(?i)rolling back", "ROLLING BACK x", true),
        ("[a-z]+(-[a-z]+)?$", "web-api", true), ("^[a-z]+(-[a-z]+)?$", "web-API", false),
        (#"\d{1,3}"#, "x12", true), (#"^\d{2,3}$"#, "1234", false), (#"^\d{2,3}$"#, "123", true),
        ("a{2,5}b", "aab", true), ("a{2,5}b", "ab", false), ("^a{3}$", "aaa", true), ("^a{3}$", "aaaa", false),
        ("^a{2,}$", "a", false), ("^a{2,}$", "aaaaa", true), ("^(ab){0,2}c$", "ababc", true),
        ("^(ab){0,2}c$", "abababc", false), ("(?:prod|production)-[0-9]+", "production-12", true),
        ("[^a-c]", "abc", false), ("[^a-c]", "abcd", true), (#"\w+@\w+\.com"#, "mail bob@corp.com", true),
        (#"^\S+$"#, "a b", false), (#"^\s*$"#, " \t", true), (#"\bcat\b"#, "a cat sat", true),
        (#"\bcat\b"#, "concat", false), (#"\Bcat"#, "concat", true), ("a.c", "a\nc", false), ("a.c", "abc", true),
        ("^$", "", true), ("^$", "\n", true), ("a$", "a\n", true), ("a$", "a\n\n", false), ("a$", "a\r\n", true),
        ("^b", "a\nb", false), ("(?i)^[a-f]+$", "DeadBeef", true), ("(?i:a)b", "AB", false), ("(?i:a)b", "Ab", true),
        ("a(?i)b|c", "aC", true), ("((?i)a)b", "AB", false),
        ("(?i)k", "\u{212A}", true), ("^.$", "é", true), ("^.$", "e\u{301}", false), (#"^\d$"#, "٣", true),
        (#"[\]\-]"#, "-", true), ("[]a]", "]", true), ("[a-]", "-", true), (#"\(a+\)+"#, "(aa)", true),
        ("[(a+)+]", "+", true), ("a*?b", "aab", true), ("a+?", "b", false), ("a??b", "b", true),
        ("a|", "b", true), ("()", "", true), ("x*", "", true), (#"\t\n"#, "\t\n", true),
        ("((a+))+", "aaaa", true), ("(a|aa)+$", "aaaab", false), ("((ab)*)*c", "ababc", true),
    ]

    @Test func theTableMatchesAsICUDoes() throws {
        for (pattern, text, expected) in Self.table {
            let regex = try BoundedRegex(pattern)
            #expect(regex.matches(text) == expected, "/\(pattern)/ on \(text.debugDescription)")
            #expect(try Self.icu(pattern, text) == expected, "ICU: /\(pattern)/ on \(text.debugDescription)")
        }
        // The one documented difference: case folding is one scalar to one, so ß is not ss (ICU folds it to ss).
        #expect(try !BoundedRegex("(?i)straße").matches("STRASSE"))
        #expect(try BoundedRegex("(?i)STRAẞE").matches("straße"))
    }

    /// A small property test: random patterns of the supported syntax over a small alphabet, each run on random
    /// short values, agree with ICU. The seed is fixed, so a failure replays; the message names the pattern.
    @Test func randomPatternsAgreeWithICU() throws {
        var random = SeededRandom(seed: 18)
        var compared = 0
        for _ in 0..<600 {
            let pattern = RandomPattern.make(&random)
            let regex = try BoundedRegex(pattern)
            for _ in 0..<25 {
                let length = Int(random.next() % 9)
                let alphabet: [Unicode.Scalar] = ["a", "b", "c", "A", "B", "1", " ", "-", "\n", "é"]
                var text = ""
                for _ in 0..<length { text.unicodeScalars.append(alphabet[Int(random.next() % 10)]) }
                let expected = try Self.icu(pattern, text)
                #expect(
                    regex.matches(text) == expected, "/\(pattern)/ on \(text.debugDescription): ICU says \(expected)")
                compared += 1
            }
        }
        #expect(compared == 15_000)
    }

    // MARK: Linear time

    /// The three patterns of the issue, and two more that make a backtracking engine take polynomial or
    /// exponential time, on values of 10,000 and 100,000 scalars that they do not match (or match only at the end).
    static let pathological: [(pattern: String, unit: String, tail: String, matches: Bool)] = [
        ("((a+))+", "a", "", true), ("((a+))+b", "a", "", false), ("(a|aa)+$", "a", "b", false),
        ("((ab)*)*c", "ab", "", false), ("a*a*a*b", "a", "", false), ("(x+x+)+y", "x", "", false),
        ("(a?){50}a{50}", "a", "", true), ("(.*,){20}z", "a,", "", false), (#"^(\w+\s?)*$"#, "ab ", "!", false),
    ]

    @Test(arguments: pathological)
    func pathologicalPatternsRunInLinearTime(pattern: String, unit: String, tail: String, matches: Bool) throws {
        let regex = try BoundedRegex(pattern)
        var stepsAt: [Int: Int] = [:]
        for length in [10_000, 100_000] {
            let text = String(repeating: unit, count: length / unit.count) + tail
            let (matched, steps) = Self.run(regex, text)
            #expect(matched == matches, "/\(pattern)/")
            let scalars = text.unicodeScalars.count
            #expect(
                steps <= (4 * regex.program.count + 1) * (scalars + 1),
                "/\(pattern)/ took \(steps) steps on \(scalars) scalars with \(regex.program.count) instructions")
            stepsAt[length] = steps
        }
        // Ten times the input, about ten times the work (n log n would be 12.5 times, n² 100 times).
        let (short, long) = (stepsAt[10_000] ?? 0, stepsAt[100_000] ?? 0)
        #expect(long <= 11 * short, "/\(pattern)/: \(short) then \(long) steps")
        // What the rules call, on a value within maxInput.
        #expect(regex.matches(String(repeating: unit, count: 4000 / unit.count) + tail) == matches)
    }

    @Test func aValueIsMatchedOnItsFirstMaxInputScalars() throws {
        let regex = try BoundedRegex("^a*$")
        #expect(regex.matches(String(repeating: "a", count: BoundedRegex.maxInput) + "b"))
        #expect(!regex.matches(String(repeating: "a", count: BoundedRegex.maxInput - 1) + "b"))
    }

    @Test func theIssuesPatternsLoadFromARuleFileAndMatch() throws {
        for (pattern, value) in [("((a+))+", "xa"), ("(a|aa)+$", "baa"), ("((ab)*)*c", "x ababc")] {
            let (source, diagnostics) = load(Self.ruleFile(pattern))
            #expect(diagnostics == [], "\(pattern)")
            guard case .test(_, .regex(let regex), _)? = source?.rules.first?.condition else {
                Issue.record("/\(pattern)/ did not load as a regex condition: \(String(describing: source))")
                continue
            }
            #expect(regex.matches(value))
            #expect(!regex.matches(String(repeating: "b", count: 4096)))
        }
    }

    // MARK: Refusals

    static let refusals: [(String, String)] = [
        (#"(a)\1"#, #"uses a backreference ('\1'), which rule files do not support"#),
        (#"(?<n>a)\k<n>"#, "uses a named group ('(?<'), which rule files do not support; write (?:...)"),
        ("a(?=b)", "uses look-around ('(?='), which rule files do not support"),
        ("(?<!x)y", "uses look-around ('(?<!'), which rule files do not support"),
        ("(?!a)b", "uses look-around ('(?!'), which rule files do not support"),
        ("(?>a+)b", "uses an atomic group ('(?>'), which rule files do not support; write (?:...)"),
        ("a*+b", "uses a possessive quantifier ('a*+'), which rule files do not support; drop the last '+'"),
        ("a**", "repeats a repetition ('a**'); put the repeated part in a group, as (a*)*"),
        (
            "(?m)^a",
            "uses the flag group '(?m)', which rule files do not support; the only flag is i, as (?i) or (?i:...)"
        ),
        (
            #"\p{L}"#,
            #"uses the escape '\p', which rule files do not support (they support \#(BoundedRegex.supportedEscapes))"#
        ),
        (
            #"[\x41]"#,
            #"uses the escape '\x', which rule files do not support (they support \#(BoundedRegex.supportedEscapes))"#
        ),
        (
            "[[:alpha:]]",
            #"has a '[' inside a character class (a nested class, [:name:] or a set operation), which rule files do not support; write \[ for the character"#
        ),
        (
            "[a-z&&[^c]]",
            #"has '&&' in a character class, a set operation that rule files do not support; write \& for the character"#
        ),
        ("[z-a]", "has a range ('z-a') whose ends are in the wrong order"),
        ("*a", "has a repetition ('*') with nothing to repeat"),
        ("^*", "repeats an anchor ('^*'), which matches no character"),
        ("a{2", #"has a '{' that is not a count ({m}, {m,} or {m,n}); write \{ for the character"#),
        ("a{,2}", #"has a '{' that is not a count ({m}, {m,} or {m,n}); write \{ for the character"#),
        ("a{3,2}", "has a count ('{3,2}') whose minimum is above its maximum"),
        ("a{1000}", "counts a repetition above 100"), ("a{1,101}", "counts a repetition above 100"),
        (
            "((a{100}){100})",
            "is too large once its counted repetitions are spelled out (more than 2000 instructions); use smaller counts, or * and +"
        ),
        ("(ab", "has an unclosed '('"), ("ab)", "has an unbalanced ')'"), ("[ab", "has an unclosed '['"),
        (#"ab\"#, "ends with a lone backslash"), ("", "is empty; to test that a value is present, use exists: true"),
    ]

    @Test func unsupportedSyntaxIsRefusedWithASentenceThatNamesIt() {
        for (pattern, refusal) in Self.refusals {
            #expect(throws: PathError.self, "\(pattern)") { try BoundedRegex(pattern) }
            do {
                _ = try BoundedRegex(pattern)
            } catch {
                #expect("\(error)" == "regex '\(pattern)' \(refusal)")
            }
        }
        #expect(throws: PathError.self) { try BoundedRegex(String(repeating: "a", count: 513)) }
        #expect(throws: Never.self) { try BoundedRegex("(a{100}){19}") }
    }

    @Test(arguments: [
        (#"(a)\1"#, #"regex '(a)\1' uses a backreference ('\1'), which rule files do not support"#),
        ("(?<!x)y", "regex '(?<!x)y' uses look-around ('(?<!'), which rule files do not support"),
        ("a{1000}", "regex 'a{1000}' counts a repetition above 100"),
    ])
    func checkRefusesAnUnsupportedRegexAtItsPlace(pattern: String, message: String) {
        let (source, diagnostics) = load(Self.ruleFile(pattern))
        #expect(source == nil)
        #expect(diagnostics == ["mappings/test.yaml:8:29: error: \(message)"])
    }

    @Test func theShippedShapesAreAccepted() throws {
        for pattern in [
            "(?i)deploy", "^(Deploy|Promote)", "^Rollback", #"^v[0-9]+\."#, "(?i)rolling back", "[a-z]+(-[a-z]+)?$",
            #"\d{1,3}"#, "(ab)+", "[(a+)+]", #"\(a+\)+"#, "(?:prod|production)-[0-9]+", "a{2,5}b",
        ] {
            #expect(throws: Never.self, "\(pattern)") { try BoundedRegex(pattern) }
        }
    }
}

/// Random patterns of the supported syntax: every one must be accepted, and mean what it means to ICU.
enum RandomPattern {
    static func make(_ random: inout SeededRandom) -> String {
        (random.next() % 5 == 0 ? "(?i)" : "") + choice(&random, depth: 0)
    }

    static func choice(_ random: inout SeededRandom, depth: Int) -> String {
        var branches = [sequence(&random, depth: depth)]
        while depth < 3, random.next() % 4 == 0 { branches.append(sequence(&random, depth: depth)) }
        return branches.joined(separator: "|")
    }

    static func sequence(_ random: inout SeededRandom, depth: Int) -> String {
        var out = ""
        for _ in 0..<(1 + Int(random.next() % 3)) {
            let (atom, repeatable) = self.atom(&random, depth: depth)
            out += atom
            if repeatable, random.next() % 3 == 0 {
                // Lazy forms only after a single character: ICU 76 misses matches after a lazy repetition of a group
                // that can match nothing (`(?:(?:x*)+?b|.)-` does not find "A-"), which the bridge's engine finds.
                let greedy = ["*", "+", "?", "{2}", "{0,2}", "{1,}"]
                let quantifiers = atom.hasPrefix("(") ? greedy : greedy + ["*?", "+?", "??", "{1,3}?"]
                out += quantifiers[Int(random.next() % UInt64(quantifiers.count))]
            }
        }
        return out
    }

    static func atom(_ random: inout SeededRandom, depth: Int) -> (String, Bool) {
        let atoms = [
            "a", "b", "c", "A", ".", "[ab]", "[^a]", "[a-c]", #"\d"#, #"\w"#, #"\s"#, #"\W"#, "[^ab\\s]", #"\-"#, "é",
        ]
        switch random.next() % 12 {
        case 0 where depth < 3: return ("(" + choice(&random, depth: depth + 1) + ")", true)
        case 1 where depth < 3: return ("(?:" + choice(&random, depth: depth + 1) + ")", true)
        case 2:
            let anchors = ["^", "$", #"\b"#, #"\B"#]
            return (anchors[Int(random.next() % 4)], false)
        default: return (atoms[Int(random.next() % UInt64(atoms.count))], true)
        }
    }
}
