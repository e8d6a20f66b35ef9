import BridgeCore
import BridgeStore
import BridgeVerification
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The store for several replicas: one PostgreSQL database shared by every bridge process.
///
/// Webhooks are stored in transactions on pooled connections (delivery, outbox records, aggregate upserts, dedupe
/// keys), concurrent ones together in one transaction (`+GroupCommit`); the dedupe ledger and the pending send of an aggregate key are unique constraints, written with
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
    /// Webhooks waiting for a transaction, and how many transactions are committing them (group commit).
    let recordQueue = Mutex<(waiting: [PendingRecord], committers: Int)>(([], 0))
    /// At most this many webhook transactions at once (`writers`); the rest of the pool serves claims and queries.
    let maxCommitters: Int
    /// Webhook transactions committed or tried so far (tests and the benchmark compare it with webhooks).
    let recordTransactions = Mutex<Int>(0)
    let closingSignal = AsyncStream<Void>.makeStream()

    /// Webhook transactions at once per replica: one. Every transaction of webhooks updates the hour's aggregate row,
    /// which it holds locked until its COMMIT, so concurrent transactions of the same replica (and of other
    /// replicas) queue on that row one after another; more of them only split the same webhooks into smaller
    /// groups. Measured with three replicas sharing a database, one writer each did 1.6-1.9 times the webhooks of
    /// four (2.8-3.0 webhooks per transaction instead of 1.7, about half the CPU per webhook), and one replica no
    /// fewer (docs/benchmark.md, "Issue 19, fourth round"). A group takes up to `maxBatch` webhooks, so one writer
    /// is not the limit: at five round trips of 2 ms per group that is 6,400 webhooks/s per replica.
    static let writers = 1

    /// Connects (the pool opens connections on demand), applies the migrations under an advisory lock unless
    /// `migrate` is false, and returns the store. The pool runs until `run()` ends or `close()`.
    public static func open(
        url: PostgresDatabaseURL, caFile: String? = nil, poolSize: Int = 8, logger: Logger,
        aggregateRetention: TimeInterval = 35 * 86400, migrate: Bool = true,
        operationTimeout: Duration = .seconds(10)
    ) async throws -> PostgresDeliveryStore {
        let tls = try url.tls(caFile: caFile)
        var config =
            if let socket = url.unixSocketPath {
                PostgresClient.Configuration(
                    unixSocketPath: socket, username: url.username, password: url.password?.string,
                    database: url.database)
            } else {
                PostgresClient.Configuration(
                    host: url.host, port: url.port, username: url.username, password: url.password?.string,
                    database: url.database, tls: tls)
            }
        config.options.maximumConnections = max(1, poolSize)
        config.options.connectTimeout = .seconds(5)
        config.options.keepAliveBehavior = .init(frequency: .seconds(15))
        if let schema = url.schema { config.options.additionalStartupParameters = [("search_path", schema)] }
        var background = logger
        background.logLevel = max(logger.logLevel, .notice)
        let client = PostgresClient(configuration: config, backgroundLogger: background)
        let store = PostgresDeliveryStore(
            url: url, client: client, logger: logger, aggregateRetention: aggregateRetention,
            operationTimeout: operationTimeout, maxCommitters: writers)
        store.clientTask.withLock { $0 = Task { await client.run() } }
        logger.info("store: PostgreSQL at \(url.redacted)")
        if migrate {
            do {
                try await store.migrate()
            } catch {
                if let error = error as? StoreError, error.reason == .unavailable,
                    [.require, .verifyCA, .verifyFull].contains(url.sslMode)
                {
                    // postgres-nio retries a refused TLS handshake silently: say what to check.
                    let given = url.sslModeIsDefault ? "the default without sslmode" : "given in the URL"
                    logger.error(
                        "store: PostgreSQL did not answer with sslmode=\(url.sslMode.rawValue) (\(given)). If it is up: a server without TLS needs sslmode=disable in the URL, and a certificate from a private CA needs BRIDGE_DATABASE_CA_FILE (docs/deploy.md)."
                    )
                }
                await store.close()
                throw error
            }
        }
        return store
    }

    private init(
        url: PostgresDatabaseURL, client: PostgresClient, logger: Logger, aggregateRetention: TimeInterval,
        operationTimeout: Duration, maxCommitters: Int
    ) {
        self.maxCommitters = maxCommitters
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

    /// Closes the pool (for commands that use the store without `run()`). Waits at most `closeTimeout`: the pool
    /// ends only when every leased connection is returned, and a query written to a connection the server has just
    /// closed may never complete (see `perform`), so an unbounded wait could keep the process from exiting.
    public func close() async {
        let task = clientTask.withLock { t -> Task<Void, Never>? in
            defer { t = nil }
            return t
        }
        guard let task else { return }
        task.cancel()
        let finished = await Self.race(within: Self.closeTimeout) { () -> Bool in
            await task.value
            return true
        }
        if finished == nil {
            logger.warning("store: PostgreSQL pool did not close within \(Self.closeTimeout); exiting anyway")
        }
    }

    /// The longest `close()` waits for the pool.
    static let closeTimeout: Duration = .seconds(5)

    /// Runs `body` with a deadline; every error becomes a `StoreError`.
    ///
    /// The deadline does not wait for `body` to finish: postgres-nio cannot cancel a query, and a query written to a
    /// connection whose channel was already torn down (the server restarted or the network dropped between the
    /// lease and the write) is never answered nor failed. A task group would wait for that child forever, and the
    /// webhook with it; here the caller gets `.unavailable` when the deadline passes and the stuck work is left
    /// behind, cancelled.
    func perform<T: Sendable>(
        _ what: String, timeout: Duration? = nil, _ body: @escaping @Sendable (PostgresClient) async throws -> T
    ) async throws -> T {
        let client = self.client
        let timeout = timeout ?? operationTimeout
        let outcome = await Self.race(within: timeout) { () -> Result<T, any Error> in
            do {
                return .success(try await body(client))
            } catch {
                return .failure(error)
            }
        }
        switch outcome {
        case nil:
            throw StoreError(.unavailable, "\(what): no answer from PostgreSQL within \(timeout)")
        case .success(let value)?:
            return value
        case .failure(let error as StoreError)?:
            throw error
        case .failure(let error as DuplicateDelivery)?:
            throw error
        case .failure(let error)?:
            throw Self.storeError(error, what)
        }
    }

    /// Runs `work` in a task of its own and returns its value, or nil when `timeout` passes first (the work is then
    /// cancelled and not waited for). Cancelling the caller cancels the work and returns nil at once.
    static func race<T: Sendable>(
        within timeout: Duration, _ work: @escaping @Sendable () async -> T
    ) async -> T? {
        let race = Race<T>()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
                race.start(continuation)
                let worker = Task {
                    let value = await work()
                    race.finish(value)
                }
                let timer = Task {
                    try? await Task.sleep(for: timeout)
                    race.finish(nil)
                }
                race.attach(worker: worker, timer: timer)
            }
        } onCancel: {
            race.finish(nil)
        }
    }

    /// Runs `body` in one transaction with a deadline.
    ///
    /// After a failure the transaction is rolled back only on a connection that is still open: when PostgreSQL
    /// closed the connection (a restart, a lost network) the server has already discarded the transaction, and a
    /// ROLLBACK written to that connection would never complete, holding its lease and the webhook forever.
    @discardableResult
    func transaction<T: Sendable>(
        _ what: String, timeout: Duration? = nil, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let logger = self.logger
        return try await withConnection(what, timeout: timeout) { connection in
            try await Self.query(connection, "BEGIN", logger: logger)
            do {
                let result = try await body(connection)
                try await Self.query(connection, "COMMIT", logger: logger)
                return result
            } catch {
                if !Self.isConnectionLoss(error) && !connection.isClosed {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                }
                throw error
            }
        }
    }

    /// Runs `body` on one connection with a deadline; without `transaction` around it, each statement of `body` is a
    /// transaction of its own (the group commit's single statement).
    func withConnection<T: Sendable>(
        _ what: String, timeout: Duration? = nil, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await perform(what, timeout: timeout) { client in
            try await client.withConnection { connection in try await body(connection) }
        }
    }

    /// A statement without results, refused at once on a connection already closed (see `transaction`).
    static func query(_ connection: PostgresConnection, _ sql: PostgresQuery, logger: Logger) async throws {
        guard !connection.isClosed else { throw ConnectionClosed() }
        try await connection.query(sql, logger: logger)
    }

    /// True when `error` means the connection is gone (closed by the server or the network, or a fatal server
    /// error such as 57P01 during a fast shutdown): no transaction is left on it.
    static func isConnectionLoss(_ error: any Error) -> Bool {
        if error is ConnectionClosed { return true }
        guard let psql = error as? PSQLError else { return false }
        switch psql.code {
        case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown: return true
        default: break
        }
        if let state = psql.serverInfo?[.sqlState] {
            return state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state)
        }
        return false
    }

    /// The deadline of a webhook's transaction: `operationTimeout`, but only `unavailableTimeout` while the last
    /// write failed because PostgreSQL could not be reached, so a sender gets its 503 quickly during an outage
    /// (GitHub gives up on a webhook after 10 s) rather than when a connection attempt times out.
    var writeTimeout: Duration {
        writeFailure.withLock { $0 == nil } ? operationTimeout : min(operationTimeout, Self.unavailableTimeout)
    }

    /// Text from outside (a payload's dedupe key or metric name, an API's message) as PostgreSQL's `text` takes it:
    /// it refuses U+0000, which JSON allows (`"\u0000"`), and a refused webhook would be answered 503 for ever.
    /// U+0000 becomes U+FFFD; the values are compared and sent, never parsed.
    /// How an observation joins its hourly aggregate, in the one-at-a-time and the bulk statement alike.
    static let mergeAggregateSQL = """
        ON CONFLICT (key) DO UPDATE SET sum = aggregates.sum + excluded.sum,
          count = aggregates.count + excluded.count,
          min = LEAST(aggregates.min, excluded.min), max = GREATEST(aggregates.max, excluded.max),
          updated_at = excluded.updated_at
        """

    static func text(_ s: String) -> String {
        s.utf8.contains(0) ? s.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : s
    }

    /// A key kept in an index (a dedupe key, an aggregate key): `text`, and above 1 KiB its SHA-256 instead, since a
    /// btree entry is limited to about 2.7 KB and a longer key would make its webhook fail for ever. Equal keys stay
    /// equal, different keys different (up to SHA-256 collisions).
    static func indexKey(_ s: String) -> String {
        let t = text(s)
        guard t.utf8.count > 1024 else { return t }
        return "sha256:" + ByteEncoding.hex(Crypto.sha256(Array(t.utf8)))
    }

    /// The deadline of a write while PostgreSQL is known to be unreachable.
    static let unavailableTimeout: Duration = .seconds(2)

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

