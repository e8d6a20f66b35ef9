import BridgeCore
import Foundation

/// One delivery with its request and the records it produced, for the console's delivery page.
public struct DeliveryDetail: Sendable, Equatable {
    /// One outbox record of the delivery and what became of it.
    public struct Record: Sendable, Equatable {
        public var id: Int64
        /// `event` or `metric`.
        public var kind: String
        /// `pending`, `inflight`, `sent` or `dead`.
        public var state: String
        public var attempts: Int
        /// The API's message (dead letters) or the last failure (retries).
        public var lastError: String?
        /// The event as sent, or the metric's name, hour and dimensions.
        public var record: String
        public var updatedAt: Date

        public init(
            id: Int64, kind: String, state: String, attempts: Int, lastError: String?, record: String, updatedAt: Date
        ) {
            self.id = id
            self.kind = kind
            self.state = state
            self.attempts = attempts
            self.lastError = lastError
            self.record = record
            self.updatedAt = updatedAt
        }
    }

    public var summary: DeliverySummary
    /// Nil for deliveries stored before the request was kept (schema 1).
    public var request: StoredRequest?
    public var records: [Record]

    public init(summary: DeliverySummary, request: StoredRequest?, records: [Record]) {
        self.summary = summary
        self.request = request
        self.records = records
    }
}
