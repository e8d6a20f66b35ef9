import BridgeCore
import Foundation
import JWTKit

/// The claims of an OIDC / Entra ID bearer token that the bridge reads. Decoding is lenient about claims it does not
/// need; every check is made by `BearerToken.check`, explicitly, not by the payload type.
struct BearerClaims: JWTPayload {
    var iss: String?
    var aud: AudienceClaim?
    var exp: Double?
    var iat: Double?
    var nbf: Double?
    var email: String?
    var emailVerified: Bool?
    var tid: String?

    enum CodingKeys: String, CodingKey {
        case iss, aud, exp, iat, nbf, email, tid
        case emailVerified = "email_verified"
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        iss = try? c.decode(String.self, forKey: .iss)
        aud = try? c.decode(AudienceClaim.self, forKey: .aud)
        exp = try? c.decode(Double.self, forKey: .exp)
        iat = try? c.decode(Double.self, forKey: .iat)
        nbf = try? c.decode(Double.self, forKey: .nbf)
        email = try? c.decode(String.self, forKey: .email)
        tid = try? c.decode(String.self, forKey: .tid)
        // Google sends a JSON boolean; a string "true" is read the same way, anything else is not verified.
        if let b = try? c.decode(Bool.self, forKey: .emailVerified) {
            emailVerified = b
        } else if let s = try? c.decode(String.self, forKey: .emailVerified) {
            emailVerified = s == "true"
        }
    }

    /// The checks are ours (`BearerToken.check`), so that each one is visible and tested; jwt-kit checks the
    /// signature only.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// What the claims of a bearer token must say.
public struct BearerTokenPolicy: Sendable, Equatable {
    /// Accepted `iss` values (exact).
    public var issuers: Set<String>
    /// The `aud` that must be the token's audience: a string equal to it, or a list holding it and nothing else.
    public var audience: String
    /// Clock skew allowed on `exp`, `iat` and `nbf`, in seconds.
    public var skew: TimeInterval
    /// The longest lifetime (`exp` - `iat`) accepted, in seconds.
    public var maximumLifetime: TimeInterval
    /// When not empty: `email` must be one of these (compared in lower case) and `email_verified` true.
    public var emails: [String]
    /// When set: `tid` must equal it.
    public var tenant: String?

    public init(
        issuers: Set<String>, audience: String, skew: TimeInterval = 60, maximumLifetime: TimeInterval = 3600,
        emails: [String] = [], tenant: String? = nil
    ) {
        self.issuers = issuers
        self.audience = audience
        self.skew = skew
        self.maximumLifetime = maximumLifetime
        self.emails = emails
        self.tenant = tenant
    }
}

/// An `Authorization: Bearer` JWT checked against a provider's published keys.
public enum BearerToken {
    /// Largest token accepted, in bytes.
    public static let maximumSize = 8 * 1024

    /// The token in `Authorization: Bearer <token>`.
    /// - Throws: `VerificationError(.missingCredentials)` when there is none.
    public static func from(_ headers: HeaderBag) throws -> String {
        guard let value = headers["Authorization"], value.count > 7, value.prefix(7).lowercased() == "bearer " else {
            throw VerificationError(.missingCredentials, "header 'Authorization' holds no bearer token")
        }
        return String(value.dropFirst(7)).trimmed
    }

    /// Verifies `token`: its header (`alg` RS256 exactly, so `none` and HS256 are refused before any key is looked
    /// at; a `kid` that `keys` knows), its RS256 signature (jwt-kit) and its claims (`policy`).
    /// - Returns: the verified claims.
    /// - Throws: `VerificationError`.
    static func verify(
        _ token: String, keys: JWKSKeyCache, policy: BearerTokenPolicy, now: Date
    ) async throws -> BearerClaims {
        guard token.utf8.count <= maximumSize else {
            throw VerificationError(.malformedSignature, "the bearer token is larger than \(maximumSize) bytes")
        }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = ByteEncoding.fromBase64URL(parts[0]),
            case .object(let header)? = try? JSONValue.parse(headerBytes)
        else { throw VerificationError(.malformedSignature, "the bearer token is not a compact JWT") }
        guard case .string(let alg)? = header["alg"], alg == "RS256" else {
            throw VerificationError(.badSignature, "the bearer token is not signed with RS256")
        }
        guard case .string(let kid)? = header["kid"], !kid.isEmpty else {
            throw VerificationError(.badSignature, "the bearer token names no key id")
        }
        if let typ = header["typ"], typ != .string("JWT") {
            throw VerificationError(.malformedSignature, "the bearer token's type is not JWT")
        }
        let collection = try await keys.keys(for: kid)
        let claims: BearerClaims
        do {
            claims = try await collection.verify(token, as: BearerClaims.self)
        } catch {
            throw VerificationError(.badSignature, "the bearer token's signature does not verify")
        }
        try check(claims, policy: policy, now: now)
        return claims
    }

    /// The claim checks, each with its own sentence.
    static func check(_ claims: BearerClaims, policy: BearerTokenPolicy, now: Date) throws {
        guard let iss = claims.iss, policy.issuers.contains(iss) else {
            throw VerificationError(.badCredentials, "the bearer token's issuer is not accepted")
        }
        let audiences = claims.aud?.value ?? []
        guard audiences == [policy.audience] else {
            throw VerificationError(.badCredentials, "the bearer token's audience is not this source's audience")
        }
        let t = now.timeIntervalSince1970
        guard let exp = claims.exp, exp.isFinite else {
            throw VerificationError(.badCredentials, "the bearer token has no expiry")
        }
        guard t <= exp + policy.skew else {
            throw VerificationError(.staleTimestamp, "the bearer token has expired")
        }
        guard let iat = claims.iat, iat.isFinite else {
            throw VerificationError(.badCredentials, "the bearer token has no issue time")
        }
        guard iat <= t + policy.skew, claims.nbf.map({ $0 <= t + policy.skew }) ?? true else {
            throw VerificationError(.futureTimestamp, "the bearer token is not valid yet")
        }
        guard exp > iat, exp - iat <= policy.maximumLifetime else {
            throw VerificationError(
                .badCredentials,
                "the bearer token's lifetime is longer than \(Int(policy.maximumLifetime)) s")
        }
        if let tenant = policy.tenant, claims.tid != tenant {
            throw VerificationError(.badCredentials, "the bearer token is not from this source's tenant")
        }
        if !policy.emails.isEmpty {
            guard claims.emailVerified == true else {
                throw VerificationError(.badCredentials, "the bearer token's email is not verified")
            }
            guard let email = claims.email?.lowercased(), policy.emails.contains(where: { $0.lowercased() == email })
            else {
                throw VerificationError(.badCredentials, "the bearer token's service account is not accepted")
            }
        }
    }
}
