import BridgeCore
import Foundation

/// A regular expression with bounded cost: patterns are limited in length and checked at load time,
/// and a value is matched on at most `maxInput` characters, so a hostile payload cannot make a rule
/// run for long.
public struct BoundedRegex: @unchecked Sendable {
    public static let maxPattern = 512
    public static let maxInput = 4096

    public let pattern: String
    let regex: NSRegularExpression

    public init(_ pattern: String) throws {
        guard pattern.count <= BoundedRegex.maxPattern else {
            throw PathError("regex is longer than \(BoundedRegex.maxPattern) characters")
        }
        // Nested quantifiers such as (a+)+ are the classic catastrophic-backtracking shape: refuse them.
        if pattern.range(of: #"\([^()]*[+*][^()]*\)[+*{]"#, options: .regularExpression) != nil {
            throw PathError(
                "regex '\(pattern)' nests a repetition inside a repetition, which can backtrack without bound")
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
}
