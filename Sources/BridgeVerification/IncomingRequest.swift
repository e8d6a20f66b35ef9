import Foundation

/// One webhook request as the bridge sees it: the raw body exactly as received plus what the verifiers
/// and the rules may look at.
public struct IncomingRequest: Sendable {
    public var source: String
    public var method: String
    /// The request path, without the query string.
    public var path: String
    public var query: [(name: String, value: String)]
    public var headers: HeaderBag
    public var body: [UInt8]
    public var clientAddress: String?
    public var receivedAt: Date

    public init(
        source: String, method: String = "POST", path: String? = nil, query: [(name: String, value: String)] = [],
        headers: HeaderBag, body: [UInt8], clientAddress: String? = nil, receivedAt: Date = Date()
    ) {
        self.source = source
        self.method = method
        self.path = path ?? "/hooks/\(source)"
        self.query = query
        self.headers = headers
        self.body = body
        self.clientAddress = clientAddress
        self.receivedAt = receivedAt
    }

    public func queryValue(_ name: String) -> String? { query.first { $0.name == name }?.value }

    /// Parses a raw query string (`a=1&b=2`) with percent decoding and `+` as space.
    public static func parseQuery(_ raw: String?) -> [(name: String, value: String)] {
        guard let raw, !raw.isEmpty else { return [] }
        return FormDecoding.pairs(raw)
    }
}
