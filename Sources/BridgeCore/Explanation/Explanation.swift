import Foundation

/// Why a webhook did or did not produce records: kept for every delivery and shown by `try`.
public struct Explanation: Sendable, Codable, Equatable {
    public struct RuleTrace: Sendable, Codable, Equatable {
        public var rule: String
        public var matched: Bool
        public var checks: [ConditionCheck]
        /// Elements considered when the rule has `for_each`.
        public var items: Int?
        public var events: Int
        public var metrics: Int

        public init(rule: String, matched: Bool, checks: [ConditionCheck], items: Int? = nil, events: Int, metrics: Int)
        {
            self.rule = rule
            self.matched = matched
            self.checks = checks
            self.items = items
            self.events = events
            self.metrics = metrics
        }
    }

    public struct Rejection: Sendable, Codable, Equatable {
        public var rule: String
        public var reason: String

        public init(rule: String, reason: String) {
            self.rule = rule
            self.reason = reason
        }
    }

    public var source: String
    public var rules: [RuleTrace] = []
    public var rejected: [Rejection] = []
    public var notes: [String] = []

    public init(source: String, rules: [RuleTrace] = [], rejected: [Rejection] = [], notes: [String] = []) {
        self.source = source
        self.rules = rules
        self.rejected = rejected
        self.notes = notes
    }

    /// One line per rule, for logs and `try`.
    public var summary: String {
        if rules.isEmpty { return "no rules" }
        return rules.map { t in
            let failed = t.checks.first { !$0.passed }
            if t.matched { return "\(t.rule): matched (\(t.events) events, \(t.metrics) metrics)" }
            if let failed {
                return "\(t.rule): \(failed.path) \(failed.expectation) but was \(failed.seen ?? "absent")"
            }
            return "\(t.rule): no match"
        }.joined(separator: "; ")
    }
}
