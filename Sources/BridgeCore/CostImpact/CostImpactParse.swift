import Foundation

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

    /// A window length: whole days `2d` ... `90d` (`D` accepted too); fewer than 2 days could never be compared.
    public static func days(_ raw: String, option: String = "duration") throws -> Int {
        let text = raw.trimmingCharacters(in: .whitespaces)
        let b = Array(text.utf8)
        let hint = "write whole days like 7d (\(CostImpactSpec.minimumDaysPerSide)d to \(maxWindowDays)d)"
        guard let unit = b.last else { throw CostImpactError(.usage, "\(option): empty; \(hint)") }
        let body = b.dropLast()
        let tooShort =
            "at least \(CostImpactSpec.minimumDaysPerSide)d (at least \(CostImpactSpec.minimumDaysPerSide) days on each "
            + "side are needed to compare)"
        switch unit {
        case UInt8(ascii: "d"), UInt8(ascii: "D"):
            break
        case UInt8(ascii: "h"), UInt8(ascii: "m"), UInt8(ascii: "s"), UInt8(ascii: "w"), UInt8(ascii: "H"),
            UInt8(ascii: "W"):
            throw CostImpactError(.usage, "\(option) \(costImpactShown(raw)): whole days only; \(hint)")
        default:
            if smallInteger(b[...]) != nil {
                throw CostImpactError(.usage, "\(option) \(costImpactShown(raw)): add the unit; \(hint)")
            }
            throw CostImpactError(.usage, "\(option) \(costImpactShown(raw)) is not a duration; \(hint)")
        }
        if body.first == UInt8(ascii: "-") {
            throw CostImpactError(.usage, "\(option) \(costImpactShown(raw)): \(tooShort)")
        }
        guard let n = smallInteger(body) else {
            throw CostImpactError(.usage, "\(option) \(costImpactShown(raw)) is not a whole number of days; \(hint)")
        }
        guard n >= CostImpactSpec.minimumDaysPerSide else {
            throw CostImpactError(.usage, "\(option) \(costImpactShown(raw)): \(tooShort)")
        }
        guard n <= maxWindowDays else {
            throw CostImpactError(.usage, "\(option) \(costImpactShown(raw)): at most \(maxWindowDays)d")
        }
        return n
    }

    /// A settling delay in hours: `0h` ... `720h` or `0d` ... `30d`.
    public static func settlingHours(_ raw: String, option: String = "settling delay") throws -> Int {
        let text = raw.trimmingCharacters(in: .whitespaces)
        let b = Array(text.utf8)
        let hint = "write hours or days like 12h or 1d (at most 30d)"
        guard let unit = b.last, unit == UInt8(ascii: "d") || unit == UInt8(ascii: "h") else {
            throw CostImpactError(.usage, "\(option) \(costImpactShown(raw)) is not a duration; \(hint)")
        }
        guard let n = smallInteger(b.dropLast()) else {
            throw CostImpactError(.usage, "\(option) \(costImpactShown(raw)) is not a whole number; \(hint)")
        }
        let hours = unit == UInt8(ascii: "d") ? (n > maxSettlingHours ? Int.max : n * 24) : n
        guard hours <= maxSettlingHours else {
            throw CostImpactError(.usage, "\(option) \(costImpactShown(raw)): at most 30d")
        }
        return hours
    }

    /// A threshold: a plain decimal followed by `%`, greater than 0 and at most 1000 (`5%`, `12.5%`).
    public static func percent(_ raw: String, option: String = "threshold") throws -> Double {
        let text = raw.trimmingCharacters(in: .whitespaces)
        let b = Array(text.utf8)
        let hint = "write a percentage like 5% or 12.5% (above 0%, at most 1000%)"
        guard b.last == UInt8(ascii: "%") else {
            if !b.isEmpty, b.allSatisfy({ isDigit($0) || $0 == UInt8(ascii: ".") }), b.count <= 12 {
                throw CostImpactError(.usage, "\(option) \(costImpactShown(raw)): add the % sign; \(hint)")
            }
            throw CostImpactError(.usage, "\(option) \(costImpactShown(raw)) is not a percentage; \(hint)")
        }
        let number = b.dropLast()
        if number.first == UInt8(ascii: "-") {
            throw CostImpactError(.usage, "\(option) \(costImpactShown(raw)): must be above 0%")
        }
        let dots = number.filter { $0 == UInt8(ascii: ".") }.count
        let digitCount = number.filter(isDigit).count
        guard digitCount > 0, dots <= 1, digitCount + dots == number.count else {
            throw CostImpactError(.usage, "\(option) \(costImpactShown(raw)) is not a plain number; \(hint)")
        }
        let integerPart = number.prefix(while: { $0 != UInt8(ascii: ".") }).drop(while: { $0 == 0x30 })
        let fractionDigits = number.drop(while: { $0 != UInt8(ascii: ".") }).dropFirst().count
        guard integerPart.count <= 4, fractionDigits <= 6,
            let value = Double(String(decoding: number, as: UTF8.self)), value.isFinite
        else {
            throw CostImpactError(
                .usage, "\(option) \(costImpactShown(raw)): at most 1000% with up to 6 decimals; \(hint)")
        }
        guard value > 0 else { throw CostImpactError(.usage, "\(option) \(costImpactShown(raw)): must be above 0%") }
        guard value <= maxThresholdPercent else {
            throw CostImpactError(.usage, "\(option) \(costImpactShown(raw)): at most 1000%")
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
                .usage,
                "\(option) \(costImpactShown(raw)) is not a Cloudthread id (letters, digits, - _ . ~; at most 128)")
        }
        return raw
    }
}
