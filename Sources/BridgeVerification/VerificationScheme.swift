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
                if !literal.isEmpty { parts.append(.literal(literal)); literal = "" }
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

/// The way a source proves who sent a webhook.
public enum VerificationScheme: Sendable, Equatable {
    /// An HMAC over the raw body (and possibly a timestamp and id).
    case hmac(HMACScheme)
    /// A shared token sent as a header value, after an optional prefix (GitLab `X-Gitlab-Token`,
    /// `Authorization: Bearer <token>`). The prefix is matched case-insensitively.
    case token(header: String, prefix: String)
    /// A shared token in a query parameter of the webhook URL, for senders that cannot set headers
    /// (Statuspage, Better Stack). Weaker than a header: URLs end up in logs of proxies.
    case queryToken(parameter: String)
    /// HTTP basic authentication with a configured user; the secrets are the accepted passwords.
    case basic(user: String)
    /// Standard Webhooks `v1a`: Ed25519 over `id.timestamp.body`; the secrets are public keys (`whpk_…`).
    case ed25519(header: String, idHeader: String, timestampHeader: String)
    /// Netlify: a compact JWS (HS256) whose `sha256` claim is the hex SHA-256 of the body, `iss` netlify.
    case jws(header: String, issuer: String)
    /// An RSA PKCS#1 v1.5 signature (base64) over a form field, or the body when `formField` is nil
    /// (Travis CI: SHA-1 over the `payload` field). The secrets are PEM public keys.
    case rsa(header: String, digest: HMACAlgorithm, formField: String?)
    /// draft-cavage HTTP Signatures with `hmac-sha256` over the listed headers, whose `Digest` header
    /// (`SHA-256=<base64>`) must match the body (Drone). A `Date` header, when signed, is checked for freshness.
    case httpSignature(header: String)
    /// base64 HMAC-SHA1 of the webhook URL exactly as configured, followed by every form parameter's key and
    /// value sorted by key (Splunk On-Call / VictorOps).
    case urlAndForm(header: String, url: String)
    /// No verification, which a rule file must declare explicitly.
    case unverified
}

/// A verification failure. `reason` is a short, fixed label for metrics and logs; nothing in it comes
/// from the secret or from a computed signature.
public struct VerificationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        case missingSignature = "missing_signature"
        case malformedSignature = "malformed_signature"
        case badSignature = "bad_signature"
        case missingTimestamp = "missing_timestamp"
        case staleTimestamp = "stale_timestamp"
        case futureTimestamp = "future_timestamp"
        case missingCredentials = "missing_credentials"
        case badCredentials = "bad_credentials"
        case addressNotAllowed = "address_not_allowed"
    }

    public let reason: Reason
    public let detail: String

    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { detail }
}
