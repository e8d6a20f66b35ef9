import Foundation

// Cost impact: what a deploy did to the daily cost of a Cloudthread Cost View or Unit Metric.
//
// Pure logic only (no I/O): days and windows, option parsers, decoding of `GET /cost/metric/{id}` and
// `GET /unit/metric/{id}`, the before/after comparison, and its text and JSON forms. DESIGN.md section 7.

// MARK: - Errors

/// Why a cost-impact input or answer was refused. `message` is meant for a person (CLI output, logs, dead letters).
public struct CostImpactError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A bad option, duration, threshold, time or id: the user's to fix.
        case usage
        /// Cloudthread answered 200 with a body that is not a usable cost series.
        case malformedAnswer
    }

    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// Shows untrusted text inside a message: at most 40 characters, control characters replaced.
func shown(_ text: String, limit: Int = 40) -> String {
    var out = ""
    var count = 0
    for scalar in text.unicodeScalars {
        if count == limit { return "'" + out + "…'" }
        let printable =
            !(scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .format
            || scalar.properties.generalCategory == .lineSeparator
            || scalar.properties.generalCategory == .paragraphSeparator)
        out.unicodeScalars.append(printable ? scalar : "?")
        count += 1
    }
    return "'" + out + "'"
}

// MARK: - Days

/// A UTC calendar day, counted from 1970-01-01 (day 0) up to 9999-12-31.
public struct CostDay: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let index: Int

    /// The last supported day, 9999-12-31 (dates stay four-digit years in the API's formats).
    public static let maxIndex = CostDay.daysFromCivil(9999, 12, 31)

    init(unchecked index: Int) { self.index = index }

    public init?(index: Int) {
        guard (0...CostDay.maxIndex).contains(index) else { return nil }
        self.index = index
    }

    public init?(year: Int, month: Int, day: Int) {
        guard (1970...9999).contains(year), (1...12).contains(month),
            (1...CostDay.daysIn(month: month, year: year)).contains(day)
        else { return nil }
        self.index = CostDay.daysFromCivil(year, month, day)
    }

    /// The UTC day containing `date`; nil outside 1970-01-01 ... 9999-12-31 or for a non-finite date.
    public init?(containing date: Date) {
        let t = date.timeIntervalSince1970
        guard t.isFinite else { return nil }
        let d = (t / 86400).rounded(.down)
        guard d >= 0, d <= Double(CostDay.maxIndex) else { return nil }
        self.index = Int(d)
    }

    /// `YYYYMMDD` (the API's answer) or `YYYY-MM-DD` (its query format); nil for anything else or an impossible date.
    public init?(parsing text: String) {
        let b = Array(text.utf8)
        func digits(_ from: Int, _ count: Int) -> Int? {
            var v = 0
            for i in from..<(from + count) {
                guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                v = v * 10 + Int(b[i] - 0x30)
            }
            return v
        }
        let y: Int?
        let m: Int?
        let d: Int?
        if b.count == 8 {
            (y, m, d) = (digits(0, 4), digits(4, 2), digits(6, 2))
        } else if b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") {
            (y, m, d) = (digits(0, 4), digits(5, 2), digits(8, 2))
        } else {
            return nil
        }
        guard let y, let m, let d, let day = CostDay(year: y, month: m, day: d) else { return nil }
        self = day
    }

    public static func < (a: CostDay, b: CostDay) -> Bool { a.index < b.index }

    /// The day `n` days later (earlier for negative `n`); nil outside the supported range.
    public func adding(_ n: Int) -> CostDay? {
        let (r, overflow) = index.addingReportingOverflow(n)
        return overflow ? nil : CostDay(index: r)
    }

    /// 00:00:00 UTC of this day.
    public var start: Date { Date(timeIntervalSince1970: Double(index) * 86400) }

    public var components: (year: Int, month: Int, day: Int) { CostDay.civil(index) }

    /// `YYYY-MM-DD`, the format of the API's `start_date` / `end_date`.
    public var iso: String {
        let c = components
        return String(format: "%04d-%02d-%02d", c.year, c.month, c.day)
    }

    /// `YYYYMMDD`, the format of the API's `date`.
    public var compact: String {
        let c = components
        return String(format: "%04d%02d%02d", c.year, c.month, c.day)
    }

    public var description: String { iso }

    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (year >= 1). Counting years from March makes the leap
    /// day the last day of a year, so a month's offset inside the year is a fixed formula.
    static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let monthFromMarch = month <= 2 ? month + 9 : month - 3
        let dayOfYear = (153 * monthFromMarch + 2) / 5 + day - 1
        let leapDays = y / 4 - y / 100 + y / 400
        return y * 365 + leapDays + dayOfYear - 719_468
    }

    /// The date of a day index in the supported range (a year estimate, then exact correction).
    static func civil(_ n: Int) -> (year: Int, month: Int, day: Int) {
        var year = 1970 + Int((Double(n) / 365.2425).rounded(.down))
        while year > 1, daysFromCivil(year, 1, 1) > n { year -= 1 }
        while daysFromCivil(year + 1, 1, 1) <= n { year += 1 }
        var rest = n - daysFromCivil(year, 1, 1)
        var month = 1
        while month < 12, rest >= daysIn(month: month, year: year) {
            rest -= daysIn(month: month, year: year)
            month += 1
        }
        return (year, month, rest + 1)
    }
}

