import BridgeCore
import BridgeStore
import Foundation
import PostgresNIO

/// A webhook waiting for its transaction.
struct PendingRecord: Sendable {
    let delivery: NewDelivery
    let continuation: CheckedContinuation<RecordResult, any Error>
}

/// Group commit on PostgreSQL, as the SQLite store does on its writer: webhooks that arrive while the replica's
/// group is being stored (one group at a time, `writers`) wait in a queue, and the next group takes up to
/// `maxBatch` of them (a webhook alone is a group of one). A group is one statement whatever its size (`+Bulk`),
/// which PostgreSQL runs as a transaction of its own; two when a webhook of it has per-item keys (a rule's
/// `dedupe_key`: the keys of the group stored before are looked up first, and the group is decided in Swift as one
/// webhook at a time would decide it). The statement claims the keys with `ON CONFLICT DO NOTHING` and stores the
/// deliveries whose keys were free with their outbox records, so a duplicate (a key stored before, or twice in the
/// group) leaves only itself out; then it applies the aggregate updates of the whole group, one row per key in key
/// order, so the hot row of an hour's aggregate is locked once per group, until the statement ends, and two
/// replicas lock keys in the same order. When a webhook with item keys loses a claim to another replica, or the
/// statement fails (one webhook's row, most likely), the group is stored again in a transaction one webhook at a
/// time, each in its savepoint, so that only the failing webhook fails. Every webhook is answered after its group
/// is committed (202 only after commit); if the group fails, every webhook of it gets the error (503) and nothing
/// of it is stored.
extension PostgresDeliveryStore {
    static let maxBatch = 64

    public func record(_ delivery: NewDelivery) async throws -> RecordResult {
        try await withCheckedThrowingContinuation { continuation in
            let start = recordQueue.withLock { s -> Bool in
                s.waiting.append(PendingRecord(delivery: delivery, continuation: continuation))
                guard s.committers < maxCommitters else { return false }
                s.committers += 1
                return true
            }
            if start { Task { await self.commitWaiting() } }
        }
    }

    /// Commits queued webhooks, a group at a time, until the queue is empty.
    func commitWaiting() async {
        while true {
            let group = recordQueue.withLock { s -> [PendingRecord] in
                guard !s.waiting.isEmpty else {
                    s.committers -= 1
                    return []
                }
                let n = min(Self.maxBatch, s.waiting.count)
                defer { s.waiting.removeFirst(n) }
                return Array(s.waiting.prefix(n))
            }
            if group.isEmpty { return }
            recordTransactions.withLock { $0 += 1 }
            await recordGroup(group)
        }
    }

    enum GroupOutcome: Sendable {
        case stored(RecordResult)
        case duplicate(key: String)
        case failed(StoreError)
    }

    /// One transaction for several webhooks. In a fixed order (source, delivery key), so that two replicas
    /// committing the same keys take their locks in the same order.
    func recordGroup(_ group: [PendingRecord]) async {
        let ordered = group.sorted {
            ($0.delivery.source, $0.delivery.deliveryKey ?? "") < ($1.delivery.source, $1.delivery.deliveryKey ?? "")
        }
        let deliveries = ordered.map(\.delivery)
        let what = deliveries.count == 1 ? "record a webhook" : "record \(deliveries.count) webhooks"
        var outcomes: [GroupOutcome]
        do {
            do {
                outcomes = try await withConnection(what, timeout: writeTimeout) { [logger] db in
                    try await Self.storeInBulk(deliveries, db, logger: logger)
                }
            } catch let error as StoreError where error.reason == .database {
                // The group's statement failed on the server (or lost a claim): again, one webhook at a time.
                recordTransactions.withLock { $0 += 1 }
                outcomes = try await transaction(what, timeout: writeTimeout) { [logger] db in
                    try await Self.recordOneByOne(deliveries, db, logger: logger)
                }
            }
            noteSuccess()
        } catch {
            let failure = error as? StoreError ?? Self.storeError(error, what)
            noteFailure(failure)
            for p in ordered { p.continuation.resume(throwing: failure) }
            return
        }
        for (p, outcome) in zip(ordered, outcomes) {
            switch outcome {
            case .stored(let result): p.continuation.resume(returning: result)
            case .failed(let error): p.continuation.resume(throwing: error)
            case .duplicate(let key):
                do {
                    let original = try await original(source: p.delivery.source, key: key)
                    p.continuation.resume(returning: .duplicate(originalDeliveryId: original))
                } catch {
                    p.continuation.resume(throwing: error)
                }
            }
        }
    }

    /// The webhooks of a group one at a time, each in its savepoint, then the aggregate updates of all: a webhook
    /// whose statements fail rolls back alone.
    static func recordOneByOne(_ deliveries: [NewDelivery], _ db: PostgresConnection, logger: Logger) async throws
        -> [GroupOutcome]
    {
        var outcomes: [GroupOutcome] = []
        var upserts: [AggregateUpsert] = []
        for d in deliveries {
            outcomes.append(try await recordInSavepoint(d, db, logger: logger, upserts: &upserts))
        }
        try await applyAggregates(upserts, db, logger: logger)
        return outcomes
    }

    /// One webhook in a savepoint; its aggregate updates are added to `upserts`.
    static func recordInSavepoint(
        _ d: NewDelivery, _ db: PostgresConnection, logger: Logger, upserts: inout [AggregateUpsert]
    ) async throws -> GroupOutcome {
        try await Self.query(db, "SAVEPOINT webhook", logger: logger)
        do {
            let (result, more) = try await Self.insertDeferringAggregates(d, db, logger: logger)
            try await Self.query(db, "RELEASE SAVEPOINT webhook", logger: logger)
            upserts += more
            return .stored(result)
        } catch let duplicate as DuplicateDelivery {
            try await Self.query(db, "ROLLBACK TO SAVEPOINT webhook", logger: logger)
            return .duplicate(key: duplicate.key)
        } catch {
            if Self.isConnectionLoss(error) { throw error }
            try await Self.query(db, "ROLLBACK TO SAVEPOINT webhook", logger: logger)
            return .failed(Self.storeError(error, "record a webhook"))
        }
    }
}
