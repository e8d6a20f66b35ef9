import BridgeCloudthread
import BridgeCore
import BridgeVerification
import Foundation
import Logging
import NIOCore
import NIOPosix
import SQLiteNIO
import ServiceLifecycle
import Synchronization

/// The embedded store: one SQLite database in WAL mode with `synchronous=FULL`.
///
/// All access goes through one serial writer task (`run()`), which takes every queued job when it is free:
/// consecutive webhook records share a single transaction and a single fsync (group commit), and each
/// caller is answered only after that commit.
public final class SQLiteDeliveryStore: DeliveryStore, Service {
    enum Job: Sendable {
        case record(NewDelivery, CheckedContinuation<RecordResult, any Error>)
        case work(@Sendable (SQLiteConnection) async -> Void)
    }

    struct State: ~Copyable {
        var jobs: [Job] = []
        var closed = false
    }

    public let path: String
    let logger: Logger
    let connection: SQLiteConnection
    let state = Mutex(State())
    let wakeups: AsyncStream<Void>
    let wake: AsyncStream<Void>.Continuation
    /// Largest number of webhooks committed together so far (observability and the benchmark).
    let commitStats = Mutex((commits: 0, records: 0, largest: 0))

    /// Opens (creating if needed) the database at `path` and migrates it.
    public static func open(path: String, logger: Logger) async throws -> SQLiteDeliveryStore {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let store = SQLiteDeliveryStore(path: path, logger: logger, connection: connection)
        try await store.migrate()
        return store
    }

    private init(path: String, logger: Logger, connection: SQLiteConnection) {
        self.path = path
        self.logger = logger
        self.connection = connection
        (self.wakeups, self.wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }
}
