import BridgeCore
import BridgeVerification
import Foundation

/// What a rule sees while it is evaluated: the request, its parsed payload and, inside `for_each`, the
/// current element. Lookups are recorded so that explanations can say which values a rule saw.
public struct MappingContext: Sendable {
    public let request: IncomingRequest
    public let payload: JSONValue
    public let item: JSONValue?
    /// The part of the URL path after `/hooks/{source}` (empty when none).
    public let subpath: String

    public init(request: IncomingRequest, payload: JSONValue, item: JSONValue? = nil, subpath: String = "") {
        self.request = request
        self.payload = payload
        self.item = item
        self.subpath = subpath
    }

    public func with(item: JSONValue) -> MappingContext {
        MappingContext(request: request, payload: payload, item: item, subpath: subpath)
    }

    public func lookup(_ path: PayloadPath) -> JSONValue? { path.resolve(in: self) }
}
