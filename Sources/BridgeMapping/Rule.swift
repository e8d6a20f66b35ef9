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
    public var streamToken: String?
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
    }
}

/// One rule: a condition and the outputs it produces when it matches.
public struct Rule: Sendable {
    public var name: String
    public var condition: Condition
    /// Produce one set of outputs per element of this list (`item.` paths refer to the element).
    public var forEach: PayloadPath?
    /// Per-item de-duplication key: outputs of an item (or webhook) whose key was seen before are left out.
    public var dedupeKey: Template?
    public var team: Template?
    public var streamToken: String?
    public var events: [EventTemplate]
    public var metrics: [MetricTemplate]
    public var line: Int
}

public struct EventTemplate: Sendable {
    public var type: Template
    public var time: Template?
    public var description: Template?
    public var url: Template?
    public var team: Template?
}

public struct MetricTemplate: Sendable {
    public var name: Template
    public var aggregation: Aggregation
    public var value: Template
    public var time: Template?
    public var dimensions: [(key: String, value: Template)]
    public var streamToken: String?
}

/// A test case in a rule file's `tests:`.
public struct RuleTest: Sendable {
    public var name: String
    public var line: Int
    public var headers: [(name: String, value: String)]
    public var query: [(name: String, value: String)]
    public var subpath: String
    public var body: [UInt8]
    public var sign: Bool
    public var expect: Expectation

    public struct Expectation: Sendable {
        public var outcome: String?
        public var status: Int?
        public var events: [[String: JSONValue]]?
        public var metrics: [[String: JSONValue]]?
        public var exact: Bool
    }
}
