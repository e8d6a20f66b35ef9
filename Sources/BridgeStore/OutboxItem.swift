import BridgeCore
import Foundation

/// A record due for sending.
public struct OutboxItem: Sendable, Equatable {
    public enum Content: Sendable, Equatable {
        case event(EventRecord)
        /// The current hourly aggregate of a metric key, and the value to send for it.
        /// `streamRef` is the fingerprint of the stream token (`StreamTokenRef`); the token itself is not stored.
        case metric(
            streamRef: String, name: String, aggregation: Aggregation, dimensions: [String: String], hour: String,
            value: Double)
        /// A cost follow-up whose time has come (fetch the cost data, compare, post what it found).
        case costFollowUp(StoredCostFollowUp, deliveryID: Int64?)
    }

    public var id: Int64
    public var attempts: Int
    /// Times this record failed alone with a retryable error while other sends succeeded (poison detection).
    public var strikes: Int = 0
    public var content: Content

    public init(id: Int64, attempts: Int, strikes: Int = 0, content: Content) {
        self.id = id
        self.attempts = attempts
        self.strikes = strikes
        self.content = content
    }
}
