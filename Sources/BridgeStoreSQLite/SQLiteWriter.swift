import BridgeStore
import Foundation

/// The thread that owns a SQLite connection. Jobs are queued from any thread or task; the thread takes all queued
/// jobs at once and hands them to the store, which runs them in as few transactions as it can.
package final class SQLiteWriter: @unchecked Sendable {
    package enum Job {
        case record(EncodedDelivery, CheckedContinuation<RecordResult, any Error>)
        case work((SQLiteDatabase) -> Void)
    }

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [Job] = []
    private var closing = false
    private var stopped = false
    /// Only touched by the writer thread (and by `start` before the thread exists).
    private let database: SQLiteDatabase
    private let name: String
    /// Copies the WAL into the database on its own thread; stopped before the writer's last checkpoint.
    private let checkpointer: SQLiteCheckpointer?

    package init(database: SQLiteDatabase, name: String, checkpointer: SQLiteCheckpointer? = nil) {
        self.database = database
        self.name = name
        self.checkpointer = checkpointer
        if let checkpointer {
            database.onWALCommit { [unowned database] frames in
                checkpointer.committed(frames: frames, writer: database)
            }
        }
    }

    package func start(_ process: @escaping @Sendable ([Job], SQLiteDatabase) -> Void) {
        let thread = Thread { [self] in self.loop(process) }
        thread.name = name
        thread.start()
    }

    private func loop(_ process: ([Job], SQLiteDatabase) -> Void) {
        while true {
            condition.lock()
            while jobs.isEmpty && !closing { condition.wait() }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            let done = closing && batch.isEmpty
            condition.unlock()
            if done { break }
            process(batch, database)
        }
        checkpointer?.close()
        try? database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        database.close()
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    /// Queues a job; false when the writer is closing.
    package func submit(_ job: Job) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if closing { return false }
        jobs.append(job)
        if jobs.count == 1 { condition.signal() }
        return true
    }

    /// Finishes every queued job, checkpoints the WAL and closes the connection; returns when done.
    package func close() async {
        beginClose()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread {
                self.condition.lock()
                while !self.stopped { self.condition.wait() }
                self.condition.unlock()
                done.resume()
            }.start()
        }
    }

    private func beginClose() {
        condition.lock()
        closing = true
        condition.broadcast()
        condition.unlock()
    }

    /// Jobs queued and not yet taken by the thread (tests wait on it to set up an order).
    package var queued: Int {
        condition.lock()
        defer { condition.unlock() }
        return jobs.count
    }

    package var isRunning: Bool {
        condition.lock()
        defer { condition.unlock() }
        return !closing
    }
}
