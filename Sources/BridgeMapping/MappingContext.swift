import BridgeCore
import BridgeVerification
import Foundation

/// What a rule sees while it is evaluated: the request, its parsed payload and, inside `for_each`, the
/// current element. Lookups are recorded so that explanations can say which values a rule saw.
public struct MappingContext: Sendable {
    public let request: IncomingRequest
    public let payload: JSONValue
    public let item: JSONValue?
    /// `payload.Message` parsed as JSON, when it is a string holding a JSON object or array (Amazon SNS); or, in a
    /// Google Cloud Pub/Sub push envelope (`message` an object, `subscription` a string), `payload.message.data`
    /// decoded from base64 and parsed as JSON, when it holds a JSON object or array.
    public let message: JSONValue?
    /// The part of the URL path after `/hooks/{source}` (empty when none).
    public let subpath: String

    public init(request: IncomingRequest, payload: JSONValue, item: JSONValue? = nil, subpath: String = "") {
        self.request = request
        self.payload = payload
        self.item = item
        self.subpath = subpath
        if case .string(let text)? = payload["Message"] {
            self.message = MappingContext.jsonInside(Array(text.utf8))
        } else if case .object(let pubsub)? = payload["message"], case .string? = payload["subscription"],
            case .string(let data)? = pubsub["data"], let bytes = ByteEncoding.fromBase64(data)
        {
            self.message = MappingContext.jsonInside(bytes)
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

    /// `bytes` parsed as JSON when they hold a JSON object or array, else nil.
    static func jsonInside(_ bytes: [UInt8]) -> JSONValue? {
        guard let first = bytes.first(where: { $0 > 0x20 }), first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
        else { return nil }
        return try? JSONValue.parse(bytes)
    }

    public func with(item: JSONValue) -> MappingContext {
        MappingContext(request: request, payload: payload, item: item, subpath: subpath, message: message)
    }

    public func lookup(_ path: PayloadPath) -> JSONValue? { path.resolve(in: self) }
}
