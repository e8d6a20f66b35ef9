import BridgeCore

/// How a configured secret string turns into key bytes.
public enum SecretFormat: String, Sendable, Codable {
    /// The secret's UTF-8 bytes (GitHub, PagerDuty, CircleCI, ...).
    case utf8
    /// `whsec_<base64>`: strip the prefix and base64-decode (Standard Webhooks, Svix, GitLab signing tokens).
    case standardWebhooks = "whsec"
}

extension Secret {
    /// The HMAC key for this secret under `format`: the UTF-8 bytes, or for `whsec_`-style secrets the
    /// base64-decoded part after the prefix.
    func key(_ format: SecretFormat) -> [UInt8]? {
        switch format {
        case .utf8:
            return bytes
        case .standardWebhooks:
            var text = string
            for prefix in ["whsec_", "whsk_", "whpk_"] where text.hasPrefix(prefix) {
                text.removeFirst(prefix.count)
            }
            return ByteEncoding.fromBase64(text)
        }
    }
}
