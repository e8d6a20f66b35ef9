import BridgeCore
import BridgeStore
import Foundation
import Logging
import ServiceLifecycle

/// The single writer: every statement runs on its thread, and queued webhook records share one transaction
/// (group commit).
extension SQLiteDeliveryStore {
    /// Waits for graceful shutdown (or cancellation), then finishes every queued job, checkpoints the WAL and
    /// closes. The writer thread itself is never cancelled, so no queued work is dropped.
    public func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await waitUntilClosing()
            } onGracefulShutdown: {
                self.beginClosing()
            }
        } onCancel: {
            self.beginClosing()
        }
        await close()
    }

    private func waitUntilClosing() async {
        let stream = closingSignal.stream
        for await _ in stream { break }
    }

    private func beginClosing() {
        closingSignal.continuation.finish()
    }

    /// Finishes queued work and closes the database (for commands that use the store without `run()`).
    public func close() async {
        await writer.close()
        let stats = groupCommitStats
        let checkpoints = checkpointStats
        logger.notice(
            "store closed",
            metadata: [
                "store.commits": "\(stats.commits)", "store.records": "\(stats.records)",
                "store.largest_group": "\(stats.largest)", "store.checkpoints": "\(checkpoints.background)",
                "store.checkpoints_by_writer": "\(checkpoints.byWriter)",
            ])
    }

    /// Runs `body` on the writer thread, serialised with everything else.
    @discardableResult
    func perform<T: Sendable>(_ body: @escaping @Sendable (SQLiteDatabase) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let queued = writer.submit(
                .work { database in continuation.resume(with: Result { try body(database) }) })
            if !queued { continuation.resume(throwing: StoreError(.closed, "the store is closed")) }
        }
    }

    /// Runs `body` in a transaction on the writer thread. Its COMMIT is synced to the disk unless `durability` is
    /// `.written`: only for the forwarder's claims and marks, whose loss in a power cut sends records again
    /// (at-least-once, as after a crash between a send and its mark); a later synced commit makes them durable too.
    @discardableResult
    func transaction<T: Sendable>(
        durability: SQLiteDatabase.Durability = .synced, _ body: @escaping @Sendable (SQLiteDatabase) throws -> T
    ) async throws -> T {
        try await perform { database in
            try database.setDurability(durability)
            try database.run("BEGIN IMMEDIATE")
            do {
                let result = try body(database)
                try database.run("COMMIT")
                return result
            } catch {
                if !database.isAutocommit { try? database.execute("ROLLBACK") }
                throw error
            }
        }
    }

    /// The writer thread's handler: every queued webhook record goes into one group commit, then the other work
    /// runs in the order it was queued. A record never waits for work queued before it: a forwarder's claim or
    /// mark between two webhooks used to split their group into two commits (two fsyncs). Nothing depends on that
    /// order: a caller's own jobs are queued one after the other (it awaits each), and work queued before a record
    /// only ever sees more committed rows than it would have.
    func process(_ jobs: [SQLiteWriter.Job], _ database: SQLiteDatabase) {
        var batch: [(EncodedDelivery, CheckedContinuation<RecordResult, any Error>)] = []
        var work: [(SQLiteDatabase) -> Void] = []
        for job in jobs {
            switch job {
            case .record(let delivery, let continuation): batch.append((delivery, continuation))
            case .work(let body): work.append(body)
            }
        }
        if !batch.isEmpty { commit(batch, database) }
        for body in work { body(database) }
    }

    /// One transaction for the whole group. Every caller is answered after the outcome is known: stored only when
    /// COMMIT succeeded; an error anywhere that ends the transaction fails the whole group (503, the senders
    /// retry), so nothing is answered 202 without being committed and nothing is answered 503 while committed.
    ///
    /// The group is first tried without savepoints: a savepoint makes SQLite copy every page it touches into a
    /// sub-journal (about 16 KiB per webhook, written to a temporary file), and an insert almost never fails on
    /// its own. If one does, the attempt is rolled back and the group is run again with one savepoint per webhook,
    /// so that the failing webhook alone is refused.
    func commit(_ batch: [(EncodedDelivery, CheckedContinuation<RecordResult, any Error>)], _ database: SQLiteDatabase)
    {
        // Bodies appended by an attempt that did not reach its COMMIT are not written.
        defer { bodies?.discard() }
        switch attempt(batch, database, savepoints: false) {
        case .committed(let results):
            finish(batch, results)
        case .failed(let error):
            failAll(batch, error, database)
        case .webhookFailed:
            bodies?.discard()
            switch attempt(batch, database, savepoints: true) {
            case .committed(let results): finish(batch, results)
            case .failed(let error), .webhookFailed(let error): failAll(batch, error, database)
            }
        }
    }

    private enum GroupAttempt {
        case committed([Result<RecordResult, any Error>])
        /// The transaction could not go on (BEGIN, COMMIT, a savepoint, or an error that rolled everything back).
        case failed(any Error)
        /// One webhook's insert failed in an attempt without savepoints; the transaction is rolled back.
        case webhookFailed(any Error)
    }

    private func attempt(
        _ batch: [(EncodedDelivery, CheckedContinuation<RecordResult, any Error>)], _ database: SQLiteDatabase,
        savepoints: Bool
    ) -> GroupAttempt {
        do {
            // A webhook is answered 202 only once its group is on the disk.
            try database.setDurability(.synced)
            try database.run("BEGIN IMMEDIATE")
        } catch {
            return .failed(error)
        }
        var results: [Result<RecordResult, any Error>] = []
        results.reserveCapacity(batch.count)
        // Without savepoints the group's observations are applied once, after its last webhook; with them, each
        // webhook's inside its own savepoint, so that a failure there is that webhook's alone.
        var observations = GroupObservations()
        for (delivery, _) in batch {
            if savepoints {
                do {
                    try database.execute("SAVEPOINT d")
                } catch {
                    return .failed(error)
                }
            }
            do {
                let result = try insert(delivery, database, observations: &observations)
                if savepoints {
                    try observations.apply(database)
                    observations.removeAll()
                    try database.execute("RELEASE d")
                }
                results.append(.success(result))
            } catch {
                observations.removeAll()
                if database.isAutocommit || !savepoints { return abandon(error, database) }
                do {
                    try database.execute("ROLLBACK TO d")
                    try database.execute("RELEASE d")
                } catch {
                    return .failed(error)
                }
                results.append(.failure(error))
            }
        }
        if !savepoints && !observations.isEmpty {
            do {
                try observations.apply(database)
            } catch {
                // Not one webhook's to answer for: the attempt with savepoints applies each webhook's on its own.
                return abandon(error, database)
            }
        }
        do {
            // The bodies before the rows that point at them.
            try bodies?.flush()
        } catch {
            try? database.execute("ROLLBACK")
            return .failed(error)
        }
        do {
            try database.run("COMMIT")
        } catch {
            logger.error("store commit failed", metadata: ["error": "\(error)"])
            return .failed(error)
        }
        return .committed(results)
    }

    /// Ends an attempt after an error. SQLite may have rolled the whole transaction back already (full disk, I/O
    /// error, no memory): then the group fails, savepoints and all. Otherwise the attempt is rolled back, and the
    /// group is run again with a savepoint per webhook.
    private func abandon(_ error: any Error, _ database: SQLiteDatabase) -> GroupAttempt {
        if database.isAutocommit { return .failed(error) }
        try? database.execute("ROLLBACK")
        if !database.isAutocommit { return .failed(error) }
        return .webhookFailed(error)
    }

    private func failAll(
        _ batch: [(EncodedDelivery, CheckedContinuation<RecordResult, any Error>)], _ error: any Error,
        _ database: SQLiteDatabase
    ) {
        if !database.isAutocommit { try? database.execute("ROLLBACK") }
        noteWriteFailure(error)
        for (_, c) in batch { c.resume(throwing: error) }
    }

    private func finish(
        _ batch: [(EncodedDelivery, CheckedContinuation<RecordResult, any Error>)],
        _ results: [Result<RecordResult, any Error>]
    ) {
        writeFailure.withLock { $0 = nil }
        commitStats.withLock {
            $0.commits += 1
            $0.records += batch.count
            $0.largest = max($0.largest, batch.count)
        }
        for ((_, continuation), result) in zip(batch, results) { continuation.resume(with: result) }
    }

    func noteWriteFailure(_ error: any Error) {
        let storeError = error as? StoreError ?? StoreError(.database, "\(error)")
        writeFailure.withLock { $0 = storeError }
    }
}
