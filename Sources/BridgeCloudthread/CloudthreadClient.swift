import BridgeCore
import Foundation

/// A Cloudthread team from `GET /teams`.
public struct CloudthreadTeam: Sendable, Equatable {
    public var id: Int
    public var name: String
}

/// How Cloudthread answered a request, classified as DESIGN.md section 1 says.
public enum CloudthreadOutcome: Sendable, Equatable {
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
        default: return .retry(reason: "HTTP \(status)" + (message.isEmpty ? "" : ": \(message)"), retryAfter: retryAfter)
        }
    }
}

/// Cloudthread's API as the forwarder uses it.
public protocol CloudthreadClient: Sendable {
    func postEvents(_ request: EventsRequest) async -> CloudthreadOutcome
    func ingest(_ request: IngestRequest) async -> CloudthreadOutcome
    /// The organisation's teams; on failure, the outcome that explains it.
    func teams() async -> Result<[CloudthreadTeam], CloudthreadClientError>
}

public struct CloudthreadClientError: Error, Sendable, CustomStringConvertible {
    public let outcome: CloudthreadOutcome
    public var description: String { "\(outcome)" }
}

package enum CloudthreadJSON {
    package static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? [UInt8](encoder.encode(value))) ?? []
    }

    /// Decodes `GET /teams`: an array of `{id, name, ...}` (id a string or a number), or that array under `data`.
    static func decodeTeams(_ bytes: [UInt8]) -> [CloudthreadTeam]? {
        guard let value = try? JSONValue.parse(bytes) else { return nil }
        let list: [JSONValue]
        switch value {
        case .array(let a): list = a
        case .object(let o): guard case .array(let a)? = o["data"] ?? o["teams"] else { return nil }; list = a
        default: return nil
        }
        return list.compactMap { item in
            guard let name = item["name"]?.text, let id = item["id"].flatMap({ Int($0.text) }) else { return nil }
            return CloudthreadTeam(id: id, name: name)
        }
    }
}
