import Synchronization

/// Duplicate webhooks per source since start-up, in memory: a duplicate is not stored as a delivery, so the
/// console counts them here.
final class DuplicateCounter: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    func add(source: String) { counts.withLock { $0[source, default: 0] += 1 } }

    func count(source: String) -> Int { counts.withLock { $0[source] ?? 0 } }
}
