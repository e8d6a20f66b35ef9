import BridgeCore
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The store for several replicas: one PostgreSQL database shared by every bridge process.
///
/// Each webhook is one transaction on a pooled connection (delivery, outbox records, aggregate upserts, dedupe
/// keys); the dedupe ledger and the pending send of an aggregate key are unique constraints, written with
/// `INSERT ... ON CONFLICT`, never read-then-write. Claims lock rows with `FOR UPDATE SKIP LOCKED` and give them a
/// lease (`claimed_by`, `claimed_until`); an aggregate key is claimed under its aggregate row's lock, so one
/// replica sends it at a time. Any failure to reach the server is `StoreError(.unavailable)`: the ingress answers
/// 503, readiness fails, and `probeWrite` finds out when the server is back.
public final class PostgresDeliveryStore: DeliveryStore, Service {
    public let url: PostgresDatabaseURL
    let client: PostgresClient
    let logger: Logger
    /// Names this process in `claimed_by`.
    public let instance: String
    /// How long aggregates (and so the hours they cover) are kept.
    public let aggregateRetention: TimeInterval
    /// The longest a store call waits, connection included, before it fails as unavailable.
    let operationTimeout: Duration
    /// The last failure to write, cleared by the next successful write (readiness).
    let writeFailure = Mutex<StoreError?>(nil)
    let clientTask: Mutex<Task<Void, Never>?> = Mutex(nil)
    let closingSignal = AsyncStream<Void>.makeStream()

    /// Connects (the pool opens connections on demand), applies the migrations under an advisory lock unless
    /// `migrate` is false, and returns the store. The pool runs until `run()` ends or `close()`.
    public static func open(
        url: PostgresDatabaseURL, caFile: String? = nil, poolSize: Int = 8, logger: Logger,
        aggregateRetention: TimeInterval = 35 * 86400, migrate: Bool = true,
        operationTimeout: Duration = .seconds(10)
    ) async throws -> PostgresDeliveryStore {
        var config = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.username, password: url.password?.string,
            database: url.database, tls: try url.tls(caFile: caFile))
        config.options.maximumConnections = max(1, poolSize)
        config.options.connectTimeout = .seconds(5)
        config.options.keepAliveBehavior = .init(frequency: .seconds(15))
        if let schema = url.schema { config.options.additionalStartupParameters = [("search_path", schema)] }
        var background = logger
        background.logLevel = max(logger.logLevel, .notice)
        let client = PostgresClient(configuration: config, backgroundLogger: background)
        let store = PostgresDeliveryStore(
            url: url, client: client, logger: logger, aggregateRetention: aggregateRetention,
            operationTimeout: operationTimeout)
        store.clientTask.withLock { $0 = Task { await client.run() } }
        logger.info("store: PostgreSQL at \(url.redacted)")
        if migrate {
            do {
                try await store.migrate()
            } catch {
                await store.close()
                throw error
            }
        }
        return store
    }

    private init(
        url: PostgresDatabaseURL, client: PostgresClient, logger: Logger, aggregateRetention: TimeInterval,
        operationTimeout: Duration
    ) {
        self.url = url
        self.client = client
        self.logger = logger
        self.aggregateRetention = aggregateRetention
        self.operationTimeout = operationTimeout
        let host = ProcessInfo.processInfo.hostName
        self.instance = "\(host):\(getpid()):\(UUID().uuidString.prefix(8))"
    }

    /// Waits for graceful shutdown (or cancellation), then closes the pool.
    public func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                for await _ in closingSignal.stream { break }
            } onGracefulShutdown: {
                self.closingSignal.continuation.finish()
            }
        } onCancel: {
            self.closingSignal.continuation.finish()
        }
        await close()
    }

    /// Closes the pool (for commands that use the store without `run()`).
    public func close() async {
        let task = clientTask.withLock { t -> Task<Void, Never>? in
            defer { t = nil }
            return t
        }
        task?.cancel()
        await task?.value
    }

    /// Runs `body` with a deadline; every error becomes a `StoreError`.
    func perform<T: Sendable>(
        _ what: String, _ body: @escaping @Sendable (PostgresClient) async throws -> T
    ) async throws -> T {
        let client = self.client
        let timeout = operationTimeout
        do {
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { try await body(client) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let value = first else {
                    throw StoreError(.unavailable, "\(what): no answer from PostgreSQL within \(timeout)")
                }
                return value
            }
        } catch let error as StoreError {
            throw error
        } catch let error as DuplicateDelivery {
            throw error
        } catch {
            throw Self.storeError(error, what)
        }
    }

    /// Runs `body` in one transaction with a deadline.
    @discardableResult
    func transaction<T: Sendable>(
        _ what: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let logger = self.logger
        return try await perform(what) { client in
            try await client.withConnection { connection in
                try await connection.query("BEGIN", logger: logger)
                do {
                    let result = try await body(connection)
                    try await connection.query("COMMIT", logger: logger)
                    return result
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        }
    }

    /// A write failed: note it when PostgreSQL could not be reached (readiness).
    func noteFailure(_ error: any Error) {
        guard let e = error as? StoreError, e.reason == .unavailable || e.reason == .full else { return }
        let first = writeFailure.withLock { f -> Bool in
            defer { f = e }
            return f == nil
        }
        if first { logger.error("store: PostgreSQL cannot take writes", metadata: ["error": "\(e)"]) }
    }

    func noteSuccess() {
        let was = writeFailure.withLock { f -> StoreError? in
            defer { f = nil }
            return f
        }
        if was != nil { logger.notice("store: PostgreSQL takes writes again") }
    }

    /// PostgreSQL's errors as `StoreError`: a lost or refused connection, a server shutting down or starting
    /// (SQLSTATE class 08, 57P01-57P03) is `.unavailable`; a full disk (53100) `.full`; the rest `.database`.
    /// The detail names the operation, the SQLSTATE and the server's message, never a bound value.
    static func storeError(_ error: any Error, _ what: String) -> StoreError {
        guard let psql = error as? PSQLError else {
            return StoreError(.unavailable, "\(what): PostgreSQL unreachable (\(type(of: error)))")
        }
        guard let info = psql.serverInfo, let state = info[.sqlState] else {
            return StoreError(.unavailable, "\(what): PostgreSQL unreachable (\(psql.code))")
        }
        let message = info[.message] ?? ""
        let detail = "\(what): PostgreSQL \(state) \(message)"
        if state.hasPrefix("08") || ["57P01", "57P02", "57P03", "53300"].contains(state) {
            return StoreError(.unavailable, detail)
        }
        if state == "53100" { return StoreError(.full, detail) }
        if state == "40001" || state == "40P01" || state == "55P03" { return StoreError(.busy, detail) }
        return StoreError(.database, detail)
    }
}

/// Thrown inside a record transaction to roll it back when its delivery key (or every item key) was seen before.
struct DuplicateDelivery: Error {
    let key: String
}
