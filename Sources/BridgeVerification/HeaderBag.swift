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
