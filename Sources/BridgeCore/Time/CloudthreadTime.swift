import Foundation

/// Cloudthread's hourly timestamps.
public enum CloudthreadTime {
    /// Floors `date` to the hour in UTC and formats it as `YYYY-MM-DD HH:00:00`.
    public static func hour(_ date: Date) -> String {
        let seconds = Int(floor(date.timeIntervalSince1970))
        let days = Int(floor(Double(seconds) / 86400))
        let secOfDay = seconds - days * 86400
        let (y, m, d) = civil(fromDays: days)
        return String(format: "%04d-%02d-%02d %02d:00:00", y, m, d, secOfDay / 3600)
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
