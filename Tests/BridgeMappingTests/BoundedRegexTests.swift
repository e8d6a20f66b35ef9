import Foundation
import Testing

@testable import BridgeCore
@testable import BridgeMapping

/// Issue 18, point 10: a regular expression in a rule file either runs in bounded time or is refused by the loader
/// (and so by `check`) at its file, line and column.
@Suite("Bounded regular expressions")
struct BoundedRegexTests {
    static func ruleFile(_ pattern: String) -> String {
        """
        source: github
        verify:
          preset: github
          secrets: ["${TEST_WEBHOOK_SECRET}"]
        rules:
          - name: deploy
            when:
              payload.ref: { regex: "\(pattern)" }
            event:
              type: deploy
        """
    }

    @Test(arguments: ["((a+))+", "(a|aa)+$", "((ab)*)*c", "(a?)*b", "(x+y*){2,}", "(?:a|b)+z", "(a+){5}"])
    func catastrophicShapesAreRefusedWithTheirPlace(pattern: String) {
        let (source, diagnostics) = load(Self.ruleFile(pattern))
        #expect(source == nil)
        #expect(diagnostics.count == 1)
        #expect(
            diagnostics.first?.hasPrefix("mappings/test.yaml:8:29: error: regex '\(pattern)' repeats a group") == true,
            "\(diagnostics)")
    }

    @Test(arguments: [#"(a)\1"#, "a(?=b)", "(?<!x)y", "(?!a)b", #"(?<n>a)\k<n>"#])
    func backreferencesAndLookAroundAreRefused(pattern: String) {
        #expect(throws: PathError.self) { try BoundedRegex(pattern) }
    }

    @Test func theShippedShapesAreAccepted() throws {
        for pattern in [
            "(?i)deploy", "^(Deploy|Promote)", "^Rollback", #"^v[0-9]+\."#, "(?i)rolling back", "[a-z]+(-[a-z]+)?$",
            #"\d{1,3}"#, "(ab)+", "[(a+)+]", #"\(a+\)+"#, "(?:prod|production)-[0-9]+", "a{2,5}b",
        ] {
            #expect(throws: Never.self, "\(pattern)") { try BoundedRegex(pattern) }
        }
        #expect(try BoundedRegex("(?i)deploy").matches("Deploy production"))
        #expect(try BoundedRegex(#"^v[0-9]+\."#).matches("v12.1"))
        #expect(try !BoundedRegex("^(Deploy|Promote)").matches("Rollback"))
    }

    @Test func countsAboveTheBoundAreRefused() {
        #expect(throws: PathError.self) { try BoundedRegex("a{1000}") }
        #expect(throws: PathError.self) { try BoundedRegex("a{1,101}") }
    }
}
