import BridgeCore
import Foundation

/// Everything one webhook produced, stored in one transaction.
public struct NewDelivery: Sendable {
    public enum Status: String, Sendable, Codable {
        /// Stored with its records.
        case accepted
        /// No rule matched.
        case ignored
        /// Every output was invalid for Cloudthread.
        case rejected
        /// Refused before mapping (signature, body); kept so that `why` can be looked up.
        case refused
    }

    public var source: String
    /// Provider delivery id or content key; nil when the source has neither.
    public var deliveryKey: String?
    public var receivedAt: Date
    public var status: Status
    public var events: [EventRecord]
    public var metrics: [MetricObservation]
    public var explanation: Explanation
    /// The HTTP status the sender is answered with.
    public var httpStatus: Int

    public init(source: String, deliveryKey: String?, receivedAt: Date, status: Status, events: [EventRecord] = [], metrics: [MetricObservation] = [], explanation: Explanation, httpStatus: Int = 202) {
        self.httpStatus = httpStatus
        self.source = source
        self.deliveryKey = deliveryKey
        self.receivedAt = receivedAt
        self.status = status
        self.events = events
        self.metrics = metrics
        self.explanation = explanation
    }
}

public enum RecordResult: Sendable, Equatable {
    /// Stored; `events` and `metrics` count what was kept after per-item de-duplication.
    case stored(deliveryId: Int64, events: Int, metrics: Int)
    /// The delivery key (or every per-item key) was seen before; nothing new was stored.
    case duplicate(originalDeliveryId: Int64)
}

/// A record due for sending.
public struct OutboxItem: Sendable, Equatable {
    public enum Content: Sendable, Equatable {
        case event(EventRecord)
        /// The current hourly aggregate of a metric key, and the value to send for it.
        case metric(streamToken: String, name: String, aggregation: Aggregation, dimensions: [String: String], hour: String, value: Double)
    }

    public var id: Int64
    public var attempts: Int
    public var content: Content
}

/// A stored delivery, for inspection.
public struct DeliverySummary: Sendable, Codable, Equatable {
    public var id: Int64
    public var source: String
    public var deliveryKey: String?
    public var receivedAt: Date
    public var status: String
    public var httpStatus: Int
    public var events: Int
    public var metrics: Int
    public var explanation: Explanation?
}

/// A record that will not be sent, with the reason.
public struct DeadLetter: Sendable, Codable, Equatable {
    public var id: Int64
    public var deliveryId: Int64?
    public var kind: String
    public var attempts: Int
    public var reason: String
    public var record: String
    public var updatedAt: Date
}

/// Counts of the outbox by state.
public struct OutboxStats: Sendable, Codable, Equatable {
    public var pending: Int
    public var inflight: Int
    public var sent: Int
    public var dead: Int
    /// Age in seconds of the oldest pending record, 0 when none.
    public var oldestPendingAge: Double
}

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

public struct StoreError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
