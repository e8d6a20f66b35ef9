import BridgeCore
import Foundation

/// Verifies one source's webhooks against its scheme and configured secrets.
///
/// Every comparison of a signature or credential goes through `Crypto.constantTimeEquals`
/// (`CRYPTO_memcmp`). Failures say what was wrong in words, never with the expected value.
public struct SignatureVerifier: Sendable {
    public var scheme: VerificationScheme
    public var secrets: [Secret]
    /// Maximum age (and future skew) of a signed timestamp, in seconds.
    public var tolerance: TimeInterval
    public var allowedNetworks: [CIDR]

    public init(
        scheme: VerificationScheme, secrets: [Secret], tolerance: TimeInterval = 300, allowedNetworks: [CIDR] = []
    ) {
        self.scheme = scheme
        self.secrets = secrets
        self.tolerance = tolerance
        self.allowedNetworks = allowedNetworks
    }

    /// Checks `request`; returns normally when it is authentic.
    /// - Parameter now: the current time (injectable for tests of timestamped schemes).
    /// - Throws: `VerificationError`.
    public func verify(_ request: IncomingRequest, now: Date = Date()) throws {
        if !allowedNetworks.isEmpty {
            guard let address = request.clientAddress, allowedNetworks.contains(where: { $0.contains(address) }) else {
                throw VerificationError(.addressNotAllowed, "client address is not in the source's allowed networks")
            }
        }
        switch scheme {
        case .unverified:
            return
        case .hmac(let hmac):
            try verifyHMAC(hmac, request, now: now)
        case .token(let header, let prefix):
            guard let value = request.headers[header] else {
                throw VerificationError(.missingCredentials, "header '\(header)' is missing")
            }
            guard value.count >= prefix.count, ASCIICase.equals(String(value.prefix(prefix.count)), prefix) else {
                throw VerificationError(.badCredentials, "header '\(header)' does not hold the expected token")
            }
            let presented = Array(value.dropFirst(prefix.count).utf8)
            guard anySecretEquals(presented) else {
                throw VerificationError(.badCredentials, "header '\(header)' does not hold the expected token")
            }
        case .queryToken(let parameter):
            guard let value = request.queryValue(parameter), !value.isEmpty else {
                throw VerificationError(.missingCredentials, "query parameter '\(parameter)' is missing")
            }
            guard anySecretEquals(Array(value.utf8)) else {
                throw VerificationError(
                    .badCredentials, "query parameter '\(parameter)' does not hold the expected token")
            }
        case .basic(let user):
            guard let value = request.headers["Authorization"] else {
                throw VerificationError(.missingCredentials, "header 'Authorization' is missing")
            }
            guard value.lowercased().hasPrefix("basic "),
                let decoded = ByteEncoding.fromBase64(value.dropFirst(6).trimmed),
                let colon = decoded.firstIndex(of: UInt8(ascii: ":"))
            else { throw VerificationError(.badCredentials, "the basic credentials are malformed") }
            let presentedUser = Array(decoded[..<colon])
            let presentedPassword = Array(decoded[(colon + 1)...])
            let userOK = Crypto.secretEquals(presentedUser, Array(user.utf8))
            let passwordOK = anySecretEquals(presentedPassword)
            guard userOK && passwordOK else {
                throw VerificationError(.badCredentials, "the basic credentials are not accepted")
            }
        case .ed25519(let header, let idHeader, let timestampHeader):
            try verifyEd25519(request, header: header, idHeader: idHeader, timestampHeader: timestampHeader, now: now)
        case .jws(let header, let issuer):
            try verifyJWS(request, header: header, issuer: issuer)
        case .rsa(let header, let digest, let formField):
            try verifyRSA(request, header: header, digest: digest, formField: formField)
        case .httpSignature(let header):
            try verifyHTTPSignature(request, header: header, now: now)
        case .awsSNS:
            throw VerificationError(
                .certificateUnavailable, "an SNS message is verified with its signing certificate (verifySNS)")
        case .azureEventGrid(let auth):
            guard !auth.usesEntraID else {
                throw VerificationError(
                    .signingKeysUnavailable,
                    "an Entra ID Event Grid delivery is verified with the tenant's keys (verifyEventGridToken)")
            }
            try verifyEventGridSecret(request, auth: auth)
        case .gcpPubSub:
            throw VerificationError(
                .signingKeysUnavailable, "a Pub/Sub push is verified with Google's signing keys (verifyPubSub)")
        case .urlAndForm(let header, let url):
            guard let value = request.headers[header],
                let presented = ByteEncoding.fromBase64(value.trimmed)
            else {
                throw VerificationError(.missingSignature, "signature header '\(header)' is missing or not base64")
            }
            let content = Array(Signer.urlAndFormContent(url: url, body: request.body).utf8)
            var matched = false
            for secret in secrets
            where Crypto.constantTimeEquals(presented, Crypto.hmac(.sha1, key: secret.bytes, data: content)) {
                matched = true
            }
            guard matched else {
                throw VerificationError(.badSignature, "signature in '\(header)' does not match the URL and parameters")
            }
        }
    }

