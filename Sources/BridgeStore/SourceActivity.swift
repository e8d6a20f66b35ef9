import Foundation

/// A source's stored deliveries over a window, for the console's overview.
public struct SourceActivity: Sendable, Equatable {
    public var source: String
    /// Deliveries by status (`accepted`, `ignored`, `rejected`) within the window.
    public var counts: [String: Int]
    /// Deliveries per hour within the window, oldest hour first; the last is the hour up to now.
    public var hourly: [Int]
    /// The newest delivery of this source ever stored (not only within the window).
    public var lastReceivedAt: Date?

    public init(source: String, counts: [String: Int], hourly: [Int], lastReceivedAt: Date?) {
        self.source = source
        self.counts = counts
        self.hourly = hourly
        self.lastReceivedAt = lastReceivedAt
    }
}
