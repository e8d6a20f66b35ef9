import BridgeCore
import Foundation

/// How Cloudthread answered a request, classified for the forwarder (docs/operations.md, "How the forwarder
/// decides"): done, a bad record, an unknown team or stream, a refused API key, or retry later.
public enum CloudthreadOutcome: Sendable, Equatable, CustomStringConvertible {
    /// 201: done.
    case accepted
    /// 400: some record in the batch is invalid; the message is the API's.
    case invalid(String)
    /// 404: unknown team or stream.
    case notFound(String)
    /// 401/403: the API key is refused; pause everything.
    case unauthorized(Int)
    /// 408, 429, 5xx or a network error: retry later, not before `retryAfter` when given.
    case retry(reason: String, retryAfter: TimeInterval?)

    /// Classifies an HTTP status (a retryable default for anything unexpected).
    public static func classify(status: Int, body: String, retryAfter: TimeInterval?) -> CloudthreadOutcome {
        let message = body.count > 500 ? String(body.prefix(500)) + "…" : body
        switch status {
        case 200...299: return .accepted
        case 400, 422: return .invalid(message.isEmpty ? "HTTP \(status)" : message)
        case 404: return .notFound(message.isEmpty ? "HTTP 404" : message)
        case 401, 403: return .unauthorized(status)
        default:
            return .retry(reason: "HTTP \(status)" + (message.isEmpty ? "" : ": \(message)"), retryAfter: retryAfter)
        }
    }

    /// The outcome as a sentence fragment a person reads (logs, `check`, the console).
    public var description: String {
        switch self {
        case .accepted: "Cloudthread accepted the request"
        case .invalid(let message): "Cloudthread rejected the request as invalid: \(message)"
        case .notFound(let message): "Cloudthread did not find the team or stream (HTTP 404): \(message)"
        case .unauthorized(let status): "Cloudthread refused the API key (HTTP \(status))"
        case .retry(let reason, let retryAfter):
            "the request failed, and can be tried again later: \(reason)"
                + (retryAfter.map { " (Cloudthread asked to wait \(Int($0)) s)" } ?? "")
        }
    }
}
