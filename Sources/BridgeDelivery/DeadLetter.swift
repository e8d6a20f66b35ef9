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
}
