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
}
