import BridgeCore
import Foundation

// Cost impact: what a deploy did to the daily cost of a Cloudthread Cost View or Unit Metric.
//
// Pure logic only (no I/O): days and windows, option parsers, decoding of `GET /cost/metric/{id}` and
// `GET /unit/metric/{id}`, the before/after comparison, and its text and JSON forms (docs/cost-impact.md).

// MARK: - Decoding the API answer

/// A daily series as Cloudthread answered it.
public struct CostSeries: Sendable, Equatable {
    /// Day → value ($ for a Cost View, $ per unit for a Unit Metric).
    public var values: [CostDay: Double]
    /// Days listed with a null or absent value: treated as missing, like days not listed at all.
    public var daysWithoutValue: [CostDay]

    public init(values: [CostDay: Double], daysWithoutValue: [CostDay] = []) {
        self.values = values
        self.daysWithoutValue = daysWithoutValue
    }
}

public enum CostSeriesDecoder {
    /// Larger answers are refused (a 181-day daily series is a few tens of kB).
    public static let maxBodyBytes = 4 << 20
    public static let maxPoints = 10_000
    /// Values beyond ±1e15 are refused as implausible; it also keeps every sum and mean finite.
    public static let maxMagnitude = 1e15

    private struct Payload<P: Decodable>: Decodable { let data: [P]? }
    private struct CostPoint: Decodable {
        let date: String?
        let currentTimeframeCost: Double?
        enum CodingKeys: String, CodingKey {
            case date
            case currentTimeframeCost = "current_timeframe_cost"
        }
    }
    private struct UnitPoint: Decodable {
        let date: String?
        let currentTimeframeUnitMetric: Double?
        enum CodingKeys: String, CodingKey {
            case date
            case currentTimeframeUnitMetric = "current_timeframe_unit_metric"
        }
    }

    /// Decodes `{"data": [{"date": "YYYYMMDD", "<valueField>": number, ...}, ...]}` (other fields ignored).
    /// Refused: not that shape, a date that is missing or not a real `YYYYMMDD` (or `YYYY-MM-DD`) day, a day
    /// listed twice, a value that is not a number or not finite or implausibly large.
    public static func decode(_ body: [UInt8], source: CostSource) throws -> CostSeries {
        guard body.count <= maxBodyBytes else { throw malformed("the answer is larger than \(maxBodyBytes) bytes") }
        let points: [(String?, Double?)]
        do {
            switch source {
            case .costView:
                let p = try JSONDecoder().decode(Payload<CostPoint>.self, from: Data(body))
                guard let data = p.data else { throw malformed("the answer has no \"data\" list") }
                points = data.map { ($0.date, $0.currentTimeframeCost) }
            case .unitMetric:
                let p = try JSONDecoder().decode(Payload<UnitPoint>.self, from: Data(body))
                guard let data = p.data else { throw malformed("the answer has no \"data\" list") }
                points = data.map { ($0.date, $0.currentTimeframeUnitMetric) }
            }
        } catch let e as CostImpactError {
            throw e
        } catch let e as DecodingError {
            throw malformed(describe(e))
        } catch {
            throw malformed("the answer is not JSON")
        }
        guard points.count <= maxPoints else { throw malformed("the answer has more than \(maxPoints) points") }
        var series = CostSeries(values: [:])
        var seen = Set<CostDay>()
        for (i, (dateText, value)) in points.enumerated() {
            guard let dateText else { throw malformed("point \(i) has no date") }
            guard let day = CostDay(parsing: dateText) else {
                throw malformed("point \(i): date \(costImpactShown(dateText)) is not a YYYYMMDD day")
            }
            guard seen.insert(day).inserted else { throw malformed("point \(i): day \(day.compact) is listed twice") }
            guard let value else {
                series.daysWithoutValue.append(day)
                continue
            }
            guard value.isFinite else {
                throw malformed("point \(i) (\(day.compact)): \(source.valueField) is not finite")
            }
            guard abs(value) <= maxMagnitude else {
                throw malformed("point \(i) (\(day.compact)): \(source.valueField) \(value) is implausibly large")
            }
            series.values[day] = value
        }
        return series
    }

    static func malformed(_ message: String) -> CostImpactError {
        CostImpactError(.malformedAnswer, "Cloudthread's answer is not a usable cost series: \(message)")
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ p: [any CodingKey]) -> String {
            p.isEmpty ? "the answer" : p.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch error {
        case .typeMismatch(_, let c): return "\(path(c.codingPath)) has the wrong type"
        case .valueNotFound(_, let c): return "\(path(c.codingPath)) is missing"
        case .keyNotFound(let k, let c): return "\(path(c.codingPath)) has no \(k.stringValue)"
        case .dataCorrupted(let c):
            return c.codingPath.isEmpty
                ? "the answer is not valid JSON" : "\(path(c.codingPath)) is not a usable number"
        @unknown default: return "the answer has an unexpected shape"
        }
    }
}

