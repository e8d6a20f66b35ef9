import BridgeCore
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
    public func headers(for body: [UInt8], existing: HeaderBag = HeaderBag(), now: Date = Date(), id: String? = nil)
        throws -> [(name: String, value: String)]
    {
        let timestamp = String(Int(now.timeIntervalSince1970))
        switch scheme {
        case .unverified:
            return []
        case .awsSNS:
            throw SignerError("Amazon SNS messages are signed by AWS with its certificate; they cannot be signed here")
        case .azureEventGrid(let auth):
            guard !auth.usesEntraID else {
                throw SignerError("Entra ID tokens are issued by Microsoft; they cannot be signed here")
            }
            return [(auth.header, secret.string)]
        case .gcpPubSub:
            throw SignerError("Pub/Sub push tokens are signed by Google with its keys; they cannot be signed here")
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
                    let value =
                        existing[name] ?? id
                        ?? "msg_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
                    if existing[name] == nil { out.append((name, value)) }
                    content += Array(value.utf8)
                }
            }
            guard let key = secret.key(h.secretFormat) else {
                throw SignerError("the secret is not in the \(h.secretFormat.rawValue) format")
            }
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
            let msgId =
                existing[idHeader] ?? id
                ?? "msg_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
            guard let sig = Crypto.ed25519Sign(privateKey: key, message: Array("\(msgId).\(timestamp).".utf8) + body)
            else {
                throw SignerError("Ed25519 signing failed")
            }
            var out: [(String, String)] = []
            if existing[idHeader] == nil { out.append((idHeader, msgId)) }
            out.append((timestampHeader, timestamp))
            out.append((header, "v1a," + ByteEncoding.base64(sig)))
            return out
        case .rsa(let header, let digest, let formField):
            guard let der = Crypto.pemDecode(secret.string) else {
                throw SignerError("an RSA signing secret must be a PEM private key")
            }
            var message = body
            if let formField {
                guard
                    let field = FormDecoding.pairs(String(decoding: body, as: UTF8.self)).first(where: {
                        $0.name == formField
                    })
                else {
                    throw SignerError("the body has no form field '\(formField)' to sign")
                }
                message = Array(field.value.utf8)
            }
            guard let sig = Crypto.rsaSign(privateKeyDER: der, message: message, digest: digest) else {
                throw SignerError("RSA signing failed")
            }
            return [(header, ByteEncoding.base64(sig))]
        case .httpSignature(let header):
            let date = existing["Date"] ?? Signer.httpDate(now)
            let digest = "SHA-256=" + ByteEncoding.base64(Crypto.sha256(body))
            let signing = "date: \(date)\ndigest: \(digest)"
            let sig = ByteEncoding.base64(Crypto.hmac(.sha256, key: secret.bytes, data: Array(signing.utf8)))
            var out: [(String, String)] = []
            if existing["Date"] == nil { out.append(("Date", date)) }
            out.append(("Digest", digest))
            out.append(
                (header, "keyId=\"hmac-key\",algorithm=\"hmac-sha256\",signature=\"\(sig)\",headers=\"date digest\""))
            return out
        case .urlAndForm(let header, let url):
            let content = Array(Signer.urlAndFormContent(url: url, body: body).utf8)
            return [(header, ByteEncoding.base64(Crypto.hmac(.sha1, key: secret.bytes, data: content)))]
        case .jws(let header, let issuer):
            let jose = ByteEncoding.base64URL(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
            let claims = ByteEncoding.base64URL(
                Array(#"{"iss":"\#(issuer)","sha256":"\#(ByteEncoding.hex(Crypto.sha256(body)))"}"#.utf8))
            let sig = ByteEncoding.base64URL(
                Crypto.hmac(.sha256, key: secret.bytes, data: Array("\(jose).\(claims)".utf8)))
            return [(header, "\(jose).\(claims).\(sig)")]
        }
    }

    /// A fixed secret for rule-file tests, in the form the scheme needs, and the verifier secret that matches it.
    public static func testSecrets(for scheme: VerificationScheme) -> (signing: Secret, verifying: Secret) {
        switch scheme {
        case .hmac(let h) where h.secretFormat == .standardWebhooks:
            let s = Secret("whsec_" + ByteEncoding.base64(Array("cloudthread-bridge-test-secret!!".utf8)))
            return (s, s)
        case .rsa:
            guard let pair = testRSAKey else { return (Secret(""), Secret("")) }
            return (
                Secret(Crypto.pemEncode(pair.privateDER, label: "PRIVATE KEY")),
                Secret(Crypto.pemEncode(pair.publicDER, label: "PUBLIC KEY"))
            )
        case .ed25519:
            let priv = Array(Crypto.sha256(Array("cloudthread-bridge-test-key".utf8)))
            let pub = Crypto.ed25519PublicKey(privateKey: priv) ?? []
            return (Secret("whsk_" + ByteEncoding.base64(priv)), Secret("whpk_" + ByteEncoding.base64(pub)))
        default:
            return (Secret("cloudthread-bridge-test-secret"), Secret("cloudthread-bridge-test-secret"))
        }
    }
}

extension Signer {
    /// A key pair generated once per process for rule-file tests of RSA sources.
    static let testRSAKey = Crypto.rsaGenerate()

    /// Splunk On-Call's signed string: the URL, then each form parameter's key and value, sorted by key.
    static func urlAndFormContent(url: String, body: [UInt8]) -> String {
        let pairs = FormDecoding.pairs(String(decoding: body, as: UTF8.self)).enumerated().sorted {
            $0.element.name == $1.element.name ? $0.offset < $1.offset : $0.element.name < $1.element.name
        }
        return url + pairs.map { $0.element.name + $0.element.value }.joined()
    }

    /// `key="value",key2="value2"` parameters of an HTTP Signature header.
    static func httpSignatureParameters(_ value: String) -> [String: String] {
        var out: [String: String] = [:]
        var rest = Substring(value)
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " || $0 == "," }
            guard let eq = rest.firstIndex(of: "=") else { break }
            let key = rest[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            rest = rest[rest.index(after: eq)...]
            if rest.first == "\"" {
                rest = rest.dropFirst()
                let end = rest.firstIndex(of: "\"") ?? rest.endIndex
                out[key] = String(rest[..<end])
                rest = end < rest.endIndex ? rest[rest.index(after: end)...] : ""
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                out[key] = String(rest[..<end])
                rest = rest[end...]
            }
        }
        return out
    }

    static func httpDateFormatter() -> DateFormatter {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return f
    }

    /// By hand (`HTTPDate`); the formatter only for what that does not handle exactly (a year outside 1...9999,
    /// a date not in the IMF-fixdate form), so the answers are the formatter's.
    static func httpDate(_ date: Date) -> String { HTTPDate.format(date) ?? httpDateFormatter().string(from: date) }
    static func parseHTTPDate(_ text: String) -> Date? { HTTPDate.parse(text) ?? httpDateFormatter().date(from: text) }
}
