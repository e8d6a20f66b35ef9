import Foundation

/// What a webhook produced.
public enum OutputRecord: Sendable, Equatable {
    case event(EventRecord)
    case metric(MetricObservation)
}