// MARK: - Comparison

/// Mean daily values before and after, over the days actually present.
public struct CostChange: Sendable, Equatable {
    public let beforeMean: Double
    public let afterMean: Double
    /// after - before.
    public let delta: Double
    /// delta / |before| × 100; nil when the before mean is exactly 0 (no meaningful percentage). Dividing by the
    /// magnitude keeps the sign of the percentage that of the delta even for a negative baseline (credits).
    public let percent: Double?
    public let beforeDays: Int
    public let afterDays: Int
}

public enum CostImpactOutcome: Sendable, Equatable {
    /// A change worth reporting (above the threshold, or any change when there is no threshold).
    case change(CostChange)
    /// |percent| at most the threshold (or no change at all from a zero baseline).
    case belowThreshold(CostChange, thresholdPercent: Double)
    /// Fewer than `CostImpactSpec.minimumDaysPerSide` days with data on a side.
    case notEnoughData(beforeDays: Int, afterDays: Int)

    public var name: String {
        switch self {
        case .change: return "change"
        case .belowThreshold: return "below_threshold"
        case .notEnoughData: return "not_enough_data"
        }
    }

    public var change: CostChange? {
        switch self {
        case .change(let c), .belowThreshold(let c, _): return c
        case .notEnoughData: return nil
        }
    }
}

/// Everything the comparison saw and decided.
public struct CostImpactResult: Sendable, Equatable {
    public let spec: CostImpactSpec
    public let deployAt: Date
    public let windows: CostWindows
    /// Before/after days with a value that were compared, ascending.
    public let beforeDays: [CostDay]
    public let afterDays: [CostDay]
    public let beforeMean: Double?
    public let afterMean: Double?
    public let outcome: CostImpactOutcome
    /// False when evaluated before `windows.due`: only the days settled by then counted (a preliminary result).
    public let complete: Bool
}

public enum CostImpact {
    /// Compares the mean value of the after window with the before window. The deploy day, days absent from
    /// `series` and (when `now` is given) days not yet settled at `now` are left out.
    public static func compare(series: CostSeries, spec: CostImpactSpec, deployAt: Date, now: Date? = nil) throws
        -> CostImpactResult
    {
        let windows = try CostWindows(deployAt: deployAt, spec: spec)
        let settled: CostDay? =
            now.map { CostWindows.lastSettledDay(at: $0, settlingHours: spec.settlingHours) } ?? windows.after.last
        func counted(_ range: CostDayRange) -> [CostDay] {
            guard let settled else { return [] }
            return range.days.filter { $0 <= settled && series.values[$0] != nil }
        }
        let before = counted(windows.before)
        let after = counted(windows.after)
        func mean(_ days: [CostDay]) -> Double? {
            days.isEmpty ? nil : days.reduce(0.0) { $0 + series.values[$1]! } / Double(days.count)
        }
        let bm = mean(before)
        let am = mean(after)
        let outcome: CostImpactOutcome
        if before.count < CostImpactSpec.minimumDaysPerSide || after.count < CostImpactSpec.minimumDaysPerSide {
            outcome = .notEnoughData(beforeDays: before.count, afterDays: after.count)
        } else {
            let b = bm!
            let a = am!
            let delta = a - b
            let change = CostChange(
                beforeMean: b, afterMean: a, delta: delta, percent: b == 0 ? nil : delta / abs(b) * 100,
                beforeDays: before.count, afterDays: after.count)
            if let t = spec.thresholdPercent {
                let above = change.percent.map { abs($0) > t } ?? (delta != 0)
                outcome = above ? .change(change) : .belowThreshold(change, thresholdPercent: t)
            } else {
                outcome = .change(change)
            }
        }
        let complete = now.map { $0 >= windows.due } ?? true
        return CostImpactResult(
            spec: spec, deployAt: deployAt, windows: windows, beforeDays: before, afterDays: after,
            beforeMean: bm, afterMean: am, outcome: outcome, complete: complete)
    }

    /// True when the result is an increase above `thresholdPercent` (the CLI gate). Decreases never fail it; an
    /// increase from a zero baseline (no percentage) exceeds every threshold.
    public static func exceeds(_ result: CostImpactResult, thresholdPercent: Double) -> Bool {
        guard case .change(let c) = result.outcome else { return false }
        if let p = c.percent { return p > thresholdPercent }
        return c.delta > 0
    }
}

