import Foundation

/// Produces the headers a source's scheme expects for a body: used by `cloudthread-bridge sign`/`send`
/// and by rule-file tests. The mirror image of `SignatureVerifier`.
public struct Signer: Sendable {
    public var scheme: VerificationScheme
    public var secret: Secret

    public init(scheme: VerificationScheme, secret: Secret) {
        self.scheme = scheme
        self.secret = secret
    }

    /// Headers to add to a request with `body` and the existing `headers` (an id header already there is reused).
    public func headers(for body: [UInt8], existing: HeaderBag = HeaderBag(), now: Date = Date(), id: String? = nil) throws -> [(name: String, value: String)] {
        let timestamp = String(Int(now.timeIntervalSince1970))
        switch scheme {
        case .unverified:
            return []
        case .token(let header, let prefix):
            return [(header, prefix + secret.string)]
        case .queryToken:
            return []
        case .basic(let user):
            return [("Authorization", "Basic " + ByteEncoding.base64(Array("\(user):\(secret.string)".utf8)))]
        case .hmac(let h):
            var out: [(String, String)] = []
            var content: [UInt8] = []
            for part in h.signed {
                switch part {
                case .body: content += body
                case .timestamp: content += Array(timestamp.utf8)
                case .literal(let t): content += Array(t.utf8)
                case .header(let name):
                    let value = existing[name] ?? id ?? "msg_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
                    if existing[name] == nil { out.append((name, value)) }
                    content += Array(value.utf8)
                }
            }
            guard let key = secret.key(h.secretFormat) else { throw SignerError("the secret is not in the \(h.secretFormat.rawValue) format") }
            let mac = Crypto.hmac(h.algorithm, key: key, data: content)
            let encoded = h.encoding == .hex ? ByteEncoding.hex(mac) : ByteEncoding.base64(mac)
            if h.usesTimestamp, let th = h.timestampHeader { out.append((th, timestamp)) }
            switch h.format {
            case .single(let prefix), .list(_, let prefix): out.append((h.header, prefix + encoded))
            case .parameters(let separator, let signatureKey, let timestampKey):
                var params: [String] = []
                if let timestampKey { params.append("\(timestampKey)=\(timestamp)") }
                params.append("\(signatureKey)=\(encoded)")
                out.append((h.header, params.joined(separator: separator)))
            }
            return out
        case .ed25519(let header, let idHeader, let timestampHeader):
            guard let key = secret.key(.standardWebhooks), key.count == 32 else {
                throw SignerError("an Ed25519 signing secret must be whsk_<base64 of the 32-byte private key>")
            }
            let msgId = existing[idHeader] ?? id ?? "msg_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
            guard let sig = Crypto.ed25519Sign(privateKey: key, message: Array("\(msgId).\(timestamp).".utf8) + body) else {
                throw SignerError("Ed25519 signing failed")
            }
            var out: [(String, String)] = []
            if existing[idHeader] == nil { out.append((idHeader, msgId)) }
            out.append((timestampHeader, timestamp))
            out.append((header, "v1a," + ByteEncoding.base64(sig)))
            return out
        case .jws(let header, let issuer):
            let jose = ByteEncoding.base64URL(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
            let claims = ByteEncoding.base64URL(Array(#"{"iss":"\#(issuer)","sha256":"\#(ByteEncoding.hex(Crypto.sha256(body)))"}"#.utf8))
            let sig = ByteEncoding.base64URL(Crypto.hmac(.sha256, key: secret.bytes, data: Array("\(jose).\(claims)".utf8)))
            return [(header, "\(jose).\(claims).\(sig)")]
        }
    }

    /// A fixed secret for rule-file tests, in the form the scheme needs, and the verifier secret that matches it.
    public static func testSecrets(for scheme: VerificationScheme) -> (signing: Secret, verifying: Secret) {
        switch scheme {
        case .hmac(let h) where h.secretFormat == .standardWebhooks:
            let s = Secret("whsec_" + ByteEncoding.base64(Array("cloudthread-bridge-test-secret!!".utf8)))
            return (s, s)
        case .ed25519:
            let priv = Array(Crypto.sha256(Array("cloudthread-bridge-test-key".utf8)))
            let pub = Crypto.ed25519PublicKey(privateKey: priv) ?? []
            return (Secret("whsk_" + ByteEncoding.base64(priv)), Secret("whpk_" + ByteEncoding.base64(pub)))
        default:
            return (Secret("cloudthread-bridge-test-secret"), Secret("cloudthread-bridge-test-secret"))
        }
    }
}

public struct SignerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
