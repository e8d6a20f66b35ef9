import Foundation

/// One metric observation: it updates the hourly aggregate of its key.
public struct MetricObservation: Sendable, Equatable {
    /// The data stream token: a secret, redacted in every textual form and stored only as a fingerprint.
    public var streamToken: Secret
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
        streamToken: Secret, name: String, aggregation: Aggregation, value: Double, dimensions: [String: String],
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

    /// Equal when everything but the token is equal and the tokens are the same bytes (for tests and
    /// de-duplication; not a constant-time comparison).
    public static func == (a: MetricObservation, b: MetricObservation) -> Bool {
        a.name == b.name && a.aggregation == b.aggregation && a.value == b.value && a.dimensions == b.dimensions
            && a.hour == b.hour && a.rule == b.rule && a.dedupeKey == b.dedupeKey
            && a.streamToken.bytes == b.streamToken.bytes
    }
}
