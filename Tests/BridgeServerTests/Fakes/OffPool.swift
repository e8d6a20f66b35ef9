import Foundation

/// Runs blocking work (waiting for a child process, blocking socket I/O) on a thread of its own, so it never holds
/// one of Swift concurrency's few cooperative threads (two on a 2-core machine) while the bridge under test, in the
/// same process, needs them.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
