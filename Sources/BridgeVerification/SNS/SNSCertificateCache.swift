import Foundation

/// Signing certificates of Amazon SNS, by `SigningCertURL`.
///
/// Lookup order for a URL that passes `SNSCertificateURL.validateSigningCertURL`:
/// 1. memory;
/// 2. the pre-seeded directory (`AWS_SNS_CERT_DIR`), file named by the URL's last path segment, used as is
///    and never fetched (an unusable seeded file is an error, not a reason to fetch);
/// 3. the persistent directory (under the bridge's data directory), file `<host>_<last segment>`;
/// 4. the injected `fetch` closure, at most once at a time per URL: concurrent callers await the same task.
///
/// A fetched body is cached (memory and disk) only when it is at most `maximumSize` bytes, a PEM
/// `CERTIFICATE` block, and a readable certificate with an RSA key of at least 2048 bits. Nothing in the
/// verification path removes an entry: a message whose signature fails does not cause a refetch (that would
/// let anyone make the bridge fetch on demand). A failed fetch is remembered for `failureCooldown` so that a
/// flood of messages naming a missing certificate causes one fetch per cooldown, not one per message; at most
/// `maximumFailures` failures are remembered (the oldest give way). Fetches are bounded for the whole cache:
/// at most `fetchesPerMinute` in a minute (fixed windows), so a flood of new well-formed URLs on SNS hosts costs
/// a bounded number of outbound requests; past it, `certificateBudgetSpent` until the minute ends.
public actor SNSCertificateCache {
    public typealias Fetch = @Sendable (URL) async throws -> [UInt8]

    public nonisolated let persistentDirectory: String?
    public nonisolated let seedDirectory: String?
    public nonisolated let maximumSize: Int
    public nonisolated let failureCooldown: TimeInterval
    /// Memory entries kept at most; beyond it the memory cache is emptied (disk entries stay).
    public nonisolated let maximumEntries: Int
    /// Failed URLs remembered at most (each for `failureCooldown`).
    public nonisolated let maximumFailures: Int
    /// Outbound fetches allowed per minute (per `fetchWindowLength` seconds), for all URLs together.
    public nonisolated let fetchesPerMinute: Int
    /// The budget's window in seconds (60; longer in tests, so a slow run cannot cross it).
    public nonisolated let fetchWindowLength: TimeInterval
    private let fetch: Fetch
    private var fetchWindow: (start: Date, count: Int) = (.distantPast, 0)

    private var memory: [String: [UInt8]] = [:]
    private var inFlight: [String: Task<[UInt8], any Error>] = [:]
    private var recentFailures: [String: (until: Date, error: VerificationError)] = [:]

    /// Counters for tests and metrics.
    public private(set) var fetchCount = 0
    public private(set) var seedHits = 0
    public private(set) var diskHits = 0

    /// - Parameters:
    ///   - persistentDirectory: where fetched certificates are written (e.g. `$BRIDGE_DATA_DIR/sns-certificates`);
    ///     nil keeps them in memory only. Created on first write.
    ///   - seedDirectory: read-only directory of operator-provided PEM files (`AWS_SNS_CERT_DIR`).
    ///   - maximumSize: largest certificate body accepted, in bytes.
    ///   - fetch: downloads a URL (the bridge wires AsyncHTTPClient here; it should itself stop reading past
    ///     `maximumSize`, follow no redirects and use a short timeout).
    public init(
        persistentDirectory: String?, seedDirectory: String? = nil, maximumSize: Int = 64 * 1024,
        failureCooldown: TimeInterval = 60, maximumEntries: Int = 256, maximumFailures: Int = 1024,
        fetchesPerMinute: Int = 20, fetchWindowLength: TimeInterval = 60, fetch: @escaping Fetch
    ) {
        self.fetchWindowLength = fetchWindowLength
        self.maximumFailures = max(1, maximumFailures)
        self.fetchesPerMinute = max(1, fetchesPerMinute)
        self.persistentDirectory = persistentDirectory
        self.seedDirectory = seedDirectory
        self.maximumSize = maximumSize
        self.failureCooldown = failureCooldown
        self.maximumEntries = maximumEntries
        self.fetch = fetch
    }

    /// Reads `AWS_SNS_CERT_DIR` from the environment (empty means unset).
    public static func seedDirectoryFromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> String? {
        environment["AWS_SNS_CERT_DIR"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The PEM bytes of the certificate at `signingCertURL`.
    /// - Throws: `VerificationError` (`.badSignature` with the reason: URL refused, seeded file unusable,
    ///   fetch failed, body too large or not a certificate).
    public func certificate(for signingCertURL: String) async throws -> [UInt8] {
        let validated: SNSCertificateURL.Validated
        switch SNSCertificateURL.validateSigningCertURL(signingCertURL) {
        case .success(let v): validated = v
        case .failure(let refusal): throw VerificationError(.badSignature, "SigningCertURL refused: \(refusal)")
        }
        let key = validated.string
        if let pem = memory[key] { return pem }
        if let task = inFlight[key] { return try await task.value }
        if let failure = recentFailures[key] {
            if failure.until > Date() { throw failure.error }
            recentFailures[key] = nil
        }
        let task = Task { try await self.load(validated) }
        inFlight[key] = task
        defer { inFlight[key] = nil }
        do {
            let pem = try await task.value
            remember(key, pem)
            return pem
        } catch let error as VerificationError {
            // A spent budget says nothing about the URL: it is tried again once the minute ends.
            if error.reason != .certificateBudgetSpent { rememberFailure(key, error) }
            throw error
        }
    }

    /// Remembers a failed URL for `failureCooldown`, keeping at most `maximumFailures` (expired ones first, then
    /// the oldest give way).
    private func rememberFailure(_ key: String, _ error: VerificationError) {
        let now = Date()
        if recentFailures.count >= maximumFailures {
            recentFailures = recentFailures.filter { $0.value.until > now }
            while recentFailures.count >= maximumFailures,
                let oldest = recentFailures.min(by: { $0.value.until < $1.value.until })?.key
            {
                recentFailures.removeValue(forKey: oldest)
            }
        }
        recentFailures[key] = (now.addingTimeInterval(failureCooldown), error)
    }

    /// Failed URLs remembered now (for tests).
    public var rememberedFailures: Int { recentFailures.count }

    /// Takes one fetch from this minute's budget, or throws `certificateBudgetSpent`.
    private func takeFetchFromBudget() throws {
        let now = Date()
        if now.timeIntervalSince(fetchWindow.start) >= fetchWindowLength { fetchWindow = (now, 0) }
        guard fetchWindow.count < fetchesPerMinute else {
            throw VerificationError(
                .certificateBudgetSpent,
                "the bridge fetches at most \(fetchesPerMinute) SNS signing certificates a minute; this one waits")
        }
        fetchWindow.count += 1
    }

    private func remember(_ key: String, _ pem: [UInt8]) {
        if memory.count >= maximumEntries { memory.removeAll() }
        memory[key] = pem
    }

    private func load(_ url: SNSCertificateURL.Validated) async throws -> [UInt8] {
        guard let name = url.fileName else { throw VerificationError(.badSignature, "SigningCertURL has no file name") }
        if let seedDirectory {
            let path = (seedDirectory as NSString).appendingPathComponent(name)
            if let bytes = Self.readFile(path, limit: maximumSize) {
                guard Self.isUsableCertificate(bytes) else {
                    throw VerificationError(
                        .badSignature, "the pre-seeded certificate file '\(name)' is not a usable PEM certificate")
                }
                seedHits += 1
                return bytes
            }
        }
        let persistedName = Self.persistedFileName(host: url.host, fileName: name)
        if let persistentDirectory {
            let path = (persistentDirectory as NSString).appendingPathComponent(persistedName)
            // A damaged file on disk is ignored and replaced by a fresh fetch.
            if let bytes = Self.readFile(path, limit: maximumSize), Self.isUsableCertificate(bytes) {
                diskHits += 1
                return bytes
            }
        }
        try takeFetchFromBudget()
        fetchCount += 1
        let body: [UInt8]
        do {
            body = try await fetch(url.url)
        } catch {
            throw VerificationError(.certificateUnavailable, "fetching the SNS signing certificate failed")
        }
        guard body.count <= maximumSize else {
            throw VerificationError(.badSignature, "the SNS signing certificate is larger than \(maximumSize) bytes")
        }
        guard Self.isUsableCertificate(body) else {
            throw VerificationError(
                .badSignature, "the fetched SNS signing certificate is not a usable PEM certificate")
        }
        if let persistentDirectory {
            Self.writeFile(body, directory: persistentDirectory, name: persistedName)
        }
        return body
    }

    /// `<host>_<file>`: both parts are already restricted to `[a-z0-9.-]` and `[A-Za-z0-9._-]`, and the
    /// host keeps same-named files of different regions apart.
    static func persistedFileName(host: String, fileName: String) -> String { host + "_" + fileName }

    /// A PEM certificate block that libcrypto reads, with an RSA key of at least 2048 bits.
    static func isUsableCertificate(_ bytes: [UInt8]) -> Bool {
        let marker = Array("-----BEGIN CERTIFICATE-----".utf8)
        // Must start with the block (after optional whitespace); no other PEM types, no binary DER.
        guard let start = bytes.firstIndex(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0a || $0 == 0x0d) }),
            bytes.count - start >= marker.count, Array(bytes[start..<(start + marker.count)]) == marker
        else { return false }
        return Crypto.x509IsUsableRSACertificate(bytes)
    }

    private static func readFile(_ path: String, limit: Int) -> [UInt8]? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: limit + 1), data.count <= limit else { return nil }
        return [UInt8](data)
    }

    /// Writes through a temporary file and a rename, so a reader never sees half a certificate.
    private static func writeFile(_ bytes: [UInt8], directory: String, name: String) {
        let fm = FileManager.default
        try? fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let target = (directory as NSString).appendingPathComponent(name)
        let temporary = (directory as NSString).appendingPathComponent(".\(name).\(UUID().uuidString).tmp")
        guard fm.createFile(atPath: temporary, contents: Data(bytes), attributes: [.posixPermissions: 0o644]) else {
            return
        }
        if rename(temporary, target) != 0 { try? fm.removeItem(atPath: temporary) }
    }
}
