import BridgeCore
import BridgeVerification
import Foundation
import Yams

/// YAML nodes as JSON values (test bodies and expectations).
extension RuleFileReader {
    /// A YAML node as a JSON value (scalars typed by their YAML resolution).
    static func jsonValue(_ node: Node) -> JSONValue {
        if let m = node.mapping {
            var o: [String: JSONValue] = [:]
            for (k, v) in m { o[k.scalar?.string ?? ""] = jsonValue(v) }
            return .object(o)
        }
        if let s = node.sequence { return .array(s.map(jsonValue)) }
        guard let scalar = node.scalar else { return .null }
        if scalar.style == .plain {
            if node.null != nil { return .null }
            if let b = node.bool { return .bool(b) }
            if let i = node.int { return .number(Double(i)) }
            if let f = node.float { return .number(f) }
        }
        return .string(scalar.string)
    }

    static func json(_ node: Node) -> String { jsonValue(node).json }
}
