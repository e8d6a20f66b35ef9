import BridgeCore
import BridgeDelivery
import BridgeStore
import BridgeStorePostgres
import BridgeStoreSQLite
import BridgeVerification
import Foundation
import Logging
import ServiceLifecycle

/// Everything `serve` needs, built from flags and environment by the executable; tests construct it directly.
public struct BridgeConfiguration: Sendable {
    /// - `BRIDGE_HOST` (string, default `0.0.0.0`): address to listen on.
    public var host: String = "0.0.0.0"
    /// - `BRIDGE_PORT` (int, default 8080): port; 0 picks a free one.
    public var port: Int = 8080
    /// - `BRIDGE_MAPPINGS` (path, default `./mappings`): rule files.
    public var mappingsPath: String = "./mappings"
    /// - `BRIDGE_DATA_DIR` (path, default `./data`): where the SQLite database lives.
    public var dataDirectory: String = "./data"
    /// - `BRIDGE_DATABASE_URL` (`postgres://user:password@host:5432/db?sslmode=...`, optional): the PostgreSQL
    ///   store shared by several replicas; without it the SQLite store in the data directory. The password is a
    ///   secret: logs show `redacted`. No `sslmode` means `verify-full`, except on a Unix socket or a loopback
    ///   host (`prefer`); a query parameter given twice is refused.
    public var databaseURL: PostgresDatabaseURL?
    /// - `BRIDGE_DATABASE_CA_FILE` (path, optional): PEM certificates trusted for PostgreSQL's TLS.
    public var databaseCAFile: String?
    /// - `BRIDGE_DATABASE_POOL_SIZE` (int ≥ 1, default 8): connections to PostgreSQL per process.
    public var databasePoolSize: Int = 8
    /// - `CLOUDTHREAD_API_URL` (URL, default `https://api.cloudthread.io`).
    public var apiURL: String = "https://api.cloudthread.io"
    /// - `CLOUDTHREAD_API_KEY` (secret, optional): without it the bridge runs in dry-run mode.
    public var apiKey: Secret?
    /// - `CLOUDTHREAD_STREAM_TOKEN` (secret, optional): the default data stream token for metrics.
    public var streamToken: Secret?
    /// - `BRIDGE_MAX_BODY_BYTES` (int, default 5 MiB): larger webhooks are answered 413.
    public var maxBodyBytes: Int = 5 * 1024 * 1024
    /// - `BRIDGE_ADMIN_TOKEN` (secret, optional, at least 32 characters): bearer token of the admin API and the
    ///   console's sign-in; without it both are off.
    public var adminToken: Secret?
    /// - `BRIDGE_BATCH_SIZE` (int, default 100): records per Cloudthread request.
    /// - `BRIDGE_LEASE_SECONDS` (int ≥ 1, default 300): how long a claim holds records; the records of a replica
    ///   that died mid-send are sent by another one after it.
    public var forwarder = ForwarderConfiguration()
    /// - `BRIDGE_RETENTION_DAYS` (int ≥ 1, default 30): how long sent records, deliveries and dedupe keys are
    ///   kept. Hourly aggregates are kept at least 35 days (longer when this is longer).
    public var retentionDays: Double = 30
    /// - `BRIDGE_MAX_CONCURRENT` (int, default 256, 0 = no cap): webhooks in progress at once; above it, 503 with
    ///   Retry-After.
    public var maxConcurrent: Int = 256
    /// - `BRIDGE_REFUSAL_LIMIT` (int, default 60, 0 = off): refused webhooks per minute from one address before it
    ///   is answered 429 with Retry-After until the minute ends.
    public var refusalLimit: Int = 60
    /// - `BRIDGE_TRUSTED_PROXIES` (comma-separated CIDRs, default none): proxies whose `X-Forwarded-For` /
    ///   `Forwarded` headers name the client. From any other peer the headers are ignored.
    public var trustedProxies = TrustedProxies([])

