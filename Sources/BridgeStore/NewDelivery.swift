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
    /// Cost follow-ups, stored in the same transaction and due later.
    public var followUps: [CostFollowUp]
    public var explanation: Explanation
    /// The HTTP status the sender is answered with.
    public var httpStatus: Int
    /// The request as received, for the console: client address, headers (sensitive values already masked),
    /// the body's first `StoredRequest.bodyLimit` bytes. Nil when not kept (tests, replays).
    public var request: StoredRequest?

    public init(
        source: String, deliveryKey: String?, receivedAt: Date, status: Status, events: [EventRecord] = [],
        metrics: [MetricObservation] = [], followUps: [CostFollowUp] = [], explanation: Explanation,
        httpStatus: Int = 202, request: StoredRequest? = nil
    ) {
        self.followUps = followUps
        self.request = request
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
