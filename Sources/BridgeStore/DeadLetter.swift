import BridgeCore
import Foundation

/// A record that will not be sent, with the reason.
public struct DeadLetter: Sendable, Codable, Equatable {
    public var id: Int64
    public var deliveryId: Int64?
    public var kind: String
    public var attempts: Int
    public var reason: String
    public var record: String
    public var updatedAt: Date

    public init(
        id: Int64, deliveryId: Int64?, kind: String, attempts: Int, reason: String, record: String, updatedAt: Date
    ) {
        self.id = id
        self.deliveryId = deliveryId
        self.kind = kind
        self.attempts = attempts
        self.reason = reason
        self.record = record
        self.updatedAt = updatedAt
    }
}
