import Foundation

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
    /// Amazon SNS: the message's own signature (SignatureVersion 1 or 2) checked with the certificate at its
    /// `SigningCertURL` (an SNS host over HTTPS only), from topics in `topics` only. Confirmation requests are
    /// answered 200 and, with `confirmSubscriptions`, confirmed by visiting their `SubscribeURL` once.
    case awsSNS(topics: [String], confirmSubscriptions: Bool)
    /// Google Cloud Pub/Sub push with authentication: the `Authorization: Bearer` OIDC token signed by Google
    /// (RS256, Google's published keys), for `audience`, from one of `serviceAccounts` (verified emails).
    case gcpPubSub(audience: String, serviceAccounts: [String])
    /// Azure Event Grid webhook delivery: a Microsoft Entra ID bearer token (the tenant's keys, its audience) when a
    /// tenant is set, else a shared secret (the source's secrets) in a query parameter or a header.
    case azureEventGrid(EventGridAuth)
    /// No verification, which a rule file must declare explicitly.
    case unverified
}

extension VerificationScheme {
    /// The headers this scheme reads a credential from (a signature, a token, a password), whatever their names:
    /// their values are masked wherever a request is kept or shown, like the headers whose names say they are
    /// secret.
    public var credentialHeaders: [String] {
        switch self {
        case .hmac(let scheme): return [scheme.header]
        case .token(let header, _): return [header]
        case .basic: return ["Authorization"]
        case .ed25519(let header, _, _): return [header]
        case .jws(let header, _): return [header]
        case .rsa(let header, _, _): return [header]
        case .httpSignature(let header): return [header, "Signature", "Authorization"]
        case .urlAndForm(let header, _): return [header]
        case .gcpPubSub: return ["Authorization"]
        case .azureEventGrid(let auth): return [auth.header, "Authorization"]
        case .queryToken, .awsSNS, .unverified: return []
        }
    }
}
