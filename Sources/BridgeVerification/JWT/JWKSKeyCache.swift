import Foundation
import JWTKit

/// The RS256 signing keys an identity provider publishes as a JSON Web Key Set (Google's OIDC certificates,
/// Microsoft Entra ID's tenant keys), by `kid`.
///
/// Where the keys come from:
/// - a pre-seeded file (`GCP_JWKS_FILE`, `AZURE_JWKS_FILE`): read once at start, then nothing is ever fetched
///   (air-gapped installations; the operator refreshes the file and restarts or reloads);
/// - otherwise `fetch`, over HTTPS from the one fixed `url` only, cached for the answer's `Cache-Control` max-age
///   (between one minute and one day; one hour without one).
///
/// Outbound fetches are limited for the whole cache, whoever causes them: at most one start per
/// `minimumRefreshInterval` (60 s), whether it is an expiry or an unknown `kid` (which anyone can put in a token)
/// that asks for it, and whether it succeeds or not; concurrent callers await the same fetch. Within that minute an
/// unknown `kid` is refused, and expired keys stay in use until the next allowed fetch has replaced them.
///
/// Only RSA keys of at least 2048 bits with a `kid` (and `alg` RS256 or none, `use` sig or none) are kept, each
/// pinned to RS256: a token naming another algorithm never reaches a key.
public actor JWKSKeyCache {
    /// What a fetch returned: the body and the `Cache-Control` header.
    public struct Fetched: Sendable {
        public var body: [UInt8]
        public var cacheControl: String?
        public init(body: [UInt8], cacheControl: String?) {
            self.body = body
            self.cacheControl = cacheControl
        }
    }

    public typealias Fetch = @Sendable (URL) async throws -> Fetched

    /// Google's OIDC signing keys (the issuer of Pub/Sub push tokens).
    public static let googleCertificatesURL = URL(string: "https://www.googleapis.com/oauth2/v3/certs")!
    /// Largest key set accepted, in bytes.
    public static let maximumSize = 64 * 1024
    /// Keys kept from one key set at most.
    public static let maximumKeys = 32

    /// The provider, for messages ("Google").
    public nonisolated let provider: String
    public nonisolated let url: URL
    /// True when the keys come from a pre-seeded file: nothing is fetched.
    public nonisolated let seeded: Bool
    public nonisolated let minimumRefreshInterval: TimeInterval
    private let fetch: Fetch?
    private let clock: @Sendable () -> Date

    private var collection = JWTKeyCollection()
    private var kids: Set<String> = []
    private var expiresAt: Date = .distantPast
    private var lastFetchStart: Date = .distantPast
    private var inFlight: Task<Void, any Error>?

    /// Fetches started (for tests and metrics).
    public private(set) var fetchCount = 0

    /// - Parameters:
    ///   - provider: the provider's name, for messages.
    ///   - url: where the key set is fetched from; must be HTTPS.
    ///   - seedFile: a JWKS file used instead of fetching (air-gapped); read now.
    ///   - fetch: downloads `url` (no redirects, short timeout, body bounded); nil fetches nothing.
    /// - Throws: `JWKSError` when `url` is not HTTPS or the seed file cannot be read or holds no usable key.
    public init(
        provider: String, url: URL, seedFile: String? = nil, minimumRefreshInterval: TimeInterval = 60,
        now: @escaping @Sendable () -> Date = { Date() }, fetch: Fetch?
    ) async throws {
        guard url.scheme?.lowercased() == "https", url.host != nil else {
            throw JWKSError("the \(provider) key set URL must be HTTPS")
        }
        self.provider = provider
        self.url = url
        self.minimumRefreshInterval = minimumRefreshInterval
        self.clock = now
        self.fetch = fetch
        if let seedFile {
            self.seeded = true
            guard let handle = FileHandle(forReadingAtPath: seedFile) else {
                throw JWKSError("the \(provider) key set file '\(seedFile)' cannot be read")
            }
            defer { try? handle.close() }
            let data = (try? handle.read(upToCount: Self.maximumSize + 1)) ?? Data()
            guard data.count <= Self.maximumSize else {
                throw JWKSError("the \(provider) key set file '\(seedFile)' is larger than \(Self.maximumSize) bytes")
            }
            let keys = try Self.usableKeys([UInt8](data), provider: provider)
            try await install(keys, expiresAt: .distantFuture)
        } else {
            self.seeded = false
        }
    }

    /// The keys a token whose header names `kid` is checked with.
    /// - Throws: `VerificationError`: `.badSignature` for a `kid` the provider does not publish (or not yet, within
    ///   the minute after a fetch), `.signingKeysUnavailable` when no key set could be had (503: the sender retries).
    func keys(for kid: String) async throws -> JWTKeyCollection {
        if kids.contains(kid), seeded || clock() < expiresAt { return collection }
        var failed = false
        if !seeded {
            if let inFlight {
                do { try await inFlight.value } catch { failed = true }
            } else if clock().timeIntervalSince(lastFetchStart) >= minimumRefreshInterval, let fetch {
                lastFetchStart = clock()
                fetchCount += 1
                let url = self.url
                let provider = self.provider
                let task = Task {
                    let fetched: Fetched
                    do { fetched = try await fetch(url) } catch {
                        throw JWKSError("fetching the \(provider) signing keys failed")
                    }
                    guard fetched.body.count <= Self.maximumSize else {
                        throw JWKSError("the \(provider) key set is larger than \(Self.maximumSize) bytes")
                    }
                    let keys = try Self.usableKeys(fetched.body, provider: provider)
                    try await self.install(
                        keys, expiresAt: self.clock().addingTimeInterval(Self.maxAge(fetched.cacheControl)))
                }
                inFlight = task
                do { try await task.value } catch { failed = true }
                inFlight = nil
            }
        }
        if kids.contains(kid) { return collection }
        if kids.isEmpty || failed {
            throw VerificationError(
                .signingKeysUnavailable, "the \(provider) signing keys cannot be had right now")
        }
        throw VerificationError(.badSignature, "the token's key id is not one of \(provider)'s signing keys")
    }

    /// Key ids known now (for tests).
    public var knownKeyIds: Set<String> { kids }

    private func install(_ keys: [(kid: String, key: Insecure.RSA.PublicKey)], expiresAt: Date) async throws {
        let fresh = JWTKeyCollection()
        for k in keys {
            await fresh.add(rsa: k.key, digestAlgorithm: .sha256, kid: JWKIdentifier(string: k.kid))
        }
        collection = fresh
        kids = Set(keys.map(\.kid))
        self.expiresAt = expiresAt
    }

    /// The `Cache-Control` max-age in seconds, between one minute and one day; one hour when absent.
    static func maxAge(_ cacheControl: String?) -> TimeInterval {
        guard let cacheControl else { return 3600 }
        for directive in cacheControl.split(separator: ",") {
            let parts = directive.split(separator: "=", maxSplits: 1).map {
                $0.trimmingCharacters(in: .whitespaces).lowercased()
            }
            if parts.count == 2, parts[0] == "max-age", let seconds = Int(parts[1].trimmingCharacters(in: ["\""])) {
                return TimeInterval(min(max(seconds, 60), 86400))
            }
        }
        return 3600
    }

    /// The RS256-capable RSA keys of a JWKS document.
    static func usableKeys(_ body: [UInt8], provider: String) throws -> [(kid: String, key: Insecure.RSA.PublicKey)] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
            let list = object["keys"] as? [Any]
        else { throw JWKSError("the \(provider) key set is not a JSON Web Key Set") }
        var keys: [(kid: String, key: Insecure.RSA.PublicKey)] = []
        for case let entry as [String: Any] in list {
            guard entry["kty"] as? String == "RSA",
                let kid = entry["kid"] as? String, !kid.isEmpty, kid.utf8.count <= 256,
                (entry["alg"] as? String).map({ $0 == "RS256" }) ?? true,
                (entry["use"] as? String).map({ $0 == "sig" }) ?? true,
                let n = entry["n"] as? String, let e = entry["e"] as? String,
                let modulus = ByteEncoding.fromBase64URL(n), modulus.drop(while: { $0 == 0 }).count >= 256,
                let key = try? Insecure.RSA.PublicKey(modulus: n, exponent: e)
            else { continue }
            keys.append((kid, key))
            if keys.count == maximumKeys { break }
        }
        guard !keys.isEmpty else {
            throw JWKSError("the \(provider) key set holds no RSA key of at least 2048 bits for RS256")
        }
        return keys
    }
}

/// A key set that cannot be used: the sentence says why.
public struct JWKSError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
