import Foundation

// MARK: - Windows

/// The days compared for a deploy at one instant.
public struct CostWindows: Sendable, Hashable {
    /// D: the UTC day of the deploy. Never compared (it is part before, part after).
    public let deployDay: CostDay
    /// D-before ... D-1.
    public let before: CostDayRange
    /// D+1 ... D+after.
    public let after: CostDayRange
    /// Start of D+after+1 plus the settling delay: when the follow-up runs.
    public let due: Date
    public let settlingHours: Int

    public init(deployAt: Date, beforeDays: Int, afterDays: Int, settlingHours: Int) throws {
        guard (1...CostImpactParse.maxWindowDays).contains(beforeDays),
            (1...CostImpactParse.maxWindowDays).contains(afterDays),
            (0...CostImpactParse.maxSettlingHours).contains(settlingHours)
        else {
            throw CostImpactError(.usage, "window lengths must be 1 to 90 days and the settling delay 0 to 30 days")
        }
        guard let d = CostDay(containing: deployAt), let first = d.adding(-beforeDays), let lastBefore = d.adding(-1),
            let firstAfter = d.adding(1), let lastAfter = d.adding(afterDays),
            let dueDay = d.adding(afterDays + 1 + (settlingHours + 23) / 24)
        else {
            throw CostImpactError(
                .usage,
                "deploy time \(CostImpactTime.rfc3339(deployAt)) is outside the supported range (its windows must "
                    + "fall between 1970-01-01 and 9999-12-31)"
            )
        }
        _ = dueDay
        deployDay = d
        before = CostDayRange(first: first, last: lastBefore)
        after = CostDayRange(first: firstAfter, last: lastAfter)
        due = Date(timeIntervalSince1970: Double(lastAfter.index + 1) * 86400 + Double(settlingHours) * 3600)
        self.settlingHours = settlingHours
    }

    public init(deployAt: Date, spec: CostImpactSpec) throws {
        try self.init(
            deployAt: deployAt, beforeDays: spec.beforeDays, afterDays: spec.afterDays,
            settlingHours: spec.settlingHours)
    }

    /// One request covers both windows (and the deploy day between them, which is then ignored).
    public var queryRange: CostDayRange { CostDayRange(first: before.first, last: after.last) }

    /// The last day whose data counts at `now`: a day counts once it has ended and the settling delay has passed
    /// (so at `due` exactly the whole after window counts). Nil when not even 1970-01-01 has settled.
    public static func lastSettledDay(at now: Date, settlingHours: Int) -> CostDay? {
        let t = now.timeIntervalSince1970 - Double(settlingHours) * 3600
        guard t.isFinite else { return nil }
        let endedDays = (t / 86400).rounded(.down)  // days 0 ..< endedDays have ended (and settled)
        guard endedDays >= 1 else { return nil }
        return CostDay(index: Int(min(endedDays - 1, Double(CostDay.maxIndex))))
    }

    /// The request range at `now`: from the first before day through the last settled day (never past the after
    /// window). Nil when no before day has settled yet: there is nothing worth asking for.
    public func queryRange(at now: Date) -> CostDayRange? {
        guard let settled = CostWindows.lastSettledDay(at: now, settlingHours: settlingHours), settled >= before.first
        else { return nil }
        return CostDayRange(first: before.first, last: min(settled, after.last))
    }

    /// `path` + query items for `GET /cost/metric/{id}` or `GET /unit/metric/{id}`.
    public static func request(source: CostSource, range: CostDayRange, options: CostQueryOptions = CostQueryOptions())
        -> (path: String, query: [(String, String)])
    {
        var q: [(String, String)] = [("start_date", range.first.iso), ("end_date", range.last.iso)]
        if let v = options.costType { q.append(("cost_type", v)) }
        if let v = options.amortization { q.append(("amortization", v ? "true" : "false")) }
        if let v = options.exclude { q.append(("exclude", v)) }
        if let v = options.granularity { q.append(("granularity", v)) }
        return (source.path, q)
    }
}
