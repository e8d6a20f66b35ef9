import Foundation
import Testing

@testable import BridgeCore

/// Inputs found by fuzzing (docs/fuzzing.md) that used to trap.
@Suite("Fuzz regressions (BridgeCore)")
struct FuzzRegressionTests {
    /// FuzzMapper: `"updated_at": 1e300` parsed as a date 1e291 seconds after 1970, and `hour` trapped in `Int(_:)`.
    @Test(arguments: [1e300, 1e30, -1e30, 9.3e18, -9.3e18, .infinity, -.infinity, .nan])
    func hourOfAnyTimeIsAnHourlyTimestamp(seconds: Double) {
        #expect(CloudthreadTime.isHourly(CloudthreadTime.hour(Date(timeIntervalSince1970: seconds))))
    }
}