// MARK: - Formatting

public enum CostImpactFormat {
    /// `$1,234.56`, `-$12.00`, `+$182.40` (`signed`); a value that rounds to zero has no sign. Unit metrics get
    /// more decimals below $1 so that `$0.0012` does not show as `$0.00`.
    public static func money(_ x: Double, signed: Bool, source: CostSource) -> String {
        let a = abs(x)
        let decimals: Int
        switch source {
        case .costView: decimals = 2
        case .unitMetric: decimals = a >= 1 || a == 0 ? 2 : a >= 0.01 ? 4 : 6
        }
        let (text, isZero) = grouped(a, decimals: decimals)
        let sign = isZero ? "" : x < 0 ? "-" : signed ? "+" : ""
        return sign + "$" + text
    }

    /// `+7.9%`, `-3.1%`, `0.0%`.
    public static func percent(_ p: Double) -> String {
        let (text, isZero) = grouped(abs(p), decimals: 1)
        return (isZero ? "" : p < 0 ? "-" : "+") + text + "%"
    }

    /// A non-negative number with `decimals` decimals and thousands separators; whether it rounded to zero.
    static func grouped(_ a: Double, decimals: Int) -> (String, Bool) {
        guard a.isFinite else { return ("?", false) }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let scaled = (a * scale).rounded()
        guard scaled < 9e15 else { return (String(format: "%.\(decimals)f", a), false) }
        let units = Int(scaled)
        let divisor = Int(scale)
        let whole = String(units / divisor)
        var out = ""
        for (i, c) in whole.enumerated() {
            if i > 0, (whole.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        if decimals > 0 {
            let frac = String(units % divisor)
            out += "." + String(repeating: "0", count: decimals - frac.count) + frac
        }
        return (out, units == 0)
    }

    static func days(_ n: Int) -> String { n == 1 ? "1 day" : "\(n) days" }

    /// One line for people and for the `cost-impact` event's description, e.g.
    /// `api v1.4.2 to production: daily cost +$182.40 (+7.9%) over 3 days after vs 7 days before`.
    /// The day counts are the days actually compared. The whole text stays within `limit` Unicode scalars
    /// (Cloudthread's 1000 for a description) by shortening the prefix.
    public static func text(_ r: CostImpactResult, prefix: String, limit: Int = 1000) -> String {
        let source = r.spec.source
        var body: String
        switch r.outcome {
        case .notEnoughData(let b, let a):
            body =
                "not enough cost data to compare (\(days(b)) before, \(days(a)) after; at least "
                + "\(CostImpactSpec.minimumDaysPerSide) needed on each side)"
        case .change(let c), .belowThreshold(let c, _):
            let pct = c.percent.map { "(" + percent($0) + ")" } ?? "(no percentage: the before mean is $0)"
            body =
                "\(source.quantity) \(money(c.delta, signed: true, source: source)) \(pct) over "
                + "\(days(c.afterDays)) after vs \(days(c.beforeDays)) before"
            if case .belowThreshold(_, let t) = r.outcome {
                body += ", within the \(CostImpactFormatNumber.plain(t))% threshold"
            }
        }
        if !r.complete {
            body += " (preliminary: final after \(CostImpactTime.cloudthreadHour(r.windows.due).dropLast(3)) UTC)"
        }
        let separator = ": "
        let room = limit - body.unicodeScalars.count - separator.unicodeScalars.count
        guard room > 1 else { return String(String.UnicodeScalarView(body.unicodeScalars.prefix(limit))) }
        var p = prefix.trimmingCharacters(in: .whitespacesAndNewlines)
        if p.isEmpty { p = "deploy at \(CostImpactTime.cloudthreadHour(r.deployAt).dropLast(3)) UTC" }
        if p.unicodeScalars.count > room {
            p = String(String.UnicodeScalarView(p.unicodeScalars.prefix(room - 1))) + "…"
        }
        return p + separator + body
    }

    /// The `--format json` form. Keys are always present and always in this order (null when not applicable):
    /// `view, kind, at, due, complete, before {from,to,days,window_days,mean}, after {...}, delta, percent,
    /// threshold, outcome, message`. Money is rounded to 6 decimals, percentages to 4.
    public static func json(_ r: CostImpactResult, prefix: String) -> String {
        let c = r.outcome.change
        func side(_ range: CostDayRange, _ used: [CostDay], _ mean: Double?) -> JSONOut {
            .object([
                ("from", .string(range.first.iso)), ("to", .string(range.last.iso)), ("days", .int(used.count)),
                ("window_days", .int(range.count)), ("mean", mean.map { .number($0, 6) } ?? .null),
            ])
        }
        let kind: String
        switch r.spec.source {
        case .costView: kind = "cost_view"
        case .unitMetric: kind = "unit_metric"
        }
        let value: JSONOut = .object([
            ("view", .string(r.spec.source.id)),
            ("kind", .string(kind)),
            ("at", .string(CostImpactTime.rfc3339(r.deployAt))),
            ("due", .string(CostImpactTime.rfc3339(r.windows.due))),
            ("complete", .bool(r.complete)),
            ("before", side(r.windows.before, r.beforeDays, r.beforeMean)),
            ("after", side(r.windows.after, r.afterDays, r.afterMean)),
            ("delta", c.map { .number($0.delta, 6) } ?? .null),
            ("percent", c?.percent.map { .number($0, 4) } ?? .null),
            ("threshold", r.spec.thresholdPercent.map { .number($0, 6) } ?? .null),
            ("outcome", .string(r.outcome.name)),
            ("message", .string(text(r, prefix: prefix))),
        ])
        return value.rendered
    }
}

/// A tiny JSON writer with ordered keys (stable output without depending on an encoder's key order).
public indirect enum JSONOut: Sendable {
    case string(String)
    case number(Double, Int)
    case int(Int)
    case bool(Bool)
    case null
    case object([(String, JSONOut)])

    public var rendered: String {
        switch self {
        case .string(let s): return JSONOut.quote(s)
        case .number(let x, let decimals):
            guard x.isFinite else { return "null" }
            var s = String(format: "%.\(decimals)f", x)
            if s.contains(".") {
                while s.hasSuffix("0") { s.removeLast() }
                if s.hasSuffix(".") { s.removeLast() }
            }
            return s == "-0" ? "0" : s
        case .int(let n): return String(n)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .object(let pairs):
            return "{" + pairs.map { JSONOut.quote($0.0) + ":" + $0.1.rendered }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 || u.value == 0x2028 || u.value == 0x2029 || u.value == 0x7F {
                    out += String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

// MARK: - Follow-up outputs (what the bridge posts when a follow-up is done)

/// The deploy a follow-up belongs to, as stored with it.
public struct CostFollowUpDeploy: Sendable, Hashable, Codable {
    public var at: Date
    public var description: String?
    public var eventURL: String?
    public var teamID: Int?
    /// The deploy's metric dimensions (at most 10, Cloudthread's limit).
    public var dimensions: [String: String]

    public init(
        at: Date, description: String?, eventURL: String?, teamID: Int? = nil, dimensions: [String: String] = [:]
    ) {
        self.at = at
        self.description = description
        self.eventURL = eventURL
        self.teamID = teamID
        self.dimensions = dimensions
    }
}

/// What a finished follow-up produces; maps 1:1 onto the bridge's `EventRecord` and `MetricObservation`.
public struct CostFollowUpOutputs: Sendable, Equatable {
    public struct Event: Sendable, Equatable {
        public var timestamp: String
        public var teamID: Int?
        public var type: String
        public var description: String
        public var url: String?
    }

    public struct DataPoint: Sendable, Equatable {
        public var hour: String
        public var name: String
        public var aggregation: String
        public var value: Double
        public var dimensions: [String: String]
    }

    public var event: Event?
    public var dataPoint: DataPoint?

    public static let eventType = "cost-impact"
    public static let metricName = "deploy_cost_change"

    /// `.change`: an event and a data point; `.belowThreshold`: the data point only (the metric sees every
    /// deploy, the chart is not cluttered); `.notEnoughData`: nothing. Both are stamped with the hour of `due`,
    /// which makes a retried follow-up produce the same records. The data point's value is the change of the
    /// mean daily value (after - before, $/day; $/unit/day for a Unit Metric), rounded to 6 decimals.
    public static func make(_ r: CostImpactResult, deploy: CostFollowUpDeploy) -> CostFollowUpOutputs {
        let hour = CostImpactTime.cloudthreadHour(r.windows.due)
        guard let c = r.outcome.change else { return CostFollowUpOutputs(event: nil, dataPoint: nil) }
        let point = DataPoint(
            hour: hour, name: metricName, aggregation: "Sum", value: (c.delta * 1e6).rounded() / 1e6,
            dimensions: deploy.dimensions)
        guard case .change = r.outcome else { return CostFollowUpOutputs(event: nil, dataPoint: point) }
        let event = Event(
            timestamp: hour, teamID: deploy.teamID, type: eventType,
            description: CostImpactFormat.text(r, prefix: deploy.description ?? ""), url: deploy.eventURL)
        return CostFollowUpOutputs(event: event, dataPoint: point)
    }
}
