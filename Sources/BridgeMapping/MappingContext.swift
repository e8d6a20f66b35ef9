import BridgeCore
import BridgeVerification
import Foundation

/// What a rule sees while it is evaluated: the request, its parsed payload and, inside `for_each`, the
/// current element. Lookups are recorded so that explanations can say which values a rule saw.
public struct MappingContext: Sendable {
    public let request: IncomingRequest
    public let payload: JSONValue
    public let item: JSONValue?
    /// `payload.Message` parsed as JSON, when it is a string holding a JSON object or array (Amazon SNS).
    public let message: JSONValue?
    /// The part of the URL path after `/hooks/{source}` (empty when none).
    public let subpath: String

    public init(request: IncomingRequest, payload: JSONValue, item: JSONValue? = nil, subpath: String = "") {
        self.request = request
        self.payload = payload
        self.item = item
        self.subpath = subpath
        if case .string(let text)? = payload["Message"], let first = text.utf8.first(where: { $0 > 0x20 }),
            first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
        {
            self.message = try? JSONValue.parse(Array(text.utf8))
        } else {
            self.message = nil
        }
    }

    private init(request: IncomingRequest, payload: JSONValue, item: JSONValue?, subpath: String, message: JSONValue?) {
        self.request = request
        self.payload = payload
        self.item = item
        self.subpath = subpath
        self.message = message
    }

    public func with(item: JSONValue) -> MappingContext {
        MappingContext(request: request, payload: payload, item: item, subpath: subpath, message: message)
    }

    public func lookup(_ path: PayloadPath) -> JSONValue? { path.resolve(in: self) }
}
