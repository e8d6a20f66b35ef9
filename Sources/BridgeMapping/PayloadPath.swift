import BridgeCore

/// A dotted reference to a request value: `payload.deployment.environment`, `header.X-GitHub-Event`,
/// `query.token`, `path`, `item.labels.alertname`, `payload.alerts[0].status`, `payload."a.b".c`.
public struct PayloadPath: Sendable, Hashable, CustomStringConvertible {
    public enum Root: String, Sendable, CaseIterable {
        case payload, header, query, item, path, source
        /// The payload's `Message` string parsed as JSON (Amazon SNS wraps the event in it), or a Pub/Sub push's
        /// `message.data` decoded from base64 and parsed as JSON.
        case message
    }

    public enum Segment: Sendable, Hashable {
        case key(String)
        case index(Int)
    }

    public let root: Root
    public let segments: [Segment]
    public let description: String

    /// Parses a path; the error is a sentence for a diagnostic.
    public static func parse(_ text: String) -> Result<PayloadPath, PathError> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var chars = Array(trimmed)
        var i = 0
        var tokens: [Segment] = []
        var rootName = ""
        while i < chars.count, chars[i] != ".", chars[i] != "[" {
            rootName.append(chars[i])
            i += 1
        }
        guard let root = Root(rawValue: rootName) else {
            return .failure(
                PathError(
                    "unknown path root '\(rootName)' in '\(trimmed)' (expected one of "
                        + "\(Root.allCases.map(\.rawValue).joined(separator: ", ")))"
                ))
        }
        while i < chars.count {
            if chars[i] == "." {
                i += 1
                guard i < chars.count else { return .failure(PathError("path '\(trimmed)' ends with '.'")) }
                if chars[i] == "\"" {
                    i += 1
                    var key = ""
                    while i < chars.count, chars[i] != "\"" {
                        key.append(chars[i])
                        i += 1
                    }
                    guard i < chars.count else { return .failure(PathError("unterminated quote in path '\(trimmed)'")) }
                    i += 1
                    tokens.append(.key(key))
                } else {
                    var key = ""
                    while i < chars.count, chars[i] != ".", chars[i] != "[" {
                        key.append(chars[i])
                        i += 1
                    }
                    guard !key.isEmpty else { return .failure(PathError("empty segment in path '\(trimmed)'")) }
                    guard !key.contains(where: { $0 == " " || $0 == "|" || $0 == "{" || $0 == "}" || $0 == "\"" })
                    else {
                        return .failure(PathError("invalid character in path segment '\(key)' of '\(trimmed)'"))
                    }
                    tokens.append(.key(key))
                }
            } else if chars[i] == "[" {
                i += 1
                var digits = ""
                while i < chars.count, chars[i] != "]" {
                    digits.append(chars[i])
                    i += 1
                }
                guard i < chars.count, let n = Int(digits) else {
                    return .failure(
                        PathError("index in path '\(trimmed)' must be a whole number in brackets, like [0] or [-1]"))
                }
                i += 1
                tokens.append(.index(n))
            } else {
                return .failure(PathError("unexpected '\(chars[i])' in path '\(trimmed)'"))
            }
        }
        chars = []
        switch root {
        case .header, .query:
            guard tokens.count == 1, case .key = tokens[0] else {
                return .failure(
                    PathError(
                        "'\(root.rawValue)' paths name exactly one "
                            + "\(root.rawValue == "header" ? "header" : "parameter"), like \(root.rawValue).Name"
                    ))
            }
        case .path, .source:
            guard tokens.isEmpty else { return .failure(PathError("'\(root.rawValue)' takes no segments")) }
        case .payload, .item, .message:
            break
        }
        return .success(PayloadPath(root: root, segments: tokens, description: trimmed))
    }

    /// Looks the path up in `context`; nil when absent.
    public func resolve(in context: MappingContext) -> JSONValue? { resolveNode(in: context)?.value }

    /// Looks the path up in `context` without building the value (only the keys on the way are compared).
    func resolveNode(in context: MappingContext) -> PayloadNode? {
        let start: PayloadNode?
        switch root {
        case .payload: start = context.payloadNode
        case .item: start = context.itemNode
        case .message: start = context.messageNode
        case .source: return .built(.string(context.request.source))
        case .path: return .built(.string(context.subpath))
        case .header:
            guard case .key(let name) = segments[0] else { return nil }
            return context.request.headers[name].map { .built(.string($0)) }
        case .query:
            guard case .key(let name) = segments[0] else { return nil }
            return context.request.queryValue(name).map { .built(.string($0)) }
        }
        guard var value = start else { return nil }
        for segment in segments {
            let next: PayloadNode?
            switch segment {
            case .key(let k): next = value.member(k)
            case .index(let n): next = value.element(n)
            }
            guard let next else { return nil }
            value = next
        }
        return value
    }
}
