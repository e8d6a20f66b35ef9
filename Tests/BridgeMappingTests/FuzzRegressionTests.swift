import BridgeCore
import Foundation
import Testing

@testable import BridgeMapping

/// Inputs found by fuzzing (docs/fuzzing.md) that used to trap; each test replays the input.
@Suite("Fuzz regressions (BridgeMapping)")
struct FuzzRegressionTests {
    func shipped(_ name: String) throws -> SourceDefinition {
        let file = packageRoot + "/mappings/\(name).yaml"
        let (source, diagnostics) = RuleLoader(environment: [:]).load(
            file: file, text: try String(contentsOfFile: file, encoding: .utf8))
        #expect(!diagnostics.hasErrors, "\(diagnostics)")
        return try #require(source)
    }

    /// FuzzMapper: a GitHub deployment status with `"updated_at": 1e300` trapped in `CloudthreadTime.hour`.
    @Test func anEventTimeBeyondTheYear9999IsARejectionNotATrap() throws {
        let body = #"{"deployment_status":{"state":"success","updated_at":1e300}}"#
        let result = try map(try shipped("github"), body, headers: [("X-GitHub-Event", "deployment_status")])
        #expect(result.records.isEmpty)
        #expect(result.explanation.rejected.contains { $0.reason.contains("outside the accepted range") })
    }

    /// FuzzTemplate: a number argument or value outside `Int`'s range (or NaN) trapped in `Int(_:)` in `duration`,
    /// `truncate`, `slice` and `round`.
    @Test(arguments: [
        ("{{ payload.big | duration }}", "36525d"),
        ("{{ \"nan\" | duration }}", "0s"),
        ("{{ payload.s | truncate 1e30 }}", "abc"),
        ("{{ payload.list | slice -1e30 1e30 | join \",\" }}", "a,b"),
        ("{{ payload.s | slice 1 9223372036854775807 }}", "bc"),
        ("{{ payload.list | slice 1 9.223372036854775e18 | join \",\" }}", "b"),
        ("{{ payload.frac | round 1e30 }}", "2.5"),
        ("{{ payload.frac | round -1e30 }}", "0"),
    ])
    func filtersTakeNumbersOutsideIntsRange(template: String, expected: String) throws {
        let c = try context(#"{"big":1e30,"s":"abc","list":["a","b"],"frac":2.5}"#)
        #expect(try render(template, c) == expected)
    }

    @Test func durationOfIntMinIsClamped() {
        #expect(Filter.formatDuration(-9_223_372_036_854_775_808) == "-36525d")
    }
}
