import BridgeCore
import BridgeVerification
import Foundation

/// A validated rule file: one webhook source.
public struct SourceDefinition: Sendable {
    public var name: String
    /// The rule file it came from.
    public var file: String
    public var verifier: SignatureVerifier?
    /// Why the source is disabled (no secret configured), or nil when it takes webhooks.
    public var disabledReason: String?
    /// The preset the file named, if any.
    public var preset: String?
    public var dedupe: Dedupe
    public var team: Template?
    public var streamToken: Secret?
    public var rules: [Rule]
    public var tests: [RuleTest]
    /// Team names written literally in the file, with their position.
    public var teamNames: [TeamName] = []

    public struct TeamName: Sendable, Equatable {
        public var name: String
        public var line: Int
        public var column: Int
    }

    public struct Dedupe: Sendable {
        /// Header holding the provider's delivery id.
        public var header: String?
        /// A content key for providers without a delivery id.
        public var key: Template?
        /// `dedupe: body`: a byte-identical body within the dedupe window is a duplicate, whatever its delivery id
        /// (on by default for the presets in `VerificationPreset.bodyDedupePresets`).
        public var body: Bool = false
    }
}

extension SourceDefinition {
    /// Every stream token this source's rules may send with (file, rule and output level).
    public var streamTokens: [Secret] {
        [streamToken].compactMap { $0 }
            + rules.flatMap { rule in [rule.streamToken].compactMap { $0 } + rule.metrics.compactMap(\.streamToken) }
    }
}
