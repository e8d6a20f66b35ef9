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
}
