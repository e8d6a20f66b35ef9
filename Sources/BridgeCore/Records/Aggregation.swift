import Foundation

/// Cloudthread's aggregation functions for custom data (`metric_agg_func`).
public enum Aggregation: String, Sendable, Codable, CaseIterable, Hashable {
    case sum = "Sum"
    case average = "Average"
    case maximum = "Maximum"
    case minimum = "Minimum"
}
