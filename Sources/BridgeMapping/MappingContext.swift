import BridgeCore
import BridgeVerification
import Foundation

/// A JSON value a rule can read: a built `JSONValue`, or a value of an indexed body (`JSONIndex`), of which only what
/// a rule reads is ever built.
enum PayloadNode: Sendable {
    case built(JSONValue)
    case indexed(JSONIndex, JSONIndex.Node)

    /// The value as a `JSONValue` (for an indexed container, everything in it).
    var value: JSONValue {
        switch self {
        case .built(let v): v
        case .indexed(let index, let node): index.value(node)
        }
    }

    /// The value of `key` in an object, or element `Int(key)` of an array (as `PayloadPath` reads them).
    func member(_ key: String) -> PayloadNode? {
        switch self {
        case .built(.object(let o)):
            return o[key].map(PayloadNode.built)
        case .built(.array(let a)):
            guard let n = Int(key), let next = a[safe: n] else { return nil }
            return .built(next)
        case .built:
            return nil
        case .indexed(let index, let node):
            switch index.kind(node) {
            case .object: return index.member(key, in: node).map { .indexed(index, $0) }
            case .array:
                guard let n = Int(key), let next = index.element(n, in: node) else { return nil }
                return .indexed(index, next)
            default: return nil
            }
        }
    }

    /// Element `n` of an array; a negative `n` counts from the end.
    func element(_ n: Int) -> PayloadNode? {
        switch self {
        case .built(.array(let a)):
            return a[safe: n < 0 ? a.count + n : n].map(PayloadNode.built)
        case .built:
            return nil
        case .indexed(let index, let node):
            guard index.kind(node) == .array else { return nil }
            let count = index.count(node)
            return index.element(n < 0 ? count + n : n, in: node).map { .indexed(index, $0) }
        }
    }

    /// The elements when the value is an array, else nil.
    var elements: [PayloadNode]? {
        switch self {
        case .built(.array(let a)): return a.map(PayloadNode.built)
        case .built: return nil
        case .indexed(let index, let node):
            guard index.kind(node) == .array else { return nil }
            return index.elements(of: node).map { .indexed(index, $0) }
        }
    }

    /// The text when the value is a string, else nil.
    var string: String? {
        switch self {
        case .built(.string(let s)): s
        case .built: nil
        case .indexed(let index, let node): index.string(node)
        }
    }

    var isObject: Bool {
        switch self {
        case .built(.object): true
        case .built: false
        case .indexed(let index, let node): index.kind(node) == .object
        }
    }
}

/// What a rule sees while it is evaluated: the request, its parsed payload and, inside `for_each`, the
/// current element. Lookups are recorded so that explanations can say which values a rule saw.
///
/// The mapper gives it the body's `JSONIndex`: a lookup walks the index and builds a `JSONValue` only for the value
/// it reads.
public struct MappingContext: Sendable {
    public let request: IncomingRequest
    let payloadNode: PayloadNode
    let itemNode: PayloadNode?
    /// See `message`.
    let messageNode: PayloadNode?
    /// The part of the URL path after `/hooks/{source}` (empty when none).
    public let subpath: String

    /// The whole payload (built from the index when the body was indexed).
    public var payload: JSONValue { payloadNode.value }
    /// The current element inside `for_each`.
    public var item: JSONValue? { itemNode?.value }
    /// `payload.Message` parsed as JSON, when it is a string holding a JSON object or array (Amazon SNS); or, in a
    /// Google Cloud Pub/Sub push envelope (`message` an object, `subscription` a string), `payload.message.data`
    /// decoded from base64 and parsed as JSON, when it holds a JSON object or array.
    public var message: JSONValue? { messageNode?.value }

    public init(request: IncomingRequest, payload: JSONValue, item: JSONValue? = nil, subpath: String = "") {
        self.init(request: request, payload: .built(payload), subpath: subpath)
        if let item { self = with(item: item) }
    }

    init(request: IncomingRequest, payload: PayloadNode, subpath: String) {
        self.request = request
        self.payloadNode = payload
        self.itemNode = nil
        self.subpath = subpath
        if let text = payload.member("Message")?.string {
            self.messageNode = MappingContext.jsonInside(Array(text.utf8))
        } else if let pubsub = payload.member("message"), pubsub.isObject,
            payload.member("subscription")?.string != nil,
            let data = pubsub.member("data")?.string, let bytes = ByteEncoding.fromBase64(data)
        {
            self.messageNode = MappingContext.jsonInside(bytes)
        } else {
            self.messageNode = nil
        }
    }

    private init(
        request: IncomingRequest, payload: PayloadNode, item: PayloadNode?, subpath: String, message: PayloadNode?
    ) {
        self.request = request
        self.payloadNode = payload
        self.itemNode = item
        self.subpath = subpath
        self.messageNode = message
    }

    /// `bytes` indexed as JSON when they hold a JSON object or array, else nil.
    static func jsonInside(_ bytes: [UInt8]) -> PayloadNode? {
        guard let first = bytes.first(where: { $0 > 0x20 }), first == UInt8(ascii: "{") || first == UInt8(ascii: "[")
        else { return nil }
        guard let index = try? JSONIndex(bytes) else { return nil }
        return .indexed(index, index.root)
    }

    public func with(item: JSONValue) -> MappingContext { with(item: .built(item)) }

    func with(item: PayloadNode) -> MappingContext {
        MappingContext(request: request, payload: payloadNode, item: item, subpath: subpath, message: messageNode)
    }

    public func lookup(_ path: PayloadPath) -> JSONValue? { path.resolveNode(in: self)?.value }

    /// The value at `path` without building it.
    func lookupNode(_ path: PayloadPath) -> PayloadNode? { path.resolveNode(in: self) }
}
