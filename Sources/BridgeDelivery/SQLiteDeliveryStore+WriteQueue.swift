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

/// The single writer: every statement runs on it, and queued webhook records share one transaction (group commit).
extension SQLiteDeliveryStore {
    /// The writer loop. On graceful shutdown (or cancellation) it finishes every queued job, checkpoints the
    /// WAL and closes. The loop itself runs in a task of its own, never cancelled, because SQLite work submitted
    /// from a cancelled task would be dropped by the thread pool.
    public func run() async throws {
        let worker = Task { try await self.writerLoop() }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                _ = await worker.result
            } onGracefulShutdown: {
                self.requestClose()
            }
        } onCancel: {
            self.requestClose()
        }
        try await worker.value
    }

    func requestClose() {
        state.withLock { $0.closed = true }
        wake.yield()
        wake.finish()
    }

    func writerLoop() async throws {
        for await _ in wakeups {
            await drain()
            if state.withLock({ $0.closed }) { break }
        }
        await drain()
        _ = try? await connection.query("PRAGMA wal_checkpoint(TRUNCATE)")
        try await connection.close()
        let stats = commitStats.withLock { $0 }
        logger.notice(
            "store closed",
            metadata: [
                "store.commits": "\(stats.commits)", "store.records": "\(stats.records)",
                "store.largest_group": "\(stats.largest)",
            ])
    }

    /// Group-commit statistics: commits, records committed, largest group.
    public var groupCommitStats: (commits: Int, records: Int, largest: Int) { commitStats.withLock { $0 } }

    func enqueue(_ job: Job) -> Bool {
        let accepted = state.withLock { s -> Bool in
            if s.closed { return false }
            s.jobs.append(job)
            return true
        }
        if accepted { wake.yield() }
        return accepted
    }

    func drain() async {
        while true {
            let jobs = state.withLock { s -> [Job] in
                let j = s.jobs
                s.jobs.removeAll(keepingCapacity: true)
                return j
            }
            if jobs.isEmpty { return }
            var batch: [(NewDelivery, CheckedContinuation<RecordResult, any Error>)] = []
            for job in jobs {
                switch job {
                case .record(let d, let c): batch.append((d, c))
                case .work(let body):
                    if !batch.isEmpty {
                        await commit(batch)
                        batch.removeAll()
                    }
                    await body(connection)
                }
            }
            if !batch.isEmpty { await commit(batch) }
        }
    }

    /// Runs `body` on the writer, serialised with everything else.
    func perform<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) async throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let ok = enqueue(
                .work({ connection in
                    do { continuation.resume(returning: try await body(connection)) } catch {
                        continuation.resume(throwing: error)
                    }
                }))
            if !ok { continuation.resume(throwing: StoreError(.closed, "the store is closed")) }
        }
    }

    /// Runs `body` in a transaction on the writer.
    func transaction<T: Sendable>(_ body: @escaping @Sendable (SQLiteConnection) async throws -> T) async throws -> T {
        try await perform { connection in
            _ = try await connection.query("BEGIN IMMEDIATE")
            do {
                let result = try await body(connection)
                _ = try await connection.query("COMMIT")
                return result
            } catch {
                _ = try? await connection.query("ROLLBACK")
                throw error
            }
        }
    }
}