    // MARK: RSA (Travis CI)

    private func verifyRSA(_ request: IncomingRequest, header: String, digest: HMACAlgorithm, formField: String?) throws
    {
        guard let value = request.headers[header],
            let signature = ByteEncoding.fromBase64(value.trimmed)
        else {
            throw VerificationError(.missingSignature, "signature header '\(header)' is missing or not base64")
        }
        var message = request.body
        if let formField {
            guard
                let field = FormDecoding.pairs(String(decoding: request.body, as: UTF8.self)).first(where: {
                    $0.name == formField
                })
            else {
                throw VerificationError(.badSignature, "the signed form field '\(formField)' is missing")
            }
            message = Array(field.value.utf8)
        }
        var matched = false
        for secret in secrets {
            guard let der = Crypto.pemDecode(secret.string) else { continue }
            if Crypto.rsaVerify(publicKeyDER: der, signature: signature, message: message, digest: digest) {
                matched = true
            }
        }
        guard matched else {
            throw VerificationError(
                .badSignature, "signature in '\(header)' does not verify with the configured public keys")
        }
    }

    // MARK: HTTP Signatures (Drone)

    private func verifyHTTPSignature(_ request: IncomingRequest, header: String, now: Date) throws {
        guard let value = request.headers[header], !value.isEmpty else {
            throw VerificationError(.missingSignature, "signature header '\(header)' is missing")
        }
        let params = Signer.httpSignatureParameters(value)
        guard params["algorithm"]?.lowercased() == "hmac-sha256", let sigText = params["signature"],
            let signature = ByteEncoding.fromBase64(sigText)
        else {
            throw VerificationError(
                .malformedSignature, "signature header '\(header)' is not an hmac-sha256 HTTP signature")
        }
        let names = (params["headers"] ?? "date").lowercased().split(separator: " ").map(String.init)
        guard names.contains("digest") else {
            throw VerificationError(
                .malformedSignature, "the HTTP signature does not cover the Digest header, so it does not bind the body"
            )
        }
        var lines: [String] = []
        for name in names {
            if name == "(request-target)" {
                lines.append("(request-target): \(request.method.lowercased()) \(request.path)")
                continue
            }
            guard let v = request.headers[name] else {
                throw VerificationError(.missingSignature, "header '\(name)' covered by the signature is missing")
            }
            lines.append("\(name): \(v)")
        }
        var matched = false
        for secret in secrets
        where Crypto.constantTimeEquals(
            signature, Crypto.hmac(.sha256, key: secret.bytes, data: Array(lines.joined(separator: "\n").utf8)))
        {
            matched = true
        }
        guard matched else {
            throw VerificationError(.badSignature, "signature in '\(header)' does not match the signed headers")
        }
        guard let digest = request.headers["Digest"], digest.hasPrefix("SHA-256="),
            let claimed = ByteEncoding.fromBase64(digest.dropFirst(8)),
            Crypto.constantTimeEquals(claimed, Crypto.sha256(request.body))
        else { throw VerificationError(.badSignature, "the Digest header does not match the body") }
        if names.contains("date"), let date = request.headers["Date"].flatMap(Signer.parseHTTPDate) {
            try checkTimestamp(String(date.timeIntervalSince1970), now: now)
        }
    }

    private func anySecretEquals(_ presented: [UInt8]) -> Bool {
        var matched = false
        for secret in secrets where Crypto.secretEquals(presented, secret.bytes) { matched = true }
        return matched
    }

    // MARK: HMAC

