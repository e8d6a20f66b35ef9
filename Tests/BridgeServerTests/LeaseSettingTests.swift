import Testing

@testable import BridgeServer

/// `BRIDGE_LEASE_SECONDS`: how long a claim holds records (the PostgreSQL load test shortens it to get a killed
/// replica's claims back within the test).
@Suite("BRIDGE_LEASE_SECONDS")
struct LeaseSettingTests {
    @Test func theLeaseIsFiveMinutesByDefaultAndCanBeSet() throws {
        #expect(try BridgeConfiguration.fromEnvironment([:]).forwarder.lease == 300)
        #expect(try BridgeConfiguration.fromEnvironment(["BRIDGE_LEASE_SECONDS": "8"]).forwarder.lease == 8)
    }

    @Test func aLeaseBelowOneSecondIsRefused() {
        #expect(throws: ConfigurationError.self) {
            try BridgeConfiguration.fromEnvironment(["BRIDGE_LEASE_SECONDS": "0"])
        }
        #expect(throws: ConfigurationError.self) {
            try BridgeConfiguration.fromEnvironment(["BRIDGE_LEASE_SECONDS": "five"])
        }
    }
}
