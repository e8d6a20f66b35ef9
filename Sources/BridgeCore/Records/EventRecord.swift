import Foundation

/// One event (chart annotation), valid for `POST /events` except for a team name still to resolve.
public struct EventRecord: Sendable, Codable, Equatable {
    /// `YYYY-MM-DD HH:00:00` in UTC.
    public var timestamp: String
    public var team: TeamRef?
    public var type: String
    public var description: String?
    public var url: String?
    /// The rule that produced it.
    public var rule: String
    /// Per-item de-duplication key (a rule's `dedupe_key`), when the rule has one.
    public var dedupeKey: String? = nil

    public init(
        timestamp: String, team: TeamRef? = nil, type: String, description: String? = nil, url: String? = nil,
        rule: String, dedupeKey: String? = nil
    ) {
        self.timestamp = timestamp
        self.team = team
        self.type = type
        self.description = description
        self.url = url
        self.rule = rule
        self.dedupeKey = dedupeKey
    }
}
