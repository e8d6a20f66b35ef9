import BridgeCore
import BridgeVerification
import Foundation

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
        /// Planned cost follow-ups (`view` or `unit_metric`, `due`, `deploy_at`, `before`, `after`, `threshold`,
        /// `dimensions`).
        public var costImpact: [[String: JSONValue]]? = nil
    }
}
