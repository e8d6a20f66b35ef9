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
    public func resolve(in context: MappingContext) -> JSONValue? {
        let start: JSONValue?
        switch root {
        case .payload: start = context.payload
        case .item: start = context.item
        case .message: start = context.message
        case .source: return .string(context.request.source)
        case .path: return .string(context.subpath)
        case .header:
            guard case .key(let name) = segments[0] else { return nil }
            return context.request.headers[name].map(JSONValue.string)
        case .query:
            guard case .key(let name) = segments[0] else { return nil }
            return context.request.queryValue(name).map(JSONValue.string)
        }
        guard var value = start else { return nil }
        for segment in segments {
            switch (segment, value) {
            case (.key(let k), .object(let o)):
                guard let next = o[k] else { return nil }
                value = next
            case (.key(let k), .array(let a)):
                guard let n = Int(k), let next = a[safe: n] else { return nil }
                value = next
            case (.index(let n), .array(let a)):
                guard let next = a[safe: n < 0 ? a.count + n : n] else { return nil }
                value = next
            default:
                return nil
            }
        }
        return value
    }
}
