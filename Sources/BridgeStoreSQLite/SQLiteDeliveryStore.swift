import BridgeCore
import BridgeStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The embedded store: one SQLite database in WAL mode with `synchronous=FULL`.
///
/// Every statement runs on one writer thread that owns the connection (`SQLiteWriter`). It takes every queued
/// job when it is free: consecutive webhook records share a single transaction and a single fsync (group commit),
/// and each caller is answered only after that commit. A caller hands its work over once and is resumed once.
/// Checkpoints (copying the WAL back into the database file) run on a thread of their own (`SQLiteCheckpointer`).
public final class SQLiteDeliveryStore: DeliveryStore, Service {
    public let path: String
    let logger: Logger
    let writer: SQLiteWriter
    /// Absent on a read-only store.
    let checkpointer: SQLiteCheckpointer?
    /// The files the request bodies are written to, beside the database; absent on a read-only store. Used on the
    /// writer thread only.
    let bodies: SQLiteBodyFiles?
    /// Where the request bodies are kept (`SQLiteBodyFiles`).
    public var bodiesDirectory: String { SQLiteBodyFiles.directory(for: path) }
    /// Commits, records committed, largest group (observability and the benchmark).
    let commitStats = Mutex((commits: 0, records: 0, largest: 0))
    /// The last write failure, cleared by the next successful commit (readiness).
    let writeFailure = Mutex<StoreError?>(nil)
    /// How long aggregates (and so the hours they cover) are kept; observations for older hours are refused.
    public let aggregateRetention: TimeInterval
    /// Finished when the service is asked to stop.
    let closingSignal = AsyncStream<Void>.makeStream()

    /// Opens (creating if needed) the database at `path`, migrates it and starts its writer and its checkpointer.
    /// `checkpoint` is in WAL frames (pages): the checkpointer copies the WAL into the database once `every` frames
    /// wait, and the WAL starts again from its beginning once it holds `limit` (`SQLiteCheckpointer`).
    public static func open(
        path: String, logger: Logger, aggregateRetention: TimeInterval = 35 * 86400,
        checkpoint: (every: Int, limit: Int) = (250, 4000)
    ) async throws -> SQLiteDeliveryStore {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let database = try SQLiteDatabase(path: path, mode: .readWrite)
        try migrate(database, logger: logger)
        try releaseClaims(database)
        let checkpointer = try SQLiteCheckpointer(
            path: path, every: checkpoint.every, limit: checkpoint.limit, logger: logger)
        let bodies = try SQLiteBodyFiles(databasePath: path)
        let store = SQLiteDeliveryStore(
            path: path, logger: logger, database: database, aggregateRetention: aggregateRetention,
            checkpointer: checkpointer, bodies: bodies)
        return store
    }

    /// Opens an existing database read-only, for inspection (`deliveries`, `dead-letters`): no migration, no
    /// change to records in flight, no checkpoint. Writes fail.
    public static func openReadOnly(path: String, logger: Logger) throws -> SQLiteDeliveryStore {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StoreError(.io, "no database at \(path)")
        }
        let database = try SQLiteDatabase(path: path, mode: .readOnly)
        try database.execute("PRAGMA query_only=1")
        return SQLiteDeliveryStore(path: path, logger: logger, database: database, aggregateRetention: 35 * 86400)
    }

    private init(
        path: String, logger: Logger, database: SQLiteDatabase, aggregateRetention: TimeInterval,
        checkpointer: SQLiteCheckpointer? = nil, bodies: SQLiteBodyFiles? = nil
    ) {
        self.path = path
        self.logger = logger
        self.aggregateRetention = aggregateRetention
        self.checkpointer = checkpointer
        self.bodies = bodies
        self.writer = SQLiteWriter(database: database, name: "bridge-sqlite", checkpointer: checkpointer)
        writer.start { [self] jobs, database in self.process(jobs, database) }
    }

    /// Group-commit statistics: commits, records committed, largest group.
    public var groupCommitStats: (commits: Int, records: Int, largest: Int) { commitStats.withLock { $0 } }

    /// Checkpoints run by the checkpointer's thread, by the writer at the WAL's limit, and those that failed.
    public var checkpointStats: (background: Int, byWriter: Int, failures: Int) {
        let stats = checkpointer?.statistics ?? SQLiteCheckpointer.Stats()
        return (stats.background, stats.byWriter, stats.failures)
    }
}
