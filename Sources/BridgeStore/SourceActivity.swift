import Foundation

/// A source's stored deliveries over a window, for the console's overview.
public struct SourceActivity: Sendable, Equatable {
    public var source: String
    /// Deliveries by status (`accepted`, `ignored`, `rejected`) within the window.
    public var counts: [String: Int]
    /// Deliveries per hour within the window, oldest hour first; the last is the hour up to now.
    public var hourly: [Int]
    /// Deliveries per hour by status (`accepted`, `ignored`, `rejected`), each as long as `hourly` and in its order.
    public var hourlyByStatus: [String: [Int]]
    /// The newest delivery of this source ever stored (not only within the window).
    public var lastReceivedAt: Date?

    public init(
        source: String, counts: [String: Int], hourly: [Int], hourlyByStatus: [String: [Int]] = [:],
        lastReceivedAt: Date?
    ) {
        self.source = source
        self.counts = counts
        self.hourly = hourly
        self.hourlyByStatus = hourlyByStatus
        self.lastReceivedAt = lastReceivedAt
    }

    /// Adds `count` deliveries of `status`, `age` whole hours before now (clamped to the window).
    public mutating func add(status: String, age: Int64, count: Int) {
        counts[status, default: 0] += count
        // The last bucket is the hour up to `now`; older hours before it.
        let h = hourly.count - 1 - Int(min(max(0, age), Int64(hourly.count - 1)))
        hourly[h] += count
        var line = hourlyByStatus[status] ?? Array(repeating: 0, count: hourly.count)
        line[h] += count
        hourlyByStatus[status] = line
    }
}

/// The outbox over a window, hour by hour, for the console's forwarder chart (oldest hour first; the last is the
/// hour up to now).
public struct ForwarderActivity: Sendable, Equatable {
    /// Records Cloudthread accepted (or, in dry run, logged) in each hour, by the time they were marked sent.
    public var sent: [Int]
    /// Records still pending or in flight, by the hour they were created (older ones in the first hour).
    public var pending: [Int]
    /// Records dead-lettered in each hour.
    public var dead: [Int]

    public init(hours: Int) {
        sent = Array(repeating: 0, count: hours)
        pending = sent
        dead = sent
    }

    /// Adds `count` records of `state`, `age` whole hours before now (clamped to the window).
    public mutating func add(state: String, age: Int64, count: Int) {
        let h = sent.count - 1 - Int(min(max(0, age), Int64(sent.count - 1)))
        switch OutboxState(rawValue: state) {
        case .sent?: sent[h] += count
        case .pending?, .inflight?: pending[h] += count
        case .dead?: dead[h] += count
        case nil: break
        }
    }
}

/// An event or cost follow-up from the outbox, for the console's timeline.
public struct TimelineRecord: Sendable, Equatable {
    public var id: Int64
    /// `event` or `cost_followup` (`OutboxKind`).
    public var kind: String
    /// `pending`, `inflight`, `sent` or `dead` (`OutboxState`).
    public var state: String
    /// The stored JSON: an `EventRecord` or a `StoredCostFollowUp`.
    public var record: String
    public var deliveryId: Int64?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: Int64, kind: String, state: String, record: String, deliveryId: Int64?, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.kind = kind
        self.state = state
        self.record = record
        self.deliveryId = deliveryId
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
