import BridgeCore
import Foundation

/// How an Azure Event Grid source authenticates deliveries.
public struct EventGridAuth: Sendable, Equatable {
    /// The Microsoft Entra ID tenant (directory id) whose tokens are accepted; empty: shared secret only.
    public var tenant: String
    /// The `aud` of the Entra ID tokens: the application id (URI) set on the event subscription.
    public var audience: String
    /// The query parameter that may carry the shared secret.
    public var parameter: String
    /// The header that may carry the shared secret (a delivery property of the subscription).
    public var header: String

    public init(
        tenant: String = "", audience: String = "", parameter: String = "code", header: String = "X-Webhook-Secret"
    ) {
        self.tenant = tenant
        self.audience = audience
        self.parameter = parameter
        self.header = header
    }

    /// True when deliveries carry an Entra ID bearer token.
    public var usesEntraID: Bool { !tenant.isEmpty }

    /// The tenant's published signing keys.
    public var keysURL: URL? {
        guard usesEntraID, tenant.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }) else {
            return nil
        }
        return URL(string: "https://login.microsoftonline.com/\(tenant)/discovery/v2.0/keys")
    }

    /// The issuers of the tenant's tokens (v2.0 and v1.0 access tokens).
    public var issuers: Set<String> {
        ["https://login.microsoftonline.com/\(tenant)/v2.0", "https://sts.windows.net/\(tenant)/"]
    }
}

/// What an Event Grid delivery is, once verified.
public enum EventGridDelivery: Sendable, Equatable {
    /// The subscription validation handshake (`Microsoft.EventGrid.SubscriptionValidationEvent`): answered with
    /// `{"validationResponse": code}`.
    case validation(code: String)
    /// Events (Event Grid schema array, or CloudEvents: one event or a batch), by id.
    case events(ids: [String])

    public static let validationEventType = "Microsoft.EventGrid.SubscriptionValidationEvent"

    /// Reads the delivery's shape.
    /// - Throws: `VerificationError(.malformedSignature)` when the body is not Event Grid events.
    public static func parse(_ body: [UInt8]) throws -> EventGridDelivery {
        let events: [JSONValue]
        switch try? JSONValue.parse(body) {
        case .array(let list)?: events = list
        case .object(let one)?: events = [.object(one)]
        default: throw VerificationError(.malformedSignature, "the body is not Event Grid events")
        }
        guard !events.isEmpty else { throw VerificationError(.malformedSignature, "the delivery holds no event") }
        var ids: [String] = []
        for event in events {
            guard case .object(let fields) = event, case .string(let id)? = fields["id"], !id.isEmpty else {
                throw VerificationError(.malformedSignature, "an Event Grid event has no id")
            }
            let type = fields["eventType"] ?? fields["type"]
            if type == .string(validationEventType) {
                guard case .object(let data)? = fields["data"], case .string(let code)? = data["validationCode"] else {
                    throw VerificationError(.malformedSignature, "the validation event has no validationCode")
                }
                return .validation(code: code)
            }
            ids.append(id)
        }
        return .events(ids: ids)
    }
}

extension SignatureVerifier {
    /// Verifies an Event Grid delivery's shared secret: the query parameter or the header (either), compared with
    /// each configured secret as SHA-256 digests in constant time.
    func verifyEventGridSecret(_ request: IncomingRequest, auth: EventGridAuth) throws {
        let presented = request.queryValue(auth.parameter) ?? request.headers[auth.header]
        guard let presented, !presented.isEmpty else {
            throw VerificationError(
                .missingCredentials, "neither query parameter '\(auth.parameter)' nor header '\(auth.header)' is set")
        }
        var matched = false
        for secret in secrets where Crypto.secretEquals(Array(presented.utf8), secret.bytes) { matched = true }
        guard matched else { throw VerificationError(.badCredentials, "the Event Grid secret is not accepted") }
    }

    /// Verifies an Event Grid delivery authenticated by Microsoft Entra ID: the `Authorization: Bearer` token (RS256
    /// with one of the tenant's keys from `keys`, issued by the tenant for the source's audience, `tid` the tenant,
    /// not expired, at most two hours' lifetime). Like Pub/Sub's, the token authenticates the sender, not the body.
    public func verifyEventGridToken(_ request: IncomingRequest, keys: JWKSKeyCache, now: Date = Date()) async throws {
        guard case .azureEventGrid(let auth) = scheme, auth.usesEntraID else {
            throw VerificationError(.badSignature, "not an Entra ID Event Grid source")
        }
        if !allowedNetworks.isEmpty {
            guard let address = request.clientAddress, allowedNetworks.contains(where: { $0.contains(address) }) else {
                throw VerificationError(.addressNotAllowed, "client address is not in the allowed networks")
            }
        }
        guard !auth.audience.isEmpty else {
            throw VerificationError(.badCredentials, "the source has no Entra ID audience configured")
        }
        let token = try BearerToken.from(request.headers)
        let policy = BearerTokenPolicy(
            issuers: auth.issuers, audience: auth.audience, skew: 60, maximumLifetime: 2 * 3600, tenant: auth.tenant)
        _ = try await BearerToken.verify(token, keys: keys, policy: policy, now: now)
    }
}
