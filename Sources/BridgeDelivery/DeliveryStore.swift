import BridgeCore
import Foundation

/// The forwarder's side of the store: claiming due records with a lease and marking the outcome of each send.
public protocol OutboxStore: Sendable {
    /// Claims up to `limit` due records for `lease` seconds: they are in flight until marked, and due again when
    /// the lease ends unmarked (the claimer died or stalled). An aggregate key is claimed by one sender at a time.
    func claimDue(now: Date, limit: Int, lease: TimeInterval) async throws -> [OutboxItem]
    func markSent(_ ids: [Int64], now: Date) async throws
    /// Due again at `dueAt`. `countAttempt` counts a failed attempt; `strikes` sets the poison strikes of each
    /// record (nil keeps them).
    func markRetry(_ ids: [Int64], dueAt: Date, error: String, countAttempt: Bool, strikes: Int?, now: Date)
        async throws
    /// Finishes a claimed cost follow-up in one transaction: stores its event and data point, appends its note to
    /// the delivery's explanation and marks it sent. False (and nothing written) when the claim was lost: its lease
    /// ended and another sender took it.
    func completeFollowUp(_ id: Int64, _ completion: CostFollowUpCompletion, now: Date) async throws -> Bool
    func markDead(_ ids: [Int64], reason: String, now: Date) async throws
    /// The earliest time a record becomes due (a pending record's due time or an in-flight record's lease end).
    func nextDue() async throws -> Date?
}

/// The durable store behind the ingress and the forwarder. Implementations: `SQLiteDeliveryStore`,
/// `PostgresDeliveryStore`.
public protocol DeliveryStore: OutboxStore {
    /// Stores a delivery and everything it produced in one durable transaction.
    func record(_ delivery: NewDelivery) async throws -> RecordResult
    func stats(now: Date) async throws -> OutboxStats
    func deliveries(limit: Int, source: String?) async throws -> [DeliverySummary]
    func delivery(id: Int64) async throws -> DeliverySummary?
    func deadLetters(limit: Int) async throws -> [DeadLetter]
    /// Puts dead letters back in the outbox (all when `ids` is nil); returns how many.
    func replayDeadLetters(_ ids: [Int64]?, now: Date) async throws -> Int
    /// Console: newest first, ids below `before`, optionally of one source and one status (`accepted`, `ignored`,
    /// `rejected`).
    func deliveries(before: Int64?, limit: Int, source: String?, status: String?) async throws -> [DeliverySummary]
    /// Console: one delivery with its request (client address, masked headers, body cut at 64 KiB) and its records.
    func deliveryDetail(id: Int64) async throws -> DeliveryDetail?
    /// Console: per source, deliveries by status and per hour since `since`, and the newest delivery ever.
    func activity(since: Date, now: Date) async throws -> [SourceActivity]
    /// Deletes dead letters (only records in the dead state); returns how many.
    func discardDeadLetters(_ ids: [Int64]) async throws -> Int
    /// True while webhooks can be stored. Cheap enough for every readiness probe (no write lock).
    func isWritable() async -> Bool
    /// A small durable write that finds out whether a store that failed can write again.
    func probeWrite(now: Date) async
    /// Deletes what retention no longer needs.
    func prune(olderThan age: TimeInterval, now: Date) async throws
}
