import BridgeCore
import Foundation

/// The last reload of the rule files: when, why, whether it was applied, and its diagnostics (for the console).
public struct ReloadAttempt: Sendable, Equatable {
    public var at: Date
    /// `SIGHUP`, `files changed`, ...
    public var reason: String
    /// False when an error refused it (the rules in force stayed).
    public var applied: Bool
    public var diagnostics: [Diagnostic]
}
