import Foundation
import Testing

@testable import BridgeCore
@testable import BridgeVerification

/// Inputs found by fuzzing (docs/fuzzing.md) that used to trap.
@Suite("Fuzz regressions (BridgeVerification)")
struct FuzzRegressionTests {
    /// FuzzVerification: an empty `:allow:` network trapped in `CIDR.init` (index out of range), as would
    /// `allow_networks: [""]` in a rule file.
    @Test(arguments: ["", "/", "//", "/24"])
    func aNetworkWithoutAnAddressIsNil(text: String) {
        #expect(CIDR(text) == nil)
    }
}
