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
        logger.notice(
            "store closed",
            metadata: [
                "store.commits": "\(stats.commits)", "store.records": "\(stats.records)",
                "store.largest_group": "\(stats.largest)",
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

    /// Runs `body` in a transaction on the writer thread.
    @discardableResult
    func transaction<T: Sendable>(_ body: @escaping @Sendable (SQLiteDatabase) throws -> T) async throws -> T {
        try await perform { database in
            try database.execute("BEGIN IMMEDIATE")
            do {
                let result = try body(database)
                try database.execute("COMMIT")
                return result
            } catch {
                if !database.isAutocommit { try? database.execute("ROLLBACK") }
                throw error
            }
        }
    }

    /// The writer thread's handler: webhook records are committed in groups, other work runs in order.
    func process(_ jobs: [SQLiteWriter.Job], _ database: SQLiteDatabase) {
        var batch: [(NewDelivery, CheckedContinuation<RecordResult, any Error>)] = []
        for job in jobs {
            switch job {
            case .record(let delivery, let continuation):
                batch.append((delivery, continuation))
            case .work(let body):
                if !batch.isEmpty {
                    commit(batch, database)
                    batch.removeAll()
                }
                body(database)
            }
        }
        if !batch.isEmpty { commit(batch, database) }
    }

    /// One transaction for the whole group, one savepoint per webhook. Every caller is answered after the
    /// outcome is known: stored only when COMMIT succeeded; an error anywhere that ends the transaction fails
    /// the whole group (503, the senders retry), so nothing is answered 202 without being committed and
    /// nothing is answered 503 while committed.
    func commit(_ batch: [(NewDelivery, CheckedContinuation<RecordResult, any Error>)], _ database: SQLiteDatabase) {
        func failAll(_ error: any Error) {
            if !database.isAutocommit { try? database.execute("ROLLBACK") }
            noteWriteFailure(error)
            for (_, c) in batch { c.resume(throwing: error) }
        }
        do {
            try database.execute("BEGIN IMMEDIATE")
        } catch {
            failAll(error)
            return
        }
        var results: [Result<RecordResult, any Error>] = []
        results.reserveCapacity(batch.count)
        for (delivery, _) in batch {
            do {
                try database.execute("SAVEPOINT d")
            } catch {
                failAll(error)
                return
            }
            do {
                let result = try insert(delivery, database)
                try database.execute("RELEASE d")
                results.append(.success(result))
            } catch {
                // SQLite may have rolled the whole transaction back already (full disk, I/O error, no memory):
                // then the savepoints before this one are gone too.
                if database.isAutocommit {
                    failAll(error)
                    return
                }
                do {
                    try database.execute("ROLLBACK TO d")
                    try database.execute("RELEASE d")
                } catch {
                    failAll(error)
                    return
                }
                results.append(.failure(error))
            }
        }
        do {
            try database.execute("COMMIT")
        } catch {
            logger.error("store commit failed", metadata: ["error": "\(error)"])
            failAll(error)
            return
        }
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