    private func verifyHMAC(_ scheme: HMACScheme, _ request: IncomingRequest, now: Date) throws {
        guard let headerValue = request.headers[scheme.header], !headerValue.isEmpty else {
            throw VerificationError(.missingSignature, "signature header '\(scheme.header)' is missing")
        }
        // Slices of the header's text (a copy of each signature cost an allocation per webhook and per forgery).
        var candidates: [Substring] = []
        var timestamp: String? = scheme.timestampHeader.flatMap { request.headers[$0] }
        switch scheme.format {
        case .single(let prefix):
            let value = headerValue.trimmed
            guard value.hasPrefix(prefix) else {
                throw VerificationError(
                    .malformedSignature, "signature header '\(scheme.header)' lacks the prefix '\(prefix)'")
            }
            candidates = [value.dropFirst(prefix.count)]
        case .list(let separator, let prefix):
            for item in headerValue.components(separatedBy: separator) {
                let entry = item.trimmed
                if entry.hasPrefix(prefix) { candidates.append(entry.dropFirst(prefix.count)) }
            }
        case .parameters(let separator, let signatureKey, let timestampKey):
            for item in headerValue.components(separatedBy: separator) {
                let kv = item.split(separator: "=", maxSplits: 1).map { $0.trimmed }
                guard kv.count == 2 else { continue }
                if kv[0] == signatureKey { candidates.append(Substring(kv[1])) }
                if let timestampKey, kv[0] == timestampKey { timestamp = kv[1] }
            }
        }
        guard !candidates.isEmpty else {
            throw VerificationError(
                .malformedSignature, "signature header '\(scheme.header)' holds no signature of the supported version")
        }
        if scheme.usesTimestamp {
            try checkTimestamp(timestamp, now: now)
        }
        // The signed content, built once (the body itself when only the body is signed, as GitHub's is: no copy).
        var content: [UInt8] = []
        if scheme.signed.count == 1, scheme.signed[0] == .body {
            content = request.body
        } else {
            content.reserveCapacity(request.body.count + 64)
        }
        for part in scheme.signed where !(scheme.signed.count == 1 && part == .body) {
            switch part {
            case .body: content.append(contentsOf: request.body)
            case .timestamp: content.append(contentsOf: (timestamp ?? "").utf8)
            case .literal(let text): content.append(contentsOf: text.utf8)
            case .header(let name):
                guard let value = request.headers[name] else {
                    throw VerificationError(.missingSignature, "header '\(name)' covered by the signature is missing")
                }
                content.append(contentsOf: value.utf8)
            }
        }
        let presented: [[UInt8]] = candidates.compactMap {
            switch scheme.encoding {
            case .hex: ByteEncoding.fromHex($0)
            case .base64: ByteEncoding.fromBase64($0)
            }
        }
        guard !presented.isEmpty else {
            throw VerificationError(
                .malformedSignature, "signature header '\(scheme.header)' is not \(scheme.encoding.rawValue)")
        }
        var matched = false
        for secret in secrets {
            guard let key = secret.key(scheme.secretFormat) else { continue }
            let expected = Crypto.hmac(scheme.algorithm, key: key, data: content)
            for candidate in presented where Crypto.constantTimeEquals(candidate, expected) { matched = true }
        }
        guard matched else {
            throw VerificationError(.badSignature, "signature in '\(scheme.header)' does not match the body")
        }
    }

    private func checkTimestamp(_ value: String?, now: Date) throws {
        guard let value, let seconds = Double(value.trimmed), seconds.isFinite else {
            throw VerificationError(.missingTimestamp, "the signed timestamp is missing or not a number")
        }
        let delta = now.timeIntervalSince1970 - seconds
        if delta > tolerance {
            throw VerificationError(.staleTimestamp, "the signed timestamp is older than \(Int(tolerance)) s")
        }
        if -delta > tolerance {
            throw VerificationError(
                .futureTimestamp, "the signed timestamp is more than \(Int(tolerance)) s in the future")
        }
    }

    // MARK: Ed25519 (Standard Webhooks v1a)

