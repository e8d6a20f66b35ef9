import Foundation

/// How the signatures of one source are found, decoded and computed.
public struct HMACScheme: Sendable, Equatable {
    /// How the signature header holds one or several signatures.
    public enum Format: Sendable, Equatable {
        /// The whole header value is one signature after `prefix` (GitHub `sha256=<hex>`, Vercel `<hex>`).
        case single(prefix: String)
        /// A list split on `separator`; only entries starting with `prefix` are signatures, the rest
        /// (other versions) are ignored (PagerDuty `v1=a,v1=b`, Standard Webhooks `v1,a v1,b`).
        case list(separator: String, prefix: String)
        /// `key=value` pairs split on `separator` (Buildkite `timestamp=…,signature=…`, Rootly `t=…,v1=…`);
        /// every `signatureKey` entry is a candidate and `timestampKey` gives the signed timestamp.
        case parameters(separator: String, signatureKey: String, timestampKey: String?)
    }

    /// A piece of the signed content.
    public enum Part: Sendable, Equatable {
        case body
        case timestamp
        case header(String)
        case literal(String)
    }

    public enum Encoding: String, Sendable, Equatable {
        case hex, base64
    }

    public var algorithm: HMACAlgorithm
    public var header: String
    public var format: Format
    public var encoding: Encoding
    public var signed: [Part]
    /// Header carrying the timestamp, when it is not inside the signature header.
    public var timestampHeader: String?
    public var secretFormat: SecretFormat

    public init(
        algorithm: HMACAlgorithm, header: String, format: Format = .single(prefix: ""), encoding: Encoding = .hex,
        signed: [Part] = [.body], timestampHeader: String? = nil, secretFormat: SecretFormat = .utf8
    ) {
        self.algorithm = algorithm
        self.header = header
        self.format = format
        self.encoding = encoding
        self.signed = signed
        self.timestampHeader = timestampHeader
        self.secretFormat = secretFormat
    }

    /// True when the signed content includes a timestamp, so freshness is checked.
    public var usesTimestamp: Bool { signed.contains(.timestamp) }

    /// Parses a signed-content pattern such as `{id}.{timestamp}.{body}` or `{header:webhook-id}.{timestamp}.{body}`.
    public static func parseSigned(_ pattern: String) -> [Part]? {
        var parts: [Part] = []
        var literal = ""
        var rest = Substring(pattern)
        while let c = rest.first {
            if c == "{" {
                guard let close = rest.firstIndex(of: "}") else { return nil }
                let name = rest[rest.index(after: rest.startIndex)..<close]
                if !literal.isEmpty {
                    parts.append(.literal(literal))
                    literal = ""
                }
                switch name {
                case "body": parts.append(.body)
                case "timestamp": parts.append(.timestamp)
                default:
                    guard name.hasPrefix("header:"), name.count > 7 else { return nil }
                    parts.append(.header(String(name.dropFirst(7))))
                }
                rest = rest[rest.index(after: close)...]
            } else {
                literal.append(c)
                rest = rest.dropFirst()
            }
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        return parts.contains(.body) ? parts : nil
    }
}
