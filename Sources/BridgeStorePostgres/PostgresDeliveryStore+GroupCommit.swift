import BridgeCore
import BridgeStore
import Foundation
import PostgresNIO

/// A webhook waiting for its transaction.
struct PendingRecord: Sendable {
    let delivery: NewDelivery
    let continuation: CheckedContinuation<RecordResult, any Error>
}

/// Group commit on PostgreSQL, as the SQLite store does on its writer: webhooks that arrive while the store's
/// transactions are busy wait in a queue, and the next transaction takes up to `maxBatch` of them. Each webhook
/// is inside a savepoint, so a duplicate (its dedupe key taken) or a failing statement rolls back that webhook
/// alone; the aggregate updates of the whole group run last, one upsert per key in key order, so the hot row of an
/// hour's aggregate is locked once per group, briefly, and two replicas lock keys in the same order. Every webhook
/// is answered after the COMMIT of its group (202 only after commit); if the group fails, every webhook of it gets
/// the error (503) and nothing of it is stored.
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
            if group.count == 1 {
                let one = group[0]
                do {
                    one.continuation.resume(returning: try await recordOne(one.delivery))
                } catch {
                    one.continuation.resume(throwing: error)
                }
            } else {
                await recordGroup(group)
            }
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
        let outcomes: [GroupOutcome]
        do {
            outcomes = try await transaction("record \(deliveries.count) webhooks", timeout: writeTimeout) {
                [logger] db in
                var outcomes: [GroupOutcome] = []
                var upserts: [AggregateUpsert] = []
                for d in deliveries {
                    try await Self.query(db, "SAVEPOINT webhook", logger: logger)
                    do {
                        let (result, more) = try await Self.insertDeferringAggregates(d, db, logger: logger)
                        try await Self.query(db, "RELEASE SAVEPOINT webhook", logger: logger)
                        outcomes.append(.stored(result))
                        upserts += more
                    } catch let duplicate as DuplicateDelivery {
                        try await Self.query(db, "ROLLBACK TO SAVEPOINT webhook", logger: logger)
                        outcomes.append(.duplicate(key: duplicate.key))
                    } catch {
                        if Self.isConnectionLoss(error) { throw error }
                        try await Self.query(db, "ROLLBACK TO SAVEPOINT webhook", logger: logger)
                        outcomes.append(.failed(Self.storeError(error, "record a webhook")))
                    }
                }
                try await Self.applyAggregates(upserts, db, logger: logger)
                return outcomes
            }
            noteSuccess()
        } catch {
            let failure = error as? StoreError ?? Self.storeError(error, "record webhooks")
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
}
