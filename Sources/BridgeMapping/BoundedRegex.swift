/// A rule file's regular expression, matched in time linear in the value's length, whatever the pattern.
///
/// The bridge runs its own small engine, not a backtracking one: the pattern is parsed (`BoundedRegex+Parser.swift`)
/// into a program of at most `maxProgram` instructions (`BoundedRegex+Program.swift`), and a value is matched by
/// running every thread of that program in step, one Unicode scalar at a time (a Thompson NFA simulation, as in
/// Russ Cox's "Regular Expression Matching Can Be Simple And Fast"). Each scalar of the value moves each instruction
/// at most once, so a match costs at most a small constant times `program size × value length`, and the value is
/// cut to its first `maxInput` scalars: no pattern and no payload can make a rule run for long.
///
/// The syntax is a subset of ICU's (which rule files used before), with the same meaning on what it accepts:
/// literals, `.`, classes, `^ $ \b \B`, groups, `|`, `* + ?` (lazy forms too: only whether a value matches counts),
/// counts up to `maxCount`, and the `(?i)` flag. Anything else (backreferences, look-around, possessive
/// quantifiers, named or atomic groups, other flags, `\p{…}`, ...) is refused at load time with a sentence that
/// names it. docs/rules.md lists the syntax.
public struct BoundedRegex: Sendable {
    /// The longest pattern, in Unicode scalars.
    public static let maxPattern = 512
    /// A value is matched on its first `maxInput` Unicode scalars.
    public static let maxInput = 4096
    /// The largest bound of a counted repetition (`{m,n}`).
    public static let maxCount = 100
    /// The largest program, once counted repetitions are spelled out.
    public static let maxProgram = 2000

    public let pattern: String
    let program: Program

    /// Parses and compiles `pattern`.
    /// - Throws: `PathError` with a sentence that starts "regex '…'" and says what is refused.
    public init(_ pattern: String) throws {
        let scalars = Array(pattern.unicodeScalars)
        guard scalars.count <= BoundedRegex.maxPattern else {
            throw PathError("regex is longer than \(BoundedRegex.maxPattern) characters")
        }
        do {
            guard !scalars.isEmpty else { throw Refusal("is empty; to test that a value is present, use exists: true") }
            var parser = Parser(scalars)
            let tree = try parser.parse()
            program = try Program(tree)
        } catch let refusal as Refusal {
            throw PathError("regex '\(pattern)' \(refusal.text)")
        }
        self.pattern = pattern
    }

    /// Whether the pattern matches anywhere in the first `maxInput` Unicode scalars of `text`.
    public func matches(_ text: String) -> Bool {
        var steps = 0
        return program.run(Array(text.unicodeScalars.prefix(BoundedRegex.maxInput)), steps: &steps)
    }

    /// For the fuzz target: matches all of `text` (no `maxInput` cut) and returns the steps taken and their bound,
    /// `(4 × program size + 1) × (scalars + 1)`, which `steps` never exceeds.
    @_spi(Fuzzing) public func matchCountingSteps(_ text: String) -> (matched: Bool, steps: Int, bound: Int) {
        let scalars = Array(text.unicodeScalars)
        var steps = 0
        let matched = program.run(scalars, steps: &steps)
        return (matched, steps, (4 * program.count + 1) * (scalars.count + 1))
    }

    /// Why a pattern is refused: the end of a sentence that starts with "regex '<pattern>'".
    struct Refusal: Error {
        var text: String
        init(_ text: String) { self.text = text }
    }
}
