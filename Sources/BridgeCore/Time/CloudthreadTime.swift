import Foundation

/// Cloudthread's hourly timestamps.
public enum CloudthreadTime {
    /// The earliest time a record may carry: 2000-01-01T00:00:00Z.
    public static let earliest = Date(timeIntervalSince1970: 946_684_800)

    /// Times a record may carry when received at `now`: 2000-01-01 up to one day after `now`. Nil only when `now`
    /// itself is not a usable time.
    public static func acceptedWindow(now: Date) -> ClosedRange<Date>? {
        let latest = now.addingTimeInterval(86400)
        guard latest.timeIntervalSince1970.isFinite, latest > earliest else { return nil }
        return earliest...latest
    }

    /// Floors `date` to the hour in UTC and formats it as `YYYY-MM-DD HH:00:00`. Total: a time outside years
    /// 1...9999 (or not finite) is clamped to that range, so no input traps; callers refuse such times first.
    public static func hour(_ date: Date) -> String {
        let limit = 253_402_300_799.0  // 9999-12-31T23:59:59Z
        let raw = date.timeIntervalSince1970
        let clamped = raw.isFinite ? min(max(raw, -62_135_596_800), limit) : 0
        let seconds = Int(clamped.rounded(.down))
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secOfDay = seconds - days * 86400
        let (y, m, d) = civil(fromDays: days)
        // Written byte by byte into the string's own storage: one allocation, where padding and joining each
        // part cost eleven (this runs for every metric of every webhook).
        return String(unsafeUninitializedCapacity: 19) { out in
            func digits(_ n: Int, _ width: Int, at offset: Int) {
                var n = n
                for i in stride(from: offset + width - 1, through: offset, by: -1) {
                    out[i] = UInt8(ascii: "0") + UInt8(n % 10)
                    n /= 10
                }
            }
            digits(y, 4, at: 0)
            out[4] = UInt8(ascii: "-")
            digits(m, 2, at: 5)
            out[7] = UInt8(ascii: "-")
            digits(d, 2, at: 8)
            out[10] = UInt8(ascii: " ")
            digits(secOfDay / 3600, 2, at: 11)
            for (i, c) in ":00:00".utf8.enumerated() { out[13 + i] = c }
            return 19
        }
    }

    /// True when `text` is a valid hourly timestamp.
    public static func isHourly(_ text: String) -> Bool {
        guard text.count == 19, text.hasSuffix(":00:00") else { return false }
        return TimeParsing.parseRFC3339(text) != nil
    }

    static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
