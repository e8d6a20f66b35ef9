import Foundation

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
