import BridgeCloudthread
import BridgeCore
import Foundation

/// One request the forwarder's core asks its shell to make, with the records it carries.
public enum ForwarderRequest: Sendable {
    /// `POST /events` with these records (at most a batch), each with its request item (team resolved).
    case events([(OutboxItem, EventsRequest.Item)])
    /// `POST /streams/ingest` of one stream and one aggregation.
    case metrics(token: Secret, aggregation: Aggregation, [OutboxItem])
    /// `GET /cost/metric/{id}` or `GET /unit/metric/{id}` for a cost follow-up.
    case costRead(OutboxItem, StoredCostFollowUp, path: String, query: [(String, String)])

    public var items: [OutboxItem] {
        switch self {
        case .events(let pairs): pairs.map { $0.0 }
        case .metrics(_, _, let items): items
        case .costRead(let item, _, _, _): [item]
        }
    }

    public var ids: [Int64] { items.map { $0.id } }

    /// The outbox kind of its records, for metrics and dead letters.
    public var kind: String {
        switch self {
        case .events: "event"
        case .metrics: "metric"
        case .costRead: "cost_followup"
        }
    }

    public var endpoint: ForwarderEndpoint {
        switch self {
        case .events: .events
        case .metrics: .streamsIngest
        case .costRead(_, let f, _, _):
            switch f.spec.source {
            case .costView: .costMetric
            case .unitMetric: .unitMetric
            }
        }
    }

    /// The two halves of a request of several records (a 400 or 404 is narrowed down to the bad record).
    func split() -> (ForwarderRequest, ForwarderRequest)? {
        switch self {
        case .events(let pairs) where pairs.count > 1:
            let half = pairs.count / 2
            return (.events(Array(pairs[..<half])), .events(Array(pairs[half...])))
        case .metrics(let token, let agg, let items) where items.count > 1:
            let half = items.count / 2
            return (
                .metrics(token: token, aggregation: agg, Array(items[..<half])),
                .metrics(token: token, aggregation: agg, Array(items[half...]))
            )
        default:
            return nil
        }
    }
}

/// What the core decided; the shell carries each out in order (store writes, logs, metrics).
public enum ForwarderEffect: Sendable {
    /// Cloudthread accepted these records.
    case sent(ids: [Int64], kind: String)
    /// Due again at `dueAt`. `countAttempt` counts a failed attempt; `strikes` sets the poison strikes (nil keeps).
    case retry(ids: [Int64], dueAt: Date, reason: String, countAttempt: Bool, strikes: Int?)
    /// Never sent: moved to dead letters with the reason.
    case dead(ids: [Int64], kind: String, reason: String)
    /// A cost follow-up ran: store what it found and mark it done, in one transaction.
    case complete(id: Int64, CostFollowUpCompletion)
    /// The API key was refused: everything waits `interval` seconds, nothing is dropped.
    case paused(status: Int, endpoint: ForwarderEndpoint, interval: TimeInterval)
    /// The API key is accepted again.
    case resumed
    /// A retryable failure: nothing more is sent to `endpoint` for `delay` seconds.
    case held(endpoint: ForwarderEndpoint, reason: String, delay: TimeInterval)
}
