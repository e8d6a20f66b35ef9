/// Why a backfill stopped before reading everything. `reason` says which exit code the CLI gives: a usage or an
/// authentication problem is 2, the rest 1.
public struct BackfillError: Error, CustomStringConvertible, Sendable {
    public enum Reason: String, Sendable {
        /// Bad arguments: an unknown source, a source of another provider, a bad repository name.
        case usage
        /// The provider refused the token (401) or its scopes (403), or cannot show the repository (404).
        case authentication
        /// The provider cannot be reached or keeps failing (network, 5xx after retries).
        case unavailable
        /// The provider answered something that is not what its API documents.
        case unexpectedAnswer = "unexpected_answer"
    }

    public var reason: Reason
    /// A sentence for a person; never holds the token.
    public var detail: String

    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { detail }

    /// The exit code the CLI ends with for this error.
    public var exitCode: Int32 { reason == .usage || reason == .authentication ? 2 : 1 }
}