    private func verifyEd25519(
        _ request: IncomingRequest, header: String, idHeader: String, timestampHeader: String, now: Date
    ) throws {
        guard let headerValue = request.headers[header], !headerValue.isEmpty else {
            throw VerificationError(.missingSignature, "signature header '\(header)' is missing")
        }
        guard let id = request.headers[idHeader] else {
            throw VerificationError(.missingSignature, "header '\(idHeader)' covered by the signature is missing")
        }
        let timestamp = request.headers[timestampHeader]
        try checkTimestamp(timestamp, now: now)
        let signatures = headerValue.split(separator: " ").compactMap { entry -> [UInt8]? in
            guard entry.hasPrefix("v1a,") else { return nil }
            return ByteEncoding.fromBase64(entry.dropFirst(4))
        }
        guard !signatures.isEmpty else {
            throw VerificationError(.malformedSignature, "signature header '\(header)' holds no v1a signature")
        }
        let message = Array("\(id).\(timestamp ?? "").".utf8) + request.body
        var matched = false
        for secret in secrets {
            guard let key = secret.key(.standardWebhooks) else { continue }
            for signature in signatures
            where Crypto.ed25519Verify(publicKey: key, signature: signature, message: message) {
                matched = true
            }
        }
        guard matched else {
            throw VerificationError(.badSignature, "signature in '\(header)' does not match the body")
        }
    }

    // MARK: JWS (Netlify)

    private func verifyJWS(_ request: IncomingRequest, header: String, issuer: String) throws {
        guard let token = request.headers[header], !token.isEmpty else {
            throw VerificationError(.missingSignature, "signature header '\(header)' is missing")
        }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = ByteEncoding.fromBase64URL(parts[0]),
            let claimsBytes = ByteEncoding.fromBase64URL(parts[1]),
            let signature = ByteEncoding.fromBase64URL(parts[2]),
            let jose = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any],
            let claims = try? JSONSerialization.jsonObject(with: Data(claimsBytes)) as? [String: Any]
        else { throw VerificationError(.malformedSignature, "signature header '\(header)' is not a compact JWS") }
        guard jose["alg"] as? String == "HS256" else {
            throw VerificationError(
                .malformedSignature, "signature header '\(header)' uses an algorithm other than HS256")
        }
        let signingInput = Array("\(parts[0]).\(parts[1])".utf8)
        var matched = false
        for secret in secrets {
            let expected = Crypto.hmac(.sha256, key: secret.bytes, data: signingInput)
            if Crypto.constantTimeEquals(signature, expected) { matched = true }
        }
        guard matched else { throw VerificationError(.badSignature, "signature in '\(header)' does not verify") }
        guard claims["iss"] as? String == issuer else {
            throw VerificationError(.badSignature, "the JWS issuer is not '\(issuer)'")
        }
        guard let claimed = (claims["sha256"] as? String).flatMap({ ByteEncoding.fromHex($0) }),
            Crypto.constantTimeEquals(claimed, Crypto.sha256(request.body))
        else { throw VerificationError(.badSignature, "the JWS body digest does not match the body") }
    }

    // MARK: Amazon SNS

    /// Verifies an Amazon SNS message: its type header, its topic (403 when not allowed), its signing certificate
    /// (from `certificates`: pre-seeded, cached or fetched over HTTPS from an SNS host only) and its signature.
    /// Returns the parsed message.
    public func verifySNS(
        _ request: IncomingRequest, certificates: SNSCertificateCache, now: Date = Date()
    ) async throws -> SNSMessage {
        guard case .awsSNS(let topics, _) = scheme else {
            throw VerificationError(.badSignature, "not an SNS source")
        }
        if !allowedNetworks.isEmpty {
            guard let address = request.clientAddress, allowedNetworks.contains(where: { $0.contains(address) }) else {
                throw VerificationError(.addressNotAllowed, "client address is not in the allowed networks")
            }
        }
        let message = try SNSMessage.parse(request.body)
        try message.checkHeaders(
            messageType: request.headers["x-amz-sns-message-type"], topicArn: request.headers["x-amz-sns-topic-arn"])
        guard topics.contains(message.topicArn) else {
            throw VerificationError(
                .topicNotAllowed, "topic '\(message.topicArn.prefix(200))' is not accepted by this source")
        }
        let pem = try await certificates.certificate(for: message.signingCertURL)
        try SNSSignature.verify(
            message: message, certificatePEM: pem, policy: .init(allowedTopicArns: Set(topics)), now: now)
        return message
    }
}