/// An inclusive run of days.
public struct CostDayRange: Sendable, Hashable, CustomStringConvertible {
    public let first: CostDay
    public let last: CostDay

    public init(first: CostDay, last: CostDay) {
        precondition(first <= last, "CostDayRange: first after last")
        self.first = first
        self.last = last
    }

    public var count: Int { last.index - first.index + 1 }
    public func contains(_ day: CostDay) -> Bool { first <= day && day <= last }
    public var days: [CostDay] { (first.index...last.index).map { CostDay(unchecked: $0) } }
    public var description: String { "\(first.iso)...\(last.iso)" }
}

// MARK: - Time

public enum CostImpactTime {
    /// RFC 3339 date-time (`2024-05-01T14:23:05Z`, `...05.123+02:00`, `t`/space for `T`, `z` for `Z`), or a
    /// full date alone (`2024-05-01`, meaning 00:00 UTC). Strict: a zone is required with a time, fields are
    /// range-checked, at most 9 fraction digits. A leap second (`:60`) counts as `:59`.
    public static func parseRFC3339(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count >= 10, b.count <= 40 else { return nil }
        func num(_ from: Int, _ len: Int) -> Int? {
            guard from >= 0, from + len <= b.count else { return nil }
            var v = 0
            for i in from..<(from + len) {
                guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                v = v * 10 + Int(b[i] - 0x30)
            }
            return v
        }
        guard b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), let y = num(0, 4), let mo = num(5, 2),
            let d = num(8, 2),
            (1...12).contains(mo), (1...31).contains(d), y >= 1, d <= CostDay.daysIn(month: mo, year: y)
        else { return nil }
        let dayIndex = CostDay.daysFromCivil(y, mo, d)
        if b.count == 10 { return Date(timeIntervalSince1970: Double(dayIndex) * 86400) }
        guard [UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")].contains(b[10]),
            let h = num(11, 2), b.count > 13, b[13] == UInt8(ascii: ":"), let mi = num(14, 2),
            b.count > 16, b[16] == UInt8(ascii: ":"), let s = num(17, 2),
            h <= 23, mi <= 59, s <= 60
        else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            var j = i + 1
            var scale = 0.1
            while j < b.count, b[j] >= 0x30, b[j] <= 0x39 {
                guard j - i <= 9 else { return nil }
                fraction += Double(b[j] - 0x30) * scale
                scale /= 10
                j += 1
            }
            guard j > i + 1 else { return nil }
            i = j
        }
        guard i < b.count else { return nil }
        var offset = 0
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            guard i + 1 == b.count else { return nil }
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            guard i + 6 == b.count, let oh = num(i + 1, 2), b[i + 3] == UInt8(ascii: ":"), let om = num(i + 4, 2),
                oh <= 23, om <= 59
            else { return nil }
            offset = (oh * 3600 + om * 60) * (b[i] == UInt8(ascii: "-") ? -1 : 1)
        } else {
            return nil
        }
        let seconds = dayIndex * 86400 + h * 3600 + mi * 60 + min(s, 59) - offset
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    /// `2024-05-01T14:23:05Z` (whole seconds, UTC).
    public static func rfc3339(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        guard t.isFinite, let day = CostDay(containing: date) else { return "invalid" }
        let secs = Int((t - Double(day.index) * 86400).rounded(.down))
        return day.iso + String(format: "T%02d:%02d:%02dZ", secs / 3600, secs % 3600 / 60, secs % 60)
    }

    /// `2024-05-01 14:00:00`: Cloudthread's hourly timestamp of the hour containing `date` (UTC).
    public static func cloudthreadHour(_ date: Date) -> String {
        let t = date.timeIntervalSince1970
        guard t.isFinite, let day = CostDay(containing: date) else { return "invalid" }
        let secs = Int((t - Double(day.index) * 86400).rounded(.down))
        return day.iso + String(format: " %02d:00:00", secs / 3600)
    }
}

