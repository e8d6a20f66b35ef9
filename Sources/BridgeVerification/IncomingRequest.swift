import Foundation

/// HTTP headers with case-insensitive lookup, in the order received.
public struct HeaderBag: Sendable, Sequence {
    public private(set) var fields: [(name: String, value: String)]

    public init(_ fields: [(name: String, value: String)] = []) { self.fields = fields }

    public init(_ dict: [String: String]) {
        self.fields = dict.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The first value of the header `name`, compared case-insensitively.
    public subscript(name: String) -> String? {
        let lower = name.lowercased()
        return fields.first { $0.name.lowercased() == lower }?.value
    }

    public mutating func add(_ name: String, _ value: String) { fields.append((name, value)) }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }
}

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

/// `application/x-www-form-urlencoded` decoding.
public enum FormDecoding {
    public static func pairs(_ raw: String) -> [(name: String, value: String)] {
        raw.split(separator: "&", omittingEmptySubsequences: true).map { part in
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = decode(kv[0])
            let value = kv.count > 1 ? decode(kv[1]) : ""
            return (name, value)
        }
    }

    static func decode(_ s: Substring) -> String {
        let plus = s.replacingOccurrences(of: "+", with: " ")
        return plus.removingPercentEncoding ?? plus
    }
}