    /// How long hourly aggregates are kept: at least 35 days, so a late observation never restarts a total.
    public var aggregateRetention: TimeInterval { max(35, retentionDays) * 86400 }
    /// - `BRIDGE_BODY_TIMEOUT` (seconds ≥ 1, default 30): a request (head and body) not complete this long after
    ///   its first byte is answered 408 and its connection closed.
    public var bodyTimeout: Int = 30
    /// - `BRIDGE_MAX_BODIES_PER_CLIENT` (int, default 32, 0 = no cap): webhooks of one client address whose bodies
    ///   are arriving at once; above it, 429 with Retry-After. A slow sender cannot keep the others out.
    public var maxBodiesPerClient: Int = 32
    /// - `BRIDGE_IDLE_TIMEOUT` (seconds, default 60): idle connections are closed after this.
    public var idleTimeout: Int = 60
    /// - `BRIDGE_SHUTDOWN_TIMEOUT` (seconds, default 25): longest graceful shutdown before exiting anyway.
    public var shutdownTimeout: Int = 25
    /// Watch the mappings directory and reload on change (and on SIGHUP).
    public var watchMappings: Bool = true
    /// Values for `${NAME}` in rule files.
    public var environment: [String: String] = ProcessInfo.processInfo.environment

    public init() {}

    /// The shortest `BRIDGE_ADMIN_TOKEN` accepted.
    public static let minimumAdminTokenLength = 32

    /// Refuses settings no bridge should run with (`serve` and `Bridge` call it): an admin token short enough to
    /// guess. The error never repeats the token.
    public func validate() throws {
        if let token = adminToken, token.bytes.count < Self.minimumAdminTokenLength {
            throw ConfigurationError(
                .outOfRange, setting: "BRIDGE_ADMIN_TOKEN", value: nil,
                expected:
                    "at least \(Self.minimumAdminTokenLength) characters long (this one has \(token.bytes.count)); "
                    + "make one with `openssl rand -hex 32`")
        }
    }

    /// True without an API key: nothing is sent, what would be sent is logged.
    public var dryRun: Bool { apiKey == nil }

    public var databasePath: String { (dataDirectory as NSString).appendingPathComponent("bridge.sqlite") }

