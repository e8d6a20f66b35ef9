import BridgeCore

/// Errors of mapping one request.
public enum MappingError: Error, Sendable, CustomStringConvertible, Equatable {
    case malformedBody(String)
    case invalidRecord(rule: String, reason: String)

    public var description: String {
        switch self {
        case .malformedBody(let reason): "The body is not valid JSON: \(reason)"
        case .invalidRecord(let rule, let reason): "Rule '\(rule)' produced an invalid record: \(reason)"
        }
    }
}
