import BridgeCore

/// HTTP headers with case-insensitive lookup, in the order received.
public struct HeaderBag: Sendable, Sequence {
    public private(set) var fields: [(name: String, value: String)]

    public init(_ fields: [(name: String, value: String)] = []) { self.fields = fields }

    /// An empty bag with room for `capacity` fields.
    public init(capacity: Int) {
        self.fields = []
        fields.reserveCapacity(capacity)
    }

    public init(_ dict: [String: String]) {
        self.fields = dict.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The first value of the header `name`, compared case-insensitively (as `lowercased()` on both sides would,
    /// but byte by byte and without allocating for ASCII names).
    public subscript(name: String) -> String? {
        fields.first { ASCIICase.equals($0.name, name) }?.value
    }

    public mutating func add(_ name: String, _ value: String) { fields.append((name, value)) }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }
}