/// The first of a piece of work and its deadline to finish resumes the waiting caller; the other is cancelled.
final class Race<T: Sendable>: Sendable {
    private let state = Mutex<
        (
            continuation: CheckedContinuation<T?, Never>?, done: Bool, worker: Task<Void, Never>?,
            timer: Task<Void, Never>?
        )
    >((nil, false, nil, nil))

    func start(_ continuation: CheckedContinuation<T?, Never>) {
        let finishedEarly = state.withLock { s -> Bool in
            if s.done { return true }
            s.continuation = continuation
            return false
        }
        if finishedEarly { continuation.resume(returning: nil) }
    }

    func attach(worker: Task<Void, Never>, timer: Task<Void, Never>) {
        let done = state.withLock { s -> Bool in
            s.worker = worker
            s.timer = timer
            return s.done
        }
        if done {
            worker.cancel()
            timer.cancel()
        }
    }

    func finish(_ value: T?) {
        let (continuation, worker, timer) = state.withLock { s in
            if s.done {
                return (CheckedContinuation<T?, Never>?.none, Task<Void, Never>?.none, Task<Void, Never>?.none)
            }
            s.done = true
            defer { s.continuation = nil }
            return (s.continuation, s.worker, s.timer)
        }
        timer?.cancel()
        if value == nil { worker?.cancel() }
        continuation?.resume(returning: value)
    }
}

/// A statement was not sent: its connection was already closed.
struct ConnectionClosed: Error {}

/// Thrown inside a record transaction to roll it back when its delivery key (or every item key) was seen before.
struct DuplicateDelivery: Error {
    let key: String
}
