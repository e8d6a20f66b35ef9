import Foundation

/// A Cloudthread team given by id or by name (resolved through `GET /teams` before sending).
public enum TeamRef: Sendable, Hashable, Codable, CustomStringConvertible {
    case id(Int)
    case name(String)

    /// A numeric string is an id, anything else a name.
    public init?(text: String) {
        let t = text.trimmed
        if t.isEmpty { return nil }
        if let n = Int(t) { self = .id(n) } else { self = .name(t) }
    }

    public var description: String {
        switch self {
        case .id(let n): "\(n)"
        case .name(let s): s
        }
    }
}
