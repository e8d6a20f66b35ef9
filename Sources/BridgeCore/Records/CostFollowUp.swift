import Foundation

/// A cost follow-up asked for by an event's `cost_impact:` (docs/cost-impact.md): stored with the webhook in the
/// same transaction, run once when `due` has passed, and turned into a `cost-impact` event and a
/// `deploy_cost_change` data point.
public struct CostFollowUp: Sendable, Equatable {
    public let spec: CostImpactSpec
    /// The deploy's time (the event's time, to the second; the time received when the event has none).
    public let deployAt: Date
    /// The deploy event's description: the prefix of the follow-up's text.
    public var description: String?
    /// The deploy event's URL, repeated on the follow-up event.
    public var url: String?
    public var team: TeamRef?
    /// Dimensions of the `deploy_cost_change` data point (at most 10).
    public var dimensions: [String: String]
    /// The data stream of the data point; nil: no data point (the event is still posted). A secret, stored only
    /// as its fingerprint.
    public var streamToken: Secret?
    /// The rule that asked for it.
    public var rule: String
    /// The event's per-item de-duplication key: a follow-up of an item seen before is left out with its event.
    public var dedupeKey: String? = nil
    /// When it runs: the end of the after window plus the settling delay (computed once; `spec` and `deployAt`
    /// are constants, so it cannot go stale).
    public let due: Date

    public init(
        spec: CostImpactSpec, deployAt: Date, description: String?, url: String?, team: TeamRef?,
        dimensions: [String: String], streamToken: Secret?, rule: String
    ) throws {
        // The windows first: they refuse a time outside 1970...9999 before it is rounded.
        _ = try CostWindows(deployAt: deployAt, spec: spec)
        let rounded = CostFollowUp.milliseconds(deployAt)
        self.spec = spec
        self.deployAt = rounded
        self.description = description
        self.url = url
        self.team = team
        self.dimensions = dimensions
        self.streamToken = streamToken
        self.rule = rule
        self.due = try CostWindows(deployAt: rounded, spec: spec).due
    }

    /// Deploy times are kept to the millisecond (stored as an integer, so they read back exactly).
    static func milliseconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: Double(Int64((date.timeIntervalSince1970 * 1000).rounded())) / 1000)
    }

    /// One line for `try`, logs and the delivery's explanation.
    public var summary: String {
        let windows = try? CostWindows(deployAt: deployAt, spec: spec)
        var s =
            "cost impact follow-up planned: \(spec.source.noun) \(spec.source.id), \(spec.afterDays) days after vs "
            + "\(spec.beforeDays) days before \(windows?.deployDay.iso ?? "the deploy day"), due "
            + CostImpactTime.rfc3339(due)
        if let t = spec.thresholdPercent { s += ", threshold \(CostImpactFormatNumber.plain(t))%" }
        if streamToken == nil { s += " (no data stream token: no deploy_cost_change data point)" }
        return s
    }

    public static func == (a: CostFollowUp, b: CostFollowUp) -> Bool {
        a.spec == b.spec && a.deployAt == b.deployAt && a.description == b.description && a.url == b.url
            && a.team == b.team && a.dimensions == b.dimensions && a.rule == b.rule && a.dedupeKey == b.dedupeKey
            && a.streamToken?.bytes == b.streamToken?.bytes
    }
}

/// A follow-up as stored in the outbox (`kind = 'cost_followup'`): the stream token only as its fingerprint.
public struct StoredCostFollowUp: Sendable, Equatable, Codable {
    public let spec: CostImpactSpec
    public var deployAt: Date
    public var description: String?
    public var url: String?
    public var team: TeamRef?
    public var dimensions: [String: String]
    /// `StreamTokenRef` fingerprint of the data stream token; nil: no data point.
    public var streamRef: String?
    public var rule: String

    public init(_ f: CostFollowUp, streamRef: String?) {
        spec = f.spec
        deployAt = f.deployAt
        description = f.description
        url = f.url
        team = f.team
        dimensions = f.dimensions
        self.streamRef = streamRef
        rule = f.rule
    }

    enum CodingKeys: String, CodingKey {
        case spec
        case deployAt = "deploy_at"
        case description, url, team, dimensions
        case streamRef = "stream_ref"
        case rule
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        spec = try c.decode(CostImpactSpec.self, forKey: .spec)
        let ms = try c.decode(Int64.self, forKey: .deployAt)
        deployAt = Date(timeIntervalSince1970: Double(ms) / 1000)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        url = try c.decodeIfPresent(String.self, forKey: .url)
        team = try c.decodeIfPresent(TeamRef.self, forKey: .team)
        dimensions = try c.decodeIfPresent([String: String].self, forKey: .dimensions) ?? [:]
        streamRef = try c.decodeIfPresent(String.self, forKey: .streamRef)
        rule = try c.decode(String.self, forKey: .rule)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(spec, forKey: .spec)
        try c.encode(Int64((deployAt.timeIntervalSince1970 * 1000).rounded()), forKey: .deployAt)
        try c.encodeIfPresent(description, forKey: .description)
        try c.encodeIfPresent(url, forKey: .url)
        try c.encodeIfPresent(team, forKey: .team)
        try c.encode(dimensions, forKey: .dimensions)
        try c.encodeIfPresent(streamRef, forKey: .streamRef)
        try c.encode(rule, forKey: .rule)
    }

    /// The JSON kept in the outbox's `record` column (sorted keys: the same follow-up is the same text).
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    public static func decode(_ text: String) throws -> StoredCostFollowUp {
        try JSONDecoder().decode(StoredCostFollowUp.self, from: Data(text.utf8))
    }

    /// When it runs.
    public var due: Date? { try? CostWindows(deployAt: deployAt, spec: spec).due }
}

/// What a finished follow-up adds, in one transaction with marking it done.
public struct CostFollowUpCompletion: Sendable, Equatable {
    /// The `cost-impact` event (nil: below the threshold, or not enough data).
    public var event: EventRecord?
    /// The `deploy_cost_change` observation (nil: not enough data, or no stream token).
    public var metric: MetricObservation?
    /// Appended to the delivery's explanation: what the follow-up found.
    public var note: String

    public init(event: EventRecord?, metric: MetricObservation?, note: String) {
        self.event = event
        self.metric = metric
        self.note = note
    }
}

/// A threshold or percentage as typed: `10`, `12.5`.
public enum CostImpactFormatNumber {
    public static func plain(_ x: Double) -> String {
        var s = String(format: "%.6f", x)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }
}
