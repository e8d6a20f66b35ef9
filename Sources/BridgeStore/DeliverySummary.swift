import BridgeCore
import Foundation

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

    public init(
        id: Int64, source: String, deliveryKey: String?, receivedAt: Date, status: String, httpStatus: Int,
        events: Int, metrics: Int, explanation: Explanation?
    ) {
        self.id = id
        self.source = source
        self.deliveryKey = deliveryKey
        self.receivedAt = receivedAt
        self.status = status
        self.httpStatus = httpStatus
        self.events = events
        self.metrics = metrics
        self.explanation = explanation
    }

    /// A webhook, or a delivery that `cloudthread-bridge backfill` rebuilt (its key starts with `backfill:`).
    public var origin: DeliveryOrigin {
        deliveryKey?.hasPrefix(DeliveryOrigin.backfillKeyPrefix) == true ? .backfill : .webhook
    }
}

/// Where a stored delivery came from: a provider's webhook, or the backfill command.
public enum DeliveryOrigin: String, Sendable, CaseIterable {
    case webhook
    case backfill

    /// The start of every backfilled delivery's key (`backfill:github:<status id>`, `backfill:gitlab:<id>`, ...).
    public static let backfillKeyPrefix = "backfill:"
}
