import Foundation

/// HTTP dates in the IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110), written and read by hand: a
/// `DateFormatter` made for each call cost far more than the signature it was part of. Both functions answer nil
/// for what they do not handle exactly (years outside 1583...9999, where the formatter's calendar is Julian or
/// the year has more digits, and any other form), and the caller then keeps its `DateFormatter` for that rare
/// case, so the answers are the formatter's in every case.
public enum HTTPDate {
    static let weekdays = Array("SunMonTueWedThuFriSat".utf8)
    static let months = Array("JanFebMarAprMayJunJulAugSepOctNovDec".utf8)

    /// `date` as an IMF-fixdate, or nil outside years 1583...9999 or when not finite. The time is first rounded to
    /// the nearest millisecond, then down to the second, as Foundation's formatter does (so 12:00:00.9996 is
    /// 12:00:01).
    public static func format(_ date: Date) -> String? {
        let millis = ((date.timeIntervalSinceReferenceDate + 978_307_200) * 1000 + 0.5).rounded(.down)
        // 1583-01-01T00:00:00Z up to the end of 9999.
        guard millis.isFinite, millis >= -12_212_553_600_000, millis < 253_402_300_800_000 else { return nil }
        let wholeMillis = Int(millis)
        let seconds = wholeMillis >= 0 ? wholeMillis / 1000 : (wholeMillis - 999) / 1000
        let days = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secOfDay = seconds - days * 86400
        let (y, m, d) = CloudthreadTime.civil(fromDays: days)
        let weekday = ((days + 4) % 7 + 7) % 7
        return String(unsafeUninitializedCapacity: 29) { out in
            func digits(_ n: Int, _ width: Int, at offset: Int) {
                var n = n
                for i in stride(from: offset + width - 1, through: offset, by: -1) {
                    out[i] = UInt8(ascii: "0") + UInt8(n % 10)
                    n /= 10
                }
            }
            for i in 0..<3 { out[i] = weekdays[weekday * 3 + i] }
            out[3] = UInt8(ascii: ",")
            out[4] = UInt8(ascii: " ")
            digits(d, 2, at: 5)
            out[7] = UInt8(ascii: " ")
            for i in 0..<3 { out[8 + i] = months[(m - 1) * 3 + i] }
            out[11] = UInt8(ascii: " ")
            digits(y, 4, at: 12)
            out[16] = UInt8(ascii: " ")
            digits(secOfDay / 3600, 2, at: 17)
            out[19] = UInt8(ascii: ":")
            digits(secOfDay % 3600 / 60, 2, at: 20)
            out[22] = UInt8(ascii: ":")
            digits(secOfDay % 60, 2, at: 23)
            for (i, c) in " GMT".utf8.enumerated() { out[25 + i] = c }
            return 29
        }
    }

    /// Reads an IMF-fixdate exactly as `format` writes it: a valid date whose weekday is right, names in their
    /// usual case, `GMT`. Nil for anything else.
    public static func parse(_ text: String) -> Date? {
        let utf8 = text.utf8
        guard utf8.count == 29 else { return nil }
        let found: Date?? = utf8.withContiguousStorageIfAvailable { parse($0) }
        if let found { return found }
        return Array(utf8).withUnsafeBufferPointer { parse($0) }
    }

    static func parse(_ b: UnsafeBufferPointer<UInt8>) -> Date? {
        func num(_ from: Int, _ count: Int) -> Int? {
            var v = 0
            for i in from..<(from + count) {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        func name(_ table: [UInt8], at offset: Int) -> Int? {
            for index in 0..<(table.count / 3)
            where table[index * 3] == b[offset] && table[index * 3 + 1] == b[offset + 1]
                && table[index * 3 + 2] == b[offset + 2]
            {
                return index
            }
            return nil
        }
        guard b.count == 29, b[3] == UInt8(ascii: ","), b[4] == UInt8(ascii: " "), b[7] == UInt8(ascii: " "),
            b[11] == UInt8(ascii: " "), b[16] == UInt8(ascii: " "), b[19] == UInt8(ascii: ":"),
            b[22] == UInt8(ascii: ":"), b[25] == UInt8(ascii: " "), b[26] == UInt8(ascii: "G"),
            b[27] == UInt8(ascii: "M"), b[28] == UInt8(ascii: "T"),
            let weekday = name(weekdays, at: 0), let day = num(5, 2), let month = name(months, at: 8),
            let year = num(12, 4), let hour = num(17, 2), let minute = num(20, 2), let second = num(23, 2),
            year >= 1583, day >= 1, day <= daysIn(month: month + 1, year: year), hour < 24, minute < 60, second < 60
        else { return nil }
        let days = TimeParsing.daysFromCivil(year, month + 1, day)
        guard ((days + 4) % 7 + 7) % 7 == weekday else { return nil }
        return Date(timeIntervalSince1970: Double(days * 86400 + hour * 3600 + minute * 60 + second))
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
