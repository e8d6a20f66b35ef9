import BridgeStore
import Foundation
import Logging

/// Copies the WAL back into the database file on a thread and a connection of its own, so that the writer, which
/// every webhook waits for, does not stop for it.
///
/// SQLite's automatic checkpoint runs inside the COMMIT that takes the WAL past 1,000 pages: that commit, every
/// webhook of its group and every group queued behind it wait while some 4 MB are copied and the database file is
/// synced (20-40 ms on a virtual disk). Here the writer's connection has no automatic checkpoint. After each commit
/// it reports the size of the WAL (`committed(frames:writer:)`); once `every` frames wait to be copied this thread
/// runs a passive checkpoint, which neither blocks the writer nor waits for it.
///
/// The WAL starts again from its beginning only at a write that finds every frame copied, a moment a steady load
/// may never give this thread. So once the WAL holds `limit` frames the thread copies whatever waits, as soon as it
/// can, and the writer, after a commit that finds at most `tail` frames left, copies those itself (a few
/// milliseconds): its next transaction then starts the WAL again. Should that not happen before twice the limit,
/// the thread stands aside and the writer copies everything left after its next commit, as SQLite would have, so
/// the WAL stays bounded (unless a reader in another process holds it, as with SQLite's own checkpoints).
package final class SQLiteCheckpointer: @unchecked Sendable {
    package struct Stats: Sendable, Equatable {
        /// Checkpoints run by this thread.
        package var background = 0
        /// Checkpoints the writer ran itself at the limit.
        package var byWriter = 0
        /// Checkpoints that failed (a full disk, an I/O error); the WAL keeps the frames and a later one copies them.
        package var failures = 0
    }

    /// Frames waiting that wake the thread.
    package let every: Int
    /// Frames in the WAL from which it is started again.
    package let limit: Int
    /// Frames left that the writer copies itself at the limit.
    package let tail: Int

    // Guarded by `condition`.
    private let condition = NSCondition()
    /// Frames in the WAL after the writer's last commit.
    private var frames = 0
    /// Frames of the current WAL known to be copied into the database.
    private var copied = 0
    /// Counts the times the WAL started again from its beginning.
    private var generation = 0
    /// After a checkpoint that copied nothing (a reader in another process holds the WAL), the frames the WAL must
    /// reach before the thread tries again.
    private var retryFrom = 0
    private var requested = false
    private var checkpointing = false
    private var closing = false
    private var stopped = false
    private var stats = Stats()

    /// Only touched by the checkpointer's thread (and by `init` before the thread exists).
    private let database: SQLiteDatabase
    private let logger: Logger
    /// The last failure logged, so that a failure that repeats is logged once.
    private var lastFailure: String?

    /// Opens a second connection to the database at `path` and starts the thread.
    package init(path: String, every: Int, limit: Int, logger: Logger) throws(StoreError) {
        precondition(every > 0 && limit >= every)
        self.every = every
        self.limit = limit
        self.tail = max(1, every / 2)
        self.logger = logger
        database = try SQLiteDatabase(path: path, mode: .readWrite)
        // A checkpoint syncs as its connection says: the database file is synced before the WAL may start again.
        try database.execute("PRAGMA synchronous=FULL")
        let thread = Thread { [self] in self.loop() }
        thread.name = "bridge-sqlite-checkpoint"
        thread.start()
    }

    /// Whether the thread has frames to copy; guarded by `condition`. At twice the limit it stands aside, so that
    /// the writer's next commit after the thread's last checkpoint copies what is left and the WAL starts again.
    private var due: Bool {
        let waiting = frames - copied
        return frames >= retryFrom && frames < 2 * limit && (waiting >= every || (frames >= limit && waiting > 0))
    }

    /// Called on the writer's thread after each commit (SQLite's WAL hook) with the frames now in the WAL. Wakes
    /// the thread when frames are due; at the limit, the writer copies a small tail (or, at twice the limit,
    /// everything) itself.
    package func committed(frames count: Int, writer: SQLiteDatabase) {
        condition.lock()
        if count < frames {
            // The WAL started again from its beginning: what was copied belonged to the old one.
            generation += 1
            copied = 0
            retryFrom = 0
        }
        frames = count
        if !requested && !checkpointing && !closing && due {
            requested = true
            condition.signal()
        }
        // Nothing left to copy: the WAL starts again at the next write without a checkpoint.
        let waiting = count - copied
        let writerCopies =
            count >= limit && count >= retryFrom && !checkpointing && waiting > 0
            && (waiting <= tail || count >= 2 * limit)
        let seen = generation
        condition.unlock()
        guard writerCopies else { return }
        let result = writer.checkpointPassive()
        condition.lock()
        switch result {
        case .success(let progress):
            stats.byWriter += 1
            if seen == generation {
                if progress.copied > copied { copied = progress.copied } else { retryFrom = count + every }
            }
        case .failure(let error) where error.reason == .busy:
            break  // the thread started a checkpoint meanwhile; the next commit tries again
        case .failure:
            stats.failures += 1
        }
        condition.unlock()
    }

    package var statistics: Stats {
        condition.lock()
        defer { condition.unlock() }
        return stats
    }

    /// Lets a checkpoint under way finish, stops the thread and closes its connection; returns when done.
    package func close() {
        condition.lock()
        closing = true
        condition.broadcast()
        while !stopped { condition.wait() }
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while !requested && !closing { condition.wait() }
            if closing {
                condition.unlock()
                break
            }
            requested = false
            checkpointing = true
            let seen = generation
            condition.unlock()

            let result = database.checkpointPassive()

            condition.lock()
            checkpointing = false
            var failure: StoreError?
            switch result {
            case .success(let progress):
                stats.background += 1
                if seen == generation {
                    if progress.copied > copied {
                        copied = progress.copied
                        // Commits that came during this checkpoint may be due already.
                        if due { requested = true }
                    } else {
                        // Nothing copied: a reader in another process holds the frames. Try again once the WAL has
                        // grown, not after every commit.
                        retryFrom = frames + every
                    }
                }
            case .failure(let error) where error.reason == .busy:
                break  // the writer is copying its tail; its commit wakes the thread again if needed
            case .failure(let error):
                stats.failures += 1
                failure = error
            }
            condition.unlock()
            if let failure, failure.detail != lastFailure {
                logger.warning(
                    "The WAL could not be copied into the database; the next checkpoint will try again.",
                    metadata: ["error": "\(failure.detail)"])
            }
            lastFailure = failure?.detail
        }
        database.close()
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}
