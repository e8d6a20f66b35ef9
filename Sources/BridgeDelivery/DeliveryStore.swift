import BridgeCore
import Foundation

/// The durable store behind the ingress and the forwarder.
public protocol DeliveryStore: Sendable {
    /// Stores a delivery and everything it produced in one durable transaction.
    func record(_ delivery: NewDelivery) async throws -> RecordResult
    /// Claims up to `limit` due records (they become in flight).
    func claimDue(now: Date, limit: Int) async throws -> [OutboxItem]
    func markSent(_ ids: [Int64], now: Date) async throws
    func markRetry(_ ids: [Int64], dueAt: Date, error: String, countAttempt: Bool, now: Date) async throws
    func markDead(_ ids: [Int64], reason: String, now: Date) async throws
    /// The earliest due time of a pending record.
    func nextDue() async throws -> Date?
    func stats(now: Date) async throws -> OutboxStats
    func deliveries(limit: Int, source: String?) async throws -> [DeliverySummary]
    func delivery(id: Int64) async throws -> DeliverySummary?
    func deadLetters(limit: Int) async throws -> [DeadLetter]
    /// Puts dead letters back in the outbox (all when `ids` is nil); returns how many.
    func replayDeadLetters(_ ids: [Int64]?, now: Date) async throws -> Int
    /// True when a write transaction can be opened.
    func isWritable() async -> Bool
}
