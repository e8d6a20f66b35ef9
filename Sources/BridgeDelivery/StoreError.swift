/// Why the store could not do what was asked. The ingress answers 503 for any of them, so the sender retries.
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        /// The store was shut down.
        case closed
        /// The database refused the operation (full disk, I/O error, lock timeout, lost connection, ...).
        case database
        /// The database answered something the store did not expect.
        case unexpectedAnswer = "unexpected_answer"
    }

    public let reason: Reason
    /// What happened, naming the operation; never a secret or a payload value.
    public let detail: String

    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { detail }
}
