import Testing

@testable import BridgeServer

/// `BRIDGE_DATABASE_URL` at start-up: TLS checked by default away from this machine, a repeated parameter refused
/// with a sentence that names it and not the password.
@Suite("BRIDGE_DATABASE_URL")
struct DatabaseURLSettingTests {
    @Test func noSSLModeIsVerifyFullExceptOnThisMachine() throws {
        let remote = try BridgeConfiguration.fromEnvironment([
            "BRIDGE_DATABASE_URL": "postgres://bridge:hunter2-pw@db.example.com:5432/bridge"
        ])
        #expect(remote.databaseURL?.sslMode == .verifyFull)
        let local = try BridgeConfiguration.fromEnvironment([
            "BRIDGE_DATABASE_URL": "postgres://bridge:hunter2-pw@127.0.0.1:5432/bridge"
        ])
        #expect(local.databaseURL?.sslMode == .prefer)
    }

    @Test func aRepeatedParameterStopsTheStartWithoutThePassword() {
        let env = [
            "BRIDGE_DATABASE_URL": "postgres://bridge:hunter2-pw@db.example.com/bridge?sslmode=disable&sslmode=require"
        ]
        #expect(
            throws: ConfigurationError(
                .invalidValue, setting: "BRIDGE_DATABASE_URL", value: nil,
                expected: "a URL that gives each query parameter once, but 'sslmode' is given more than once")
        ) {
            try BridgeConfiguration.fromEnvironment(env)
        }
        do {
            _ = try BridgeConfiguration.fromEnvironment(env)
        } catch {
            #expect(
                "\(error)"
                    == "BRIDGE_DATABASE_URL must be a URL that gives each query parameter once, but 'sslmode' is given "
                    + "more than once")
            #expect(!"\(error)".contains("hunter2"))
        }
    }

    @Test func anUnknownSSLModeNamesTheModesWithoutThePassword() {
        do {
            _ = try BridgeConfiguration.fromEnvironment([
                "BRIDGE_DATABASE_URL": "postgres://bridge:hunter2-pw@db.example.com/bridge?sslmode=sometimes"
            ])
            Issue.record("an unknown sslmode was accepted")
        } catch {
            #expect("\(error)".contains("verify-ca, verify-full") && !"\(error)".contains("hunter2"))
        }
    }
}
