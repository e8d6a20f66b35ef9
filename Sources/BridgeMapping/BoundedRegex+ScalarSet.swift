/// Sets of Unicode scalars: classes, `.`, `\d`, and case-insensitive comparison.
extension BoundedRegex {
    /// The scalars one step of a pattern accepts.
    struct ScalarSet: Equatable, Sendable {
        /// `\d`, `\w`, `\s` (negated: `\D`, `\W`, `\S`), and the line breaks `.` does not match.
        struct ClassItem: Equatable, Sendable {
            var kind: Kind
            var negated: Bool

            enum Kind: Equatable, Sendable { case digit, word, space, lineBreak }

            func contains(_ c: Unicode.Scalar) -> Bool {
                let hit =
                    switch kind {
                    case .digit: ScalarSet.isDigit(c)
                    case .word: ScalarSet.isWord(c)
                    case .space: ScalarSet.isSpace(c)
                    case .lineBreak: ScalarSet.isLineBreak(c)
                    }
                return hit != negated
            }
        }

        var ranges: [ClosedRange<Unicode.Scalar>] = []
        var classes: [ClassItem] = []
        var negated = false
        /// Under `(?i)`: a scalar is in the set when it or one of its case variants is.
        var caseless = false

        func contains(_ c: Unicode.Scalar) -> Bool {
            var hit = holds(c)
            if !hit, caseless {
                let folded = ScalarSet.fold(c)
                hit = (folded != c && holds(folded)) || ScalarSet.upper(folded).map { $0 != c && holds($0) } == true
            }
            return hit != negated
        }

        private func holds(_ c: Unicode.Scalar) -> Bool {
            for r in ranges where r.contains(c) { return true }
            for k in classes where k.contains(c) { return true }
            return false
        }

        /// ICU's `\d`: a decimal digit of any script.
        static func isDigit(_ c: Unicode.Scalar) -> Bool {
            c.isASCII ? ("0"..."9").contains(c) : c.properties.generalCategory == .decimalNumber
        }

        /// ICU's `\w`: letters, marks, decimal digits, connector punctuation (`_`), and the zero-width (non-)joiners.
        static func isWord(_ c: Unicode.Scalar) -> Bool {
            if c.isASCII { return ("a"..."z").contains(c) || ("A"..."Z").contains(c) || isDigit(c) || c == "_" }
            if c.properties.isAlphabetic || c.value == 0x200C || c.value == 0x200D { return true }
            switch c.properties.generalCategory {
            case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
            default: return false
            }
        }

        /// ICU's `\s`: Unicode's White_Space property.
        static func isSpace(_ c: Unicode.Scalar) -> Bool {
            c.isASCII ? c == " " || ("\t"..."\r").contains(c) : c.properties.isWhitespace
        }

        /// The line terminators `.` does not match and `$` may precede (ICU's).
        static func isLineBreak(_ c: Unicode.Scalar) -> Bool {
            ("\n"..."\r").contains(c) || c.value == 0x85 || c.value == 0x2028 || c.value == 0x2029
        }

        /// Simple (one scalar to one scalar) case folding: `K`, `k` and the Kelvin sign fold to `k`, `ẞ` to `ß`.
        /// Foldings to several scalars (`ß` to `ss`) are not made.
        static func fold(_ c: Unicode.Scalar) -> Unicode.Scalar {
            if c.isASCII { return ("A"..."Z").contains(c) ? Unicode.Scalar(c.value + 32)! : c }
            let up = upper(c) ?? c
            return single(up.properties.lowercaseMapping) ?? up
        }

        /// The one-scalar uppercase form of `c`, if it has one.
        static func upper(_ c: Unicode.Scalar) -> Unicode.Scalar? {
            if c.isASCII { return ("a"..."z").contains(c) ? Unicode.Scalar(c.value - 32)! : c }
            return single(c.properties.uppercaseMapping)
        }

        private static func single(_ s: String) -> Unicode.Scalar? {
            var it = s.unicodeScalars.makeIterator()
            guard let first = it.next(), it.next() == nil else { return nil }
            return first
        }
    }
}
