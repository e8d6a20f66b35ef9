import Foundation

/// Key sets by URL (one per Microsoft Entra ID tenant named in the rule files), made on first use and kept: each is
/// a `JWKSKeyCache` with its own limit of one fetch a minute. A seed file applies to every tenant (air-gapped:
/// `AZURE_JWKS_FILE`, then nothing is fetched). At most `maximumEntries` key sets: the URLs come from rule files,
/// never from requests.
public actor JWKSDirectory {
    public nonisolated let provider: String
    public nonisolated let seedFile: String?
    public nonisolated let maximumEntries: Int
    private let fetch: JWKSKeyCache.Fetch?
    private var caches: [URL: JWKSKeyCache] = [:]

    public init(provider: String, seedFile: String?, maximumEntries: Int = 32, fetch: JWKSKeyCache.Fetch?) {
        self.provider = provider
        self.seedFile = seedFile
        self.maximumEntries = maximumEntries
        self.fetch = fetch
    }

    /// The key set at `url`.
    /// - Throws: `VerificationError(.signingKeysUnavailable)` when it cannot be made (too many, or an unusable seed).
    public func keys(at url: URL) async throws -> JWKSKeyCache {
        if let cache = caches[url] { return cache }
        guard caches.count < maximumEntries else {
            throw VerificationError(.signingKeysUnavailable, "too many \(provider) key sets are configured")
        }
        do {
            let cache = try await JWKSKeyCache(provider: provider, url: url, seedFile: seedFile, fetch: fetch)
            caches[url] = cache
            return cache
        } catch {
            throw VerificationError(.signingKeysUnavailable, "the \(provider) key set cannot be used: \(error)")
        }
    }
}
