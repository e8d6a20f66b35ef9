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
}