    /// Reads the settings table of the README from `env`. Throws on malformed numbers.
    public static func fromEnvironment(_ env: [String: String]) throws -> BridgeConfiguration {
        var c = BridgeConfiguration()
        c.environment = env
        func value(_ k: String) -> String? { env[k].flatMap { $0.isEmpty ? nil : $0 } }
        func int(_ k: String) throws -> Int? {
            guard let v = value(k) else { return nil }
            guard let n = Int(v), n >= 0 else { throw ConfigurationError(.notAWholeNumber, setting: k, value: v) }
            return n
        }
        if let v = value("BRIDGE_HOST") { c.host = v }
        if let n = try int("BRIDGE_PORT") { c.port = n }
        if let v = value("BRIDGE_MAPPINGS") { c.mappingsPath = v }
        if let v = value("BRIDGE_DATA_DIR") { c.dataDirectory = v }
        if let v = value("BRIDGE_DATABASE_URL") { c.databaseURL = try parseDatabaseURL(v) }
        c.databaseCAFile = value("BRIDGE_DATABASE_CA_FILE")
        if let n = try int("BRIDGE_DATABASE_POOL_SIZE") {
            guard n >= 1 else {
                throw ConfigurationError(
                    .outOfRange, setting: "BRIDGE_DATABASE_POOL_SIZE", value: "\(n)", expected: "at least 1")
            }
            c.databasePoolSize = n
        }
        if let v = value("CLOUDTHREAD_API_URL") { c.apiURL = v }
        c.apiKey = value("CLOUDTHREAD_API_KEY").map(Secret.init)
        c.streamToken = value("CLOUDTHREAD_STREAM_TOKEN").map(Secret.init)
        if let n = try int("BRIDGE_MAX_BODY_BYTES") { c.maxBodyBytes = n }
        c.adminToken = value("BRIDGE_ADMIN_TOKEN").map(Secret.init)
        if let n = try int("BRIDGE_BATCH_SIZE") {
            guard n >= 1 else {
                throw ConfigurationError(
                    .outOfRange, setting: "BRIDGE_BATCH_SIZE", value: "\(n)", expected: "at least 1")
            }
            c.forwarder.batchSize = n
        }
        if let n = try int("BRIDGE_LEASE_SECONDS") {
            guard n >= 1 else {
                throw ConfigurationError(
                    .outOfRange, setting: "BRIDGE_LEASE_SECONDS", value: "\(n)", expected: "at least 1")
            }
            c.forwarder.lease = TimeInterval(n)
        }
        if let n = try int("BRIDGE_RETENTION_DAYS") {
            guard n >= 1 else {
                throw ConfigurationError(
                    .outOfRange, setting: "BRIDGE_RETENTION_DAYS", value: "\(n)", expected: "at least 1")
            }
            c.retentionDays = Double(n)
        }
        if let n = try int("BRIDGE_MAX_CONCURRENT") { c.maxConcurrent = n }
        if let n = try int("BRIDGE_REFUSAL_LIMIT") { c.refusalLimit = n }
        if let v = value("BRIDGE_TRUSTED_PROXIES") {
            switch TrustedProxies.parse(v) {
            case .success(let proxies): c.trustedProxies = proxies
            case .failure(let error):
                throw ConfigurationError(
                    .invalidValue, setting: "BRIDGE_TRUSTED_PROXIES", value: error.entry,
                    expected: "a comma-separated list of networks such as 10.0.0.0/8, 192.168.1.10 or fd00::/8")
            }
        }
        if let n = try int("BRIDGE_BODY_TIMEOUT") {
            guard n >= 1 else {
                throw ConfigurationError(
                    .outOfRange, setting: "BRIDGE_BODY_TIMEOUT", value: "\(n)", expected: "at least 1 second")
            }
            c.bodyTimeout = n
        }
        if let n = try int("BRIDGE_MAX_BODIES_PER_CLIENT") { c.maxBodiesPerClient = n }
        if let n = try int("BRIDGE_IDLE_TIMEOUT") { c.idleTimeout = n }
        if let n = try int("BRIDGE_SHUTDOWN_TIMEOUT") { c.shutdownTimeout = n }
        if let v = value("BRIDGE_WATCH_MAPPINGS") { c.watchMappings = !["0", "false", "no"].contains(v.lowercased()) }
        guard c.apiURL.hasPrefix("http://") || c.apiURL.hasPrefix("https://") else {
            throw ConfigurationError(.invalidURL, setting: "CLOUDTHREAD_API_URL", value: c.apiURL)
        }
        return c
    }

    /// Parses `BRIDGE_DATABASE_URL`; the error never repeats the value (it holds the password).
    public static func parseDatabaseURL(_ text: String) throws -> PostgresDatabaseURL {
        do throws(PostgresDatabaseURL.ParseError) {
            return try PostgresDatabaseURL.parse(text)
        } catch {
            throw ConfigurationError(
                .invalidValue, setting: "BRIDGE_DATABASE_URL", value: nil, expected: error.expected)
        }
    }

    /// Opens the store this configuration names: PostgreSQL when `databaseURL` is set (migrating it under an
    /// advisory lock when `migrate`), else the SQLite database in the data directory.
    public func openStore(logger: Logger, migrate: Bool = true) async throws -> any DeliveryStore & Service {
        if let url = databaseURL {
            return try await PostgresDeliveryStore.open(
                url: url, caFile: databaseCAFile, poolSize: databasePoolSize, logger: logger,
                aggregateRetention: aggregateRetention, migrate: migrate)
        }
        return try await SQLiteDeliveryStore.open(
            path: databasePath, logger: logger, aggregateRetention: aggregateRetention)
    }
}