// MARK: - Parsers

public enum CostImpactParse {
    public static let maxWindowDays = 90
    public static let maxSettlingHours = 30 * 24
    public static let maxThresholdPercent = 1000.0

    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    /// Reads a non-negative integer of ASCII digits without overflow: nil when not all digits, `Int.max` when it
    /// has more than 6 significant digits (every caller's range is far below that).
    static func smallInteger(_ digits: ArraySlice<UInt8>) -> Int? {
        guard !digits.isEmpty, digits.allSatisfy(isDigit) else { return nil }
        let significant = digits.drop(while: { $0 == 0x30 })
        if significant.count > 6 { return Int.max }
        return significant.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }

    /// A window length: whole days `1d` ... `90d` (`D` accepted too).
    public static func days(_ raw: String, option: String = "duration") throws -> Int {
        let text = raw.trimmingCharacters(in: .whitespaces)
        let b = Array(text.utf8)
        let hint = "write whole days like 7d (1d to \(maxWindowDays)d)"
        guard let unit = b.last else { throw CostImpactError(.usage, "\(option): empty; \(hint)") }
        let body = b.dropLast()
        switch unit {
        case UInt8(ascii: "d"), UInt8(ascii: "D"):
            break
        case UInt8(ascii: "h"), UInt8(ascii: "m"), UInt8(ascii: "s"), UInt8(ascii: "w"), UInt8(ascii: "H"),
            UInt8(ascii: "W"):
            throw CostImpactError(.usage, "\(option) \(shown(raw)): whole days only; \(hint)")
        default:
            if smallInteger(b[...]) != nil {
                throw CostImpactError(.usage, "\(option) \(shown(raw)): add the unit; \(hint)")
            }
            throw CostImpactError(.usage, "\(option) \(shown(raw)) is not a duration; \(hint)")
        }
        if body.first == UInt8(ascii: "-") {
            throw CostImpactError(.usage, "\(option) \(shown(raw)): must be at least 1d")
        }
        guard let n = smallInteger(body) else {
            throw CostImpactError(.usage, "\(option) \(shown(raw)) is not a whole number of days; \(hint)")
        }
        guard n >= 1 else { throw CostImpactError(.usage, "\(option) \(shown(raw)): must be at least 1d") }
        guard n <= maxWindowDays else {
            throw CostImpactError(.usage, "\(option) \(shown(raw)): at most \(maxWindowDays)d")
        }
        return n
    }

