import BridgeCore

/// How one webhook ended, and the small JSON body the sender is told. Never includes a secret or a signature.
/// The HTTP edge turns `kind` into a status code (`statusCode`; the table of answers is in docs/operations.md).
public struct IngestOutcome: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Stored with its records: 202.
        case accepted
        /// Stored; no rule matched: 202.
        case ignored
        /// Seen before; nothing new stored: 200.
        case duplicate
        /// A control message answered without storing anything (an SNS subscription confirmation): 200.
        case acknowledged
        /// Every output was invalid for Cloudthread: 422.
        case rejected
        /// No such source: 404.
        case unknownSource = "unknown_source"
        /// The source has no secret configured: 503.
        case disabled
        /// Missing or bad signature, stale timestamp: 401.
        case unauthorized
        /// The client address is not allowed: 403.
        case forbidden
        /// The body cannot be parsed: 400.
        case badRequest = "bad_request"
        /// The store cannot take the webhook: 503 with Retry-After, the sender retries.
        case unavailable
        /// Too many refused webhooks from this address: 429 with Retry-After.
        case rateLimited = "rate_limited"
        /// Too many webhooks in progress: 503 with Retry-After.
        case overloaded
    }

    public var kind: Kind
    public var body: JSONValue
    /// Seconds the sender should wait before trying again (`Retry-After`), for 429 and 503.
    public var retryAfter: Int?

    public init(_ kind: Kind, body: JSONValue, retryAfter: Int? = nil) {
        self.kind = kind
        self.body = body
        self.retryAfter = retryAfter
    }

    /// Label for the webhooks counter.
    public var label: String { kind == .forbidden ? "unauthorized" : kind.rawValue }

    /// The status code the sender is answered with.
    public var statusCode: Int { kind.statusCode }
}

extension IngestOutcome.Kind {
    /// The status code for this outcome.
    public var statusCode: Int {
        switch self {
        case .accepted, .ignored: 202
        case .duplicate, .acknowledged: 200
        case .rejected: 422
        case .unknownSource: 404
        case .disabled, .unavailable, .overloaded: 503
        case .rateLimited: 429
        case .unauthorized: 401
        case .forbidden: 403
        case .badRequest: 400
        }
    }
}
