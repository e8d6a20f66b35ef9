/// One leaf test of a rule's condition, as kept in an explanation.
public struct ConditionCheck: Sendable, Equatable, Codable {
    public let path: String
    public let expectation: String
    /// The value seen, abbreviated; nil when the path was absent.
    public let seen: String?
    public let passed: Bool

    public init(path: String, expectation: String, seen: String?, passed: Bool) {
        self.path = path
        self.expectation = expectation
        self.seen = seen
        self.passed = passed
    }
}
