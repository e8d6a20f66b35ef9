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

/// The ingestor's side: one webhook and everything it produced, in one durable transaction.
public protocol IngestStore: Sendable {
    /// Stores a delivery and everything it produced in one durable transaction.
    func record(_ delivery: NewDelivery) async throws -> RecordResult
}

/// The admin API's and the CLI's side: inspection and replay.
public protocol AdminStore: Sendable {
    func stats(now: Date) async throws -> OutboxStats
    func deliveries(limit: Int, source: String?) async throws -> [DeliverySummary]
    func delivery(id: Int64) async throws -> DeliverySummary?
    func deadLetters(limit: Int) async throws -> [DeadLetter]
    /// Puts dead letters back in the outbox (all when `ids` is nil); returns how many.
    func replayDeadLetters(_ ids: [Int64]?, now: Date) async throws -> Int
}

/// The web console's side: pages of deliveries, one delivery in full, activity per source, discarding dead letters.
public protocol ConsoleStore: Sendable {
    /// Newest first, ids below `before`, optionally of one source, one status (`accepted`, `ignored`, `rejected`)
    /// and one origin (webhooks, or deliveries of the backfill command).
    func deliveries(before: Int64?, limit: Int, source: String?, status: String?, origin: DeliveryOrigin?)
        async throws -> [DeliverySummary]
    /// One delivery with its request (client address, masked headers, body cut at 64 KiB) and its records.
    func deliveryDetail(id: Int64) async throws -> DeliveryDetail?
    /// Per source, deliveries by status and per hour since `since`, and the newest delivery ever.
    func activity(since: Date, now: Date) async throws -> [SourceActivity]
    /// The outbox hour by hour since `since`: records sent and dead-lettered in each hour (by the time they were
    /// marked), records still pending or in flight by the hour they were created.
    func forwarderActivity(since: Date, now: Date) async throws -> ForwarderActivity
    /// Events and cost follow-ups created since `since` (any state): the `limit` last updated, oldest first.
    func timeline(since: Date, limit: Int) async throws -> [TimelineRecord]
    /// Deletes dead letters (only records in the dead state); returns how many.
    func discardDeadLetters(_ ids: [Int64]) async throws -> Int
}

/// Readiness and the outbox's counts.
public protocol HealthStore: Sendable {
    /// True while webhooks can be stored. Cheap enough for every readiness probe (no write lock).
    func isWritable() async -> Bool
    /// A small durable write that finds out whether a store that failed can write again.
    func probeWrite(now: Date) async
    func stats(now: Date) async throws -> OutboxStats
}

/// Retention: what is no longer needed is deleted.
public protocol RetentionStore: Sendable {
    /// Deletes what retention no longer needs.
    func prune(olderThan age: TimeInterval, now: Date) async throws
}

/// The durable store behind the ingress and the forwarder: every role, and `close()`. Implementations:
/// `SQLiteDeliveryStore` (BridgeStoreSQLite), `PostgresDeliveryStore` (BridgeStorePostgres).
public protocol DeliveryStore: IngestStore, OutboxStore, AdminStore, ConsoleStore, HealthStore, RetentionStore {
    /// Finishes queued work and closes the store (for commands that use it without running it as a service).
    func close() async
}

extension ConsoleStore {
    /// Newest first, of every origin.
    public func deliveries(before: Int64?, limit: Int, source: String?, status: String?) async throws
        -> [DeliverySummary]
    {
        try await deliveries(before: before, limit: limit, source: source, status: status, origin: nil)
    }
}
