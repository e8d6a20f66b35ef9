import Foundation

/// One metric observation: it updates the hourly aggregate of its key.
public struct MetricObservation: Sendable, Codable, Equatable {
    public var streamToken: String
    public var name: String
    public var aggregation: Aggregation
    public var value: Double
    public var dimensions: [String: String]
    /// `YYYY-MM-DD HH:00:00` in UTC.
    public var hour: String
    public var rule: String
    /// Per-item de-duplication key (a rule's `dedupe_key`), when the rule has one.
    public var dedupeKey: String? = nil

    public init(
        streamToken: String, name: String, aggregation: Aggregation, value: Double, dimensions: [String: String],
        hour: String, rule: String, dedupeKey: String? = nil
    ) {
        self.streamToken = streamToken
        self.name = name
        self.aggregation = aggregation
        self.value = value
        self.dimensions = dimensions
        self.hour = hour
        self.rule = rule
        self.dedupeKey = dedupeKey
    }
}
