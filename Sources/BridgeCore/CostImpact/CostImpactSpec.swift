import Foundation

// MARK: - Spec

/// What to measure: a Cost View (daily cost) or a Unit Metric (daily unit cost).
public enum CostSource: Sendable, Hashable, Codable {
    case costView(String)
    case unitMetric(String)

    public var id: String {
        switch self {
        case .costView(let id), .unitMetric(let id): return id
        }
    }

    /// `/cost/metric/{id}` or `/unit/metric/{id}` (the id is validated to be a safe path segment).
    public var path: String {
        switch self {
        case .costView(let id): return "/cost/metric/\(id)"
        case .unitMetric(let id): return "/unit/metric/\(id)"
        }
    }

    /// The answer's per-day value: `current_timeframe_cost` for a Cost View, `current_timeframe_unit_metric` for
    /// a Unit Metric (openapi.yaml, GetCostViewDataPoint / GetUnitMetricDataPoint).
    public var valueField: String {
        switch self {
        case .costView: return "current_timeframe_cost"
        case .unitMetric: return "current_timeframe_unit_metric"
        }
    }

    /// "cost view" / "unit metric", for messages.
    public var noun: String {
        switch self {
        case .costView: return "cost view"
        case .unitMetric: return "unit metric"
        }
    }

    /// What the compared number is called in the text.
    public var quantity: String {
        switch self {
        case .costView: return "daily cost"
        case .unitMetric: return "daily unit cost"
        }
    }
}

/// Optional pass-through query parameters of the cost endpoints. Left nil they are not sent (the documented
/// query is `start_date` + `end_date` only; see README "granularity").
public struct CostQueryOptions: Sendable, Hashable, Codable {
    public var costType: String?
    public var amortization: Bool?
    public var exclude: String?
    public var granularity: String?

    public init(costType: String? = nil, amortization: Bool? = nil, exclude: String? = nil, granularity: String? = nil)
    {
        self.costType = costType
        self.amortization = amortization
        self.exclude = exclude
        self.granularity = granularity
    }
}

/// A cost follow-up as a rule (or the CLI) asks for it.
public struct CostImpactSpec: Sendable, Hashable, Codable {
    /// Fewer days than this on either side after dropping missing days: `.notEnoughData`.
    public static let minimumDaysPerSide = 2

    public let source: CostSource
    public let beforeDays: Int
    public let afterDays: Int
    /// Changes of at most this many percent (either way) are `.belowThreshold`; nil: every change counts.
    public let thresholdPercent: Double?
    /// How long after the end of the after window cost data is considered settled.
    public let settlingHours: Int
    public let query: CostQueryOptions

    /// Validates every number; a window shorter than `minimumDaysPerSide` is refused because it could never compare.
    public init(
        source: CostSource, beforeDays: Int = 7, afterDays: Int = 3, thresholdPercent: Double? = nil,
        settlingHours: Int = 24, query: CostQueryOptions = CostQueryOptions()
    ) throws {
        _ = try CostImpactParse.metricID(source.id, option: source.noun + " id")
        for (name, n) in [("before", beforeDays), ("after", afterDays)] {
            guard (CostImpactSpec.minimumDaysPerSide...CostImpactParse.maxWindowDays).contains(n) else {
                throw CostImpactError(
                    .usage,
                    "\(name) window of \(n) days: must be \(CostImpactSpec.minimumDaysPerSide) to "
                        + "\(CostImpactParse.maxWindowDays) days (at least \(CostImpactSpec.minimumDaysPerSide) "
                        + "days are needed to compare)"
                )
            }
        }
        if let t = thresholdPercent {
            guard t.isFinite, t > 0, t <= CostImpactParse.maxThresholdPercent else {
                throw CostImpactError(.usage, "threshold \(t)%: must be above 0% and at most 1000%")
            }
        }
        guard (0...CostImpactParse.maxSettlingHours).contains(settlingHours) else {
            throw CostImpactError(
                .usage, "settling delay of \(settlingHours) h: must be 0 to \(CostImpactParse.maxSettlingHours) h")
        }
        self.source = source
        self.beforeDays = beforeDays
        self.afterDays = afterDays
        self.thresholdPercent = thresholdPercent
        self.settlingHours = settlingHours
        self.query = query
    }

    enum CodingKeys: String, CodingKey { case source, beforeDays, afterDays, thresholdPercent, settlingHours, query }

    /// Decoding (a stored follow-up) validates like `init`, so a damaged record is refused rather than trusted.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            source: c.decode(CostSource.self, forKey: .source),
            beforeDays: c.decode(Int.self, forKey: .beforeDays),
            afterDays: c.decode(Int.self, forKey: .afterDays),
            thresholdPercent: c.decodeIfPresent(Double.self, forKey: .thresholdPercent),
            settlingHours: c.decode(Int.self, forKey: .settlingHours),
            query: c.decodeIfPresent(CostQueryOptions.self, forKey: .query) ?? CostQueryOptions())
    }

    /// From the textual forms (`7d`, `3d`, `5%`, `1d`), as a rule file or the CLI gives them.
    public init(
        source: CostSource, before: String, after: String, threshold: String? = nil,
        settling: String = "1d", query: CostQueryOptions = CostQueryOptions()
    ) throws {
        try self.init(
            source: source,
            beforeDays: CostImpactParse.days(before, option: "before"),
            afterDays: CostImpactParse.days(after, option: "after"),
            thresholdPercent: threshold.map { try CostImpactParse.percent($0, option: "threshold") },
            settlingHours: CostImpactParse.settlingHours(settling, option: "settling delay"),
            query: query)
    }
}
