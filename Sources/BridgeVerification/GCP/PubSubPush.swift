import BridgeCore
import Foundation

/// One Google Cloud Pub/Sub push delivery: `{"message": {"data", "attributes", "messageId", "publishTime"},
/// "subscription"}`.
public struct PubSubPush: Sendable, Equatable {
    /// Pub/Sub's id of the message, kept across redeliveries: the dedupe key.
    public var messageId: String
    public var subscription: String
    public var attributes: [String: String]
    /// `message.data` decoded from base64 (empty when absent).
    public var data: [UInt8]

    /// The issuers of Google's OIDC tokens.
    public static let issuers: Set<String> = ["accounts.google.com", "https://accounts.google.com"]

    /// Parses the push envelope.
    /// - Throws: `VerificationError(.malformedSignature)` when the body is not a push envelope.
    public static func parse(_ body: [UInt8]) throws -> PubSubPush {
        guard case .object(let root)? = try? JSONValue.parse(body), case .object(let message)? = root["message"] else {
            throw VerificationError(.malformedSignature, "the body is not a Pub/Sub push envelope")
        }
        guard case .string(let messageId)? = message["messageId"] ?? message["message_id"], !messageId.isEmpty else {
            throw VerificationError(.malformedSignature, "the Pub/Sub message has no messageId")
        }
        guard case .string(let subscription)? = root["subscription"] else {
            throw VerificationError(.malformedSignature, "the Pub/Sub push envelope names no subscription")
        }
        var attributes: [String: String] = [:]
        if case .object(let a)? = message["attributes"] {
            for (k, v) in a { if case .string(let s) = v { attributes[k] = s } }
        }
        var data: [UInt8] = []
        if case .string(let text)? = message["data"] {
            guard let decoded = ByteEncoding.fromBase64(text) else {
                throw VerificationError(.malformedSignature, "the Pub/Sub message's data is not base64")
            }
            data = decoded
        }
        return PubSubPush(messageId: messageId, subscription: subscription, attributes: attributes, data: data)
    }
}

extension SignatureVerifier {
    /// Verifies a Pub/Sub push: the `Authorization: Bearer` OIDC token (RS256 with one of Google's keys from
    /// `keys`, issuer Google, audience the source's `audience`, not expired, an issue time not in the future, at
    /// most an hour's lifetime, a verified `email` among the source's service accounts). The envelope is parsed
    /// afterwards (`PubSubPush.parse`): a verified sender's malformed body is not a forgery.
    ///
    /// The token authenticates the sender, not the body: it signs no part of the message.
    public func verifyPubSub(_ request: IncomingRequest, keys: JWKSKeyCache, now: Date = Date()) async throws {
        guard case .gcpPubSub(let audience, let serviceAccounts) = scheme else {
            throw VerificationError(.badSignature, "not a Pub/Sub source")
        }
        if !allowedNetworks.isEmpty {
            guard let address = request.clientAddress, allowedNetworks.contains(where: { $0.contains(address) }) else {
                throw VerificationError(.addressNotAllowed, "client address is not in the allowed networks")
            }
        }
        let token = try BearerToken.from(request.headers)
        let policy = BearerTokenPolicy(
            issuers: PubSubPush.issuers, audience: audience, skew: 60, maximumLifetime: 3600, emails: serviceAccounts)
        guard !audience.isEmpty, !serviceAccounts.isEmpty else {
            throw VerificationError(.badCredentials, "the source has no audience or no service account configured")
        }
        _ = try await BearerToken.verify(token, keys: keys, policy: policy, now: now)
    }
}
