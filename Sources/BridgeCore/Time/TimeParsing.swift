import Foundation

/// Times as providers send them: RFC 3339 (with or without fractions), epoch seconds or milliseconds
/// (numbers or digit strings), and `YYYY-MM-DD HH:MM:SS` in UTC.
public enum TimeParsing {
    public static func parse(_ value: JSONValue) -> Date? {
        switch value {
        case .number(let n): return fromEpoch(n)
        case .string(let s): return parse(s)
        default: return nil
        }
    }

    static func fromEpoch(_ n: Double) -> Date? {
        guard n.isFinite, n > 0 else { return nil }
        // Seconds stay below 1e11 until year 5138; milliseconds from 1973 on have 12+ digits,
        // microseconds 15+ and nanoseconds 18+ (Opsgenie sends nanoseconds).
        let seconds = n >= 1e17 ? n / 1e9 : n >= 1e14 ? n / 1e6 : n >= 1e11 ? n / 1e3 : n
        return Date(timeIntervalSince1970: seconds)
    }

    public static func parse(_ text: String) -> Date? {
        let s = text.trimmed
        if s.isEmpty { return nil }
        if s.allSatisfy({ $0.isNumber || $0 == "." }), let n = Double(s) { return fromEpoch(n) }
        return parseRFC3339(s)
    }

    /// Hand-written RFC 3339 / ISO 8601 parser (Foundation's ISO8601DateFormatter is slow and rejects
    /// some provider variants such as a space instead of `T` or a missing zone).
    static func parseRFC3339(_ s: String) -> Date? {
        // Read in place (no copy of the bytes) when the string is contiguous UTF-8, as native strings are.
        if let parsed = s.utf8.withContiguousStorageIfAvailable({ parseRFC3339($0) }) { return parsed }
        return Array(s.utf8).withUnsafeBufferPointer { parseRFC3339($0) }
    }

    static func parseRFC3339(_ b: UnsafeBufferPointer<UInt8>) -> Date? {
        func num(_ from: Int, _ len: Int) -> Int? {
            guard from + len <= b.count else { return nil }
            var v = 0
            for i in from..<(from + len) {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard b.count >= 10, let year = num(0, 4), b[4] == UInt8(ascii: "-"), let month = num(5, 2),
            b[7] == UInt8(ascii: "-"), let day = num(8, 2), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var hour = 0
        var minute = 0
        var second = 0
        var fraction = 0.0
        var i = 10
        if i < b.count, b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: "t") || b[i] == UInt8(ascii: " ") {
            guard let h = num(i + 1, 2), i + 3 < b.count, b[i + 3] == UInt8(ascii: ":"), let m = num(i + 4, 2) else {
                return nil
            }
            hour = h
            minute = m
            i += 6
            if i < b.count, b[i] == UInt8(ascii: ":") {
                guard let sec = num(i + 1, 2) else { return nil }
                second = sec
                i += 3
                if i < b.count, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: ",") {
                    var j = i + 1
                    var digits = "0."
                    while j < b.count, b[j] >= 48, b[j] <= 57 {
                        digits.append(Character(UnicodeScalar(b[j])))
                        j += 1
                    }
                    fraction = Double(digits) ?? 0
                    i = j
                }
            }
            guard hour < 24, minute < 60, second <= 60 else { return nil }
        }
        var offset = 0
        while i < b.count, b[i] == UInt8(ascii: " ") { i += 1 }
        if i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "Z") || c == UInt8(ascii: "z") {
                i += 1
            } else if c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                guard let oh = num(i + 1, 2) else { return nil }
                var om = 0
                if i + 3 < b.count, b[i + 3] == UInt8(ascii: ":") {
                    guard let m = num(i + 4, 2) else { return nil }
                    om = m
                    i += 6
                } else if let m = num(i + 3, 2) {
                    om = m
                    i += 5
                } else {
                    i += 3
                }
                offset = (oh * 3600 + om * 60) * (c == UInt8(ascii: "-") ? -1 : 1)
            } else if String(decoding: b[i...], as: UTF8.self) == "UTC" {
                i = b.count
            } else {
                return nil
            }
        }
        while i < b.count, b[i] == UInt8(ascii: " ") { i += 1 }
        if i < b.count, String(decoding: b[i...], as: UTF8.self) != "UTC" { return nil }
        let days = daysFromCivil(year, month, day)
        let seconds = Double(days * 86400 + hour * 3600 + minute * 60 + second - offset) + fraction
        return Date(timeIntervalSince1970: seconds)
    }

    /// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }
}
