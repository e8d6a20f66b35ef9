import Foundation

/// A Cloudthread endpoint the forwarder calls. Each has its own health: an outage of one holds back only the
/// records sent to it, and a record is judged poison only against its own endpoint.
public enum ForwarderEndpoint: String, Sendable, CaseIterable, Hashable {
    case events
    case streamsIngest = "streams_ingest"
    case teams
    case costMetric = "cost_metric"
    case unitMetric = "unit_metric"

    /// The request as a person reads it, for logs and reasons.
    public var request: String {
        switch self {
        case .events: "POST /events"
        case .streamsIngest: "POST /streams/ingest"
        case .teams: "GET /teams"
        case .costMetric: "GET /cost/metric"
        case .unitMetric: "GET /unit/metric"
        }
    }
}

/// What the forwarder knows of one endpoint's recent answers.
public struct EndpointHealth: Sendable, Equatable {
    /// Requests this endpoint accepted (2xx) since the process started.
    public var accepted = 0
    /// Requests that failed with a retryable answer (408, 429, 5xx, network) blamed on the endpoint.
    public var failed = 0
    /// Retryable failures since the last accepted request: the exponent of the backoff.
    public var failuresInRow = 0
    /// Nothing is sent to this endpoint before this time.
    public var holdUntil = Date.distantPast
    /// The last retryable failure, for the logs and the admin API.
    public var lastError: String?

    public init() {}
}

/// An endpoint's counters just after a record's last retryable failure: the evidence for the poison rule. The
/// record is poison only if, at each later failure, the endpoint has accepted other requests since and failed no
/// other.
struct FailureMark: Sendable, Equatable {
    var endpoint: ForwarderEndpoint
    var accepted: Int
    var failed: Int
    /// Whether that failure was of the record alone (only a lone failure can start a run of strikes).
    var alone: Bool
    /// The record's strikes so far (memory only).
    var strikes: Int
    /// Requests the endpoint accepted between this record's failures, over its current run of strikes.
    var acceptedDuringStrikes: Int
    /// When it failed: in a round, the lone records that failed longest ago go first, so records that keep failing
    /// cannot keep the others from being tried.
    var failedAt: Date
}
