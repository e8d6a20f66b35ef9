/// What an outbox record sends. The raw values are what the stores keep in the `kind` column.
public enum OutboxKind: String, Sendable, CaseIterable {
    /// An event, stored as sent.
    case event
    /// A send of a metric key's current hourly aggregate (the record points at the aggregate).
    case metric
    /// A cost follow-up, due when its after window has settled (docs/cost-impact.md).
    case costFollowUp = "cost_followup"

    /// The raw value quoted as an SQL string literal, for statements written as text.
    public var sql: String { "'\(rawValue)'" }
}

/// Where an outbox record is in its life. The raw values are what the stores keep in the `state` column.
public enum OutboxState: String, Sendable, CaseIterable {
    /// Waiting for its due time.
    case pending
    /// Claimed by a sender until its lease ends.
    case inflight
    /// Accepted by Cloudthread.
    case sent
    /// A dead letter: it will not be sent unless replayed.
    case dead

    /// The raw value quoted as an SQL string literal, for statements written as text.
    public var sql: String { "'\(rawValue)'" }
}
