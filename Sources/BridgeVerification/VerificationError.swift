import Foundation

/// A verification failure. `reason` is a short, fixed label for metrics and logs; nothing in it comes
/// from the secret or from a computed signature.
public struct VerificationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        case missingSignature = "missing_signature"
        case malformedSignature = "malformed_signature"
        case badSignature = "bad_signature"
        case missingTimestamp = "missing_timestamp"
        case staleTimestamp = "stale_timestamp"
        case futureTimestamp = "future_timestamp"
        case missingCredentials = "missing_credentials"
        case badCredentials = "bad_credentials"
        case addressNotAllowed = "address_not_allowed"
        /// An SNS message from a topic the source does not accept (403).
        case topicNotAllowed = "topic_not_allowed"
        /// The certificate needed to check an SNS signature cannot be had right now (503: SNS retries).
        case certificateUnavailable = "certificate_unavailable"
        /// The bridge's budget of SNS certificate fetches for this minute is spent (503: SNS retries). Not the
        /// client's failure: it is not counted as a refusal.
        case certificateBudgetSpent = "certificate_budget_spent"
        /// The provider's published signing keys (a JWKS) cannot be had right now (503: the sender retries).
        case signingKeysUnavailable = "signing_keys_unavailable"
    }

    public let reason: Reason
    public let detail: String

    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { detail }
}
