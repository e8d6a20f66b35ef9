import BridgeStore
import CSQLite3
import Foundation

/// One SQLite connection with a cache of prepared statements. Not thread-safe: it is used by exactly one thread
/// (the store's writer, or the one task of a read-only CLI command).
package final class SQLiteDatabase {
    package enum Mode: Sendable {
        /// Creates the file if needed; migrations may run.
        case readWrite
        /// Opens an existing database without changing anything.
        case readOnly
    }

    private var handle: OpaquePointer?
    private var statements: [String: SQLiteStatement] = [:]
    /// The handler of `onWALCommit`, kept alive while SQLite holds a pointer to it.
    private var walHook: WALHook?
    package let path: String

    package init(path: String, mode: Mode) throws(StoreError) {
        self.path = path
        var db: OpaquePointer?
        let flags: Int32 =
            switch mode {
            case .readWrite: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
            case .readOnly: SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX
            }
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(db)
            throw StoreError(.database, "cannot open the database at \(path): \(message)", code: rc)
        }
        handle = db
        sqlite3_extended_result_codes(db, 1)
    }

    deinit { close() }

    package func close() {
        for statement in statements.values { statement.finalize() }
        statements.removeAll()
        if let handle {
            if walHook != nil { sqlite3_wal_hook(handle, nil, nil) }
            sqlite3_close_v2(handle)
        }
        handle = nil
        walHook = nil
    }

    /// Calls `handler` on this connection's thread after every commit, with the number of frames in the WAL. It
    /// replaces SQLite's automatic checkpoint (which is such a hook), so the caller decides when to checkpoint.
    package func onWALCommit(_ handler: @escaping (Int) -> Void) {
        guard let handle else { return }
        let hook = WALHook(handler)
        walHook = hook
        sqlite3_wal_hook(
            handle,
            { context, _, _, frames in
                guard let context else { return SQLITE_OK }
                Unmanaged<WALHook>.fromOpaque(context).takeUnretainedValue().handler(Int(frames))
                return SQLITE_OK
            }, Unmanaged.passUnretained(hook).toOpaque())
    }

    /// A checkpoint of the WAL without waiting for readers or writers (`SQLITE_CHECKPOINT_PASSIVE`): the frames
    /// in the WAL and those copied into the database, or the error (`SQLITE_BUSY` when another connection is
    /// checkpointing).
    package func checkpointPassive() -> Result<(frames: Int, copied: Int), StoreError> {
        guard let handle else { return .failure(StoreError(.closed, "the database is closed")) }
        var frames: Int32 = 0
        var copied: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied)
        guard rc == SQLITE_OK else {
            return .failure(
                StoreError(.database, "cannot checkpoint the WAL: \(String(cString: sqlite3_errmsg(handle)))", code: rc)
            )
        }
        return .success((Int(frames), Int(copied)))
    }

    /// True when no transaction is open. After an error inside a transaction this tells whether SQLite already
    /// rolled it back (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM and others may).
    package var isAutocommit: Bool { handle.map { sqlite3_get_autocommit($0) != 0 } ?? true }

    package var changes: Int { handle.map { Int(sqlite3_changes($0)) } ?? 0 }

    /// How a COMMIT reaches the disk (`PRAGMA synchronous`, which a connection in WAL mode may change between
    /// transactions).
    package enum Durability: Sendable {
        /// The WAL is synced at every COMMIT: the transaction survives a power cut once COMMIT returns.
        case synced
        /// COMMIT returns once the WAL is written, not synced: the transaction survives the process being killed,
        /// and a power cut only if a later synced COMMIT (or checkpoint) came first; the database stays consistent
        /// either way.
        case written
    }

    /// `.synced` when the connection is opened (the store's pragmas set `synchronous=FULL`).
    private var durability = Durability.synced

    /// Sets how the next transactions reach the disk; runs the pragma only when it changes.
    package func setDurability(_ wanted: Durability) throws(StoreError) {
        guard wanted != durability else { return }
        try run(wanted == .synced ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL")
        durability = wanted
    }

    /// Runs SQL text that returns no rows (one or more statements, no parameters).
    package func execute(_ sql: String) throws(StoreError) {
        guard let handle else { throw StoreError(.closed, "the database is closed") }
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(message)
            throw StoreError(.database, text, code: rc)
        }
    }

    /// Runs one statement without parameters (`BEGIN IMMEDIATE`, `COMMIT`) through the statement cache, so that
    /// the statements of every group commit are compiled once instead of by `sqlite3_exec` each time.
    package func run(_ sql: String) throws(StoreError) {
        _ = try statement(sql).run([])
    }

    /// A prepared statement for `sql`, cached for the life of the connection.
    package func statement(_ sql: String) throws(StoreError) -> SQLiteStatement {
        if let cached = statements[sql] { return cached }
        guard let handle else { throw StoreError(.closed, "the database is closed") }
        var raw: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &raw, nil)
        guard rc == SQLITE_OK, let raw else {
            throw StoreError(
                .database, "cannot prepare a statement: \(String(cString: sqlite3_errmsg(handle)))", code: rc)
        }
        let statement = SQLiteStatement(raw, database: handle)
        statements[sql] = statement
        return statement
    }

    /// Runs `sql` with `values` and returns every row.
    @discardableResult
    package func query(_ sql: String, _ values: [SQLiteValue] = []) throws(StoreError) -> [[SQLiteValue]] {
        let statement = try statement(sql)
        return try statement.run(values)
    }

    /// Runs `sql` with `values` and returns the first row, if any.
    package func first(_ sql: String, _ values: [SQLiteValue] = []) throws(StoreError) -> [SQLiteValue]? {
        let statement = try statement(sql)
        return try statement.first(values)
    }
}

private final class WALHook {
    let handler: (Int) -> Void
    init(_ handler: @escaping (Int) -> Void) { self.handler = handler }
}
