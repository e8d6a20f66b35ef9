import BridgeCore
import Foundation

/// A record due for sending.
public struct OutboxItem: Sendable, Equatable {
    public enum Content: Sendable, Equatable {
        case event(EventRecord)
        /// The current hourly aggregate of a metric key, and the value to send for it.
        case metric(
            streamToken: String, name: String, aggregation: Aggregation, dimensions: [String: String], hour: String,
            value: Double)
    }

    public var id: Int64
    public var attempts: Int
    public var content: Content
}
