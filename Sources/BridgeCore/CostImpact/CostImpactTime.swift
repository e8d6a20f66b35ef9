import Foundation

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