    /// A settling delay in hours: `0h` ... `720h` or `0d` ... `30d`.
    public static func settlingHours(_ raw: String, option: String = "settling delay") throws -> Int {
        let text = raw.trimmingCharacters(in: .whitespaces)
        let b = Array(text.utf8)
        let hint = "write hours or days like 12h or 1d (at most 30d)"
        guard let unit = b.last, unit == UInt8(ascii: "d") || unit == UInt8(ascii: "h") else {
            throw CostImpactError(.usage, "\(option) \(shown(raw)) is not a duration; \(hint)")
        }
        guard let n = smallInteger(b.dropLast()) else {
            throw CostImpactError(.usage, "\(option) \(shown(raw)) is not a whole number; \(hint)")
        }
        let hours = unit == UInt8(ascii: "d") ? (n > maxSettlingHours ? Int.max : n * 24) : n
        guard hours <= maxSettlingHours else { throw CostImpactError(.usage, "\(option) \(shown(raw)): at most 30d") }
        return hours
    }

    /// A threshold: a plain decimal followed by `%`, greater than 0 and at most 1000 (`5%`, `12.5%`).
    public static func percent(_ raw: String, option: String = "threshold") throws -> Double {
        let text = raw.trimmingCharacters(in: .whitespaces)
        let b = Array(text.utf8)
        let hint = "write a percentage like 5% or 12.5% (above 0%, at most 1000%)"
        guard b.last == UInt8(ascii: "%") else {
            if !b.isEmpty, b.allSatisfy({ isDigit($0) || $0 == UInt8(ascii: ".") }), b.count <= 12 {
                throw CostImpactError(.usage, "\(option) \(shown(raw)): add the % sign; \(hint)")
            }
            throw CostImpactError(.usage, "\(option) \(shown(raw)) is not a percentage; \(hint)")
        }
        let number = b.dropLast()
        if number.first == UInt8(ascii: "-") {
            throw CostImpactError(.usage, "\(option) \(shown(raw)): must be above 0%")
        }
        let dots = number.filter { $0 == UInt8(ascii: ".") }.count
        let digitCount = number.filter(isDigit).count
        guard digitCount > 0, dots <= 1, digitCount + dots == number.count else {
            throw CostImpactError(.usage, "\(option) \(shown(raw)) is not a plain number; \(hint)")
        }
        let integerPart = number.prefix(while: { $0 != UInt8(ascii: ".") }).drop(while: { $0 == 0x30 })
        let fractionDigits = number.drop(while: { $0 != UInt8(ascii: ".") }).dropFirst().count
        guard integerPart.count <= 4, fractionDigits <= 6,
            let value = Double(String(decoding: number, as: UTF8.self)), value.isFinite
        else {
            throw CostImpactError(.usage, "\(option) \(shown(raw)): at most 1000% with up to 6 decimals; \(hint)")
        }
        guard value > 0 else { throw CostImpactError(.usage, "\(option) \(shown(raw)): must be above 0%") }
        guard value <= maxThresholdPercent else {
            throw CostImpactError(.usage, "\(option) \(shown(raw)): at most 1000%")
        }
        return value
    }

    /// A Cost View or Unit Metric id: it becomes a URL path segment, so only `A-Z a-z 0-9 - _ . ~`, 1 to 128
    /// characters, and not `.` or `..`.
    public static func metricID(_ raw: String, option: String = "id") throws -> String {
        let ok =
            !raw.isEmpty && raw.utf8.count <= 128 && raw != "." && raw != ".."
            && raw.utf8.allSatisfy { c in
                isDigit(c) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                    || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".")
                    || c == UInt8(ascii: "~")
            }
        guard ok else {
            throw CostImpactError(
                .usage, "\(option) \(shown(raw)) is not a Cloudthread id (letters, digits, - _ . ~; at most 128)")
        }
        return raw
    }
}

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
    var quantity: String {
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
                throw malformed("point \(i): date \(shown(dateText)) is not a YYYYMMDD day")
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
                body += ", within the \(number(t))% threshold"
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

    /// A threshold as typed: `10`, `12.5`.
    static func number(_ x: Double) -> String {
        var s = String(format: "%.6f", x)
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
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
