import Foundation

/// A template filter: `| name arg ...`.
struct Filter: Sendable {
    enum Kind: String, Sendable, CaseIterable {
        case `default`, upper, lower, capitalize, trim, truncate, replace
        case join, map, first, last, length, json, split, slice, find, prefix, suffix
        case date, seconds_since, duration, minutes, hours, round
        case plus, minus, times, divided_by

        var arity: ClosedRange<Int> {
            switch self {
            case .default, .truncate, .join, .map, .date, .seconds_since, .plus, .minus, .times, .divided_by: 1...1
            case .replace, .find: 2...2
            case .split, .prefix, .suffix: 1...1
            case .slice: 1...2
            case .round: 0...1
            default: 0...0
            }
        }

        /// Load-time checks of literal arguments.
        func checkArguments(_ args: [Expression.Term]) -> String? {
            func literalNumber(_ t: Expression.Term) -> Double? {
                if case .literal(let v) = t { return v.number }
                return nil
            }
            switch self {
            case .truncate:
                guard let n = literalNumber(args[0]), n >= 1, n.rounded() == n else {
                    return "filter 'truncate' takes a whole number of characters, like truncate 80"
                }
            case .plus, .minus, .times, .divided_by:
                if case .literal(let v) = args[0], v.number == nil {
                    return "filter '\(rawValue)' takes a number or a path"
                }
                if self == .divided_by, let n = literalNumber(args[0]), n == 0 { return "filter 'divided_by' cannot divide by 0" }
            case .round:
                if let a = args.first, literalNumber(a) == nil { return "filter 'round' takes a whole number of decimals" }
            case .map, .find:
                guard case .literal(.string(let key)) = args[0], case .success = PayloadPath.parse("item." + key) else {
                    return "filter '\(rawValue)' takes a quoted key path such as \"labels.alertname\""
                }
            case .slice:
                for a in args where literalNumber(a).map({ $0.rounded() != $0 }) ?? true {
                    return "filter 'slice' takes a start and an optional length, whole numbers, like slice 0 7"
                }
            case .date:
                guard case .literal(.string) = args[0] else {
                    return "filter 'date' takes a quoted format such as \"yyyy-MM-dd HH:mm\""
                }
            case .seconds_since:
                guard case .path = args[0] else { return "filter 'seconds_since' takes a path to the earlier time" }
            default:
                break
            }
            return nil
        }
    }

    let kind: Kind
    let arguments: [Expression.Term]

    private func argument(_ i: Int, _ context: MappingContext) -> JSONValue? {
        switch arguments[i] {
        case .literal(let v): v
        case .path(let p): context.lookup(p)
        }
    }

    func apply(_ value: JSONValue?, _ context: MappingContext) throws -> JSONValue? {
        switch kind {
        case .default:
            if value == nil || value!.isEmptyValue { return argument(0, context) }
            return value
        case .upper: return value.map { .string($0.text.uppercased()) }
        case .lower: return value.map { .string($0.text.lowercased()) }
        case .capitalize:
            return value.map { v in
                let t = v.text
                return .string(t.prefix(1).uppercased() + t.dropFirst())
            }
        case .trim: return value.map { .string($0.text.trimmingCharacters(in: .whitespacesAndNewlines)) }
        case .truncate:
            guard let value else { return nil }
            let n = Int(argument(0, context)?.number ?? 0)
            let t = value.text
            guard t.count > n else { return .string(t) }
            return .string(n > 1 ? String(t.prefix(n - 1)) + "…" : String(t.prefix(n)))
        case .replace:
            guard let value else { return nil }
            return .string(value.text.replacingOccurrences(of: argument(0, context)?.text ?? "", with: argument(1, context)?.text ?? ""))
        case .join:
            guard let value else { return nil }
            let sep = argument(0, context)?.text ?? ", "
            if case .array(let a) = value { return .string(a.map(\.text).filter { !$0.isEmpty }.joined(separator: sep)) }
            return value
        case .map:
            guard case .literal(.string(let key)) = arguments[0], case .success(let path) = PayloadPath.parse("item." + key) else { return value }
            switch value {
            case .array(let a)?: return .array(a.compactMap { element in path.resolve(in: context.with(item: element)) })
            case .object?: return path.resolve(in: context.with(item: value!))  // one object: its field
            default: return value
            }
        case .find:
            guard case .array(let a) = value, case .literal(.string(let key)) = arguments[0],
                case .success(let path) = PayloadPath.parse("item." + key)
            else { return nil }
            let wanted = argument(1, context)?.text
            return a.first { path.resolve(in: context.with(item: $0))?.text == wanted }
        case .prefix, .suffix:
            // Only when there is a value: "{{ payload.actor | prefix \" by \" }}" renders nothing without an actor.
            guard let value, !value.isEmptyValue else { return nil }
            let affix = argument(0, context)?.text ?? ""
            return .string(kind == .prefix ? affix + value.text : value.text + affix)
        case .split:
            guard let value else { return nil }
            let sep = argument(0, context)?.text ?? ","
            return .array(value.text.components(separatedBy: sep).map(JSONValue.string))
        case .slice:
            guard let value else { return nil }
            let start = Int(argument(0, context)?.number ?? 0)
            let length = arguments.count > 1 ? Int(argument(1, context)?.number ?? 0) : nil
            if case .array(let a) = value {
                let from = start < 0 ? max(0, a.count + start) : min(start, a.count)
                let to = length.map { min(a.count, from + max(0, $0)) } ?? a.count
                return .array(Array(a[from..<to]))
            }
            let chars = Array(value.text)
            let from = start < 0 ? max(0, chars.count + start) : min(start, chars.count)
            let to = length.map { min(chars.count, from + max(0, $0)) } ?? chars.count
            return .string(String(chars[from..<to]))
        case .first:
            if case .array(let a) = value { return a.first }
            return value
        case .last:
            if case .array(let a) = value { return a.last }
            return value
        case .length:
            switch value {
            case .array(let a): return .number(Double(a.count))
            case .object(let o): return .number(Double(o.count))
            case .string(let s): return .number(Double(s.count))
            case nil, .null?: return .number(0)
            default: return .number(1)
            }
        case .json: return value.map { .string($0.json) }
        case .date:
            guard let value else { return nil }
            guard let date = TimeParsing.parse(value) else {
                throw TemplateEvaluationError(description: "'\(value.text.prefix(40))' is not a time the 'date' filter understands")
            }
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = argument(0, context)?.text ?? "yyyy-MM-dd HH:mm"
            return .string(formatter.string(from: date))
        case .seconds_since:
            guard let value, let end = TimeParsing.parse(value) else { return nil }
            guard let startValue = argument(0, context), let start = TimeParsing.parse(startValue) else { return nil }
            // Millisecond precision: providers send at most that, and it keeps float noise out.
            return .number((end.timeIntervalSince(start) * 1000).rounded() / 1000)
        case .duration:
            guard let seconds = value?.number else { return value }
            return .string(Filter.formatDuration(seconds))
        case .minutes: return value?.number.map { .number($0 / 60) }
        case .hours: return value?.number.map { .number($0 / 3600) }
        case .round:
            guard let n = value?.number else { return value }
            let places = arguments.isEmpty ? 0 : Int(argument(0, context)?.number ?? 0)
            let scale = pow(10.0, Double(places))
            return .number((n * scale).rounded() / scale)
        case .plus, .minus, .times, .divided_by:
            guard let a = value?.number, let b = argument(0, context)?.number else { return nil }
            switch kind {
            case .plus: return .number(a + b)
            case .minus: return .number(a - b)
            case .times: return .number(a * b)
            default: return b == 0 ? nil : .number(a / b)
            }
        }
    }

    /// `3725` → `1h 2m 5s`.
    static func formatDuration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let sign = total < 0 ? "-" : ""
        var s = abs(total)
        let d = s / 86400
        s %= 86400
        let h = s / 3600
        s %= 3600
        let m = s / 60
        s %= 60
        var parts: [String] = []
        if d > 0 { parts.append("\(d)d") }
        if h > 0 { parts.append("\(h)h") }
        if m > 0 { parts.append("\(m)m") }
        if s > 0 || parts.isEmpty { parts.append("\(s)s") }
        return sign + parts.joined(separator: " ")
    }
}

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
        let s = text.trimmingCharacters(in: .whitespaces)
        if s.isEmpty { return nil }
        if s.allSatisfy({ $0.isNumber || $0 == "." }), let n = Double(s) { return fromEpoch(n) }
        return parseRFC3339(s)
    }

    /// Hand-written RFC 3339 / ISO 8601 parser (Foundation's ISO8601DateFormatter is slow and rejects
    /// some provider variants such as a space instead of `T` or a missing zone).
    static func parseRFC3339(_ s: String) -> Date? {
        let b = Array(s.utf8)
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
        var hour = 0, minute = 0, second = 0
        var fraction = 0.0
        var i = 10
        if i < b.count, b[i] == UInt8(ascii: "T") || b[i] == UInt8(ascii: "t") || b[i] == UInt8(ascii: " ") {
            guard let h = num(i + 1, 2), i + 3 < b.count, b[i + 3] == UInt8(ascii: ":"), let m = num(i + 4, 2) else { return nil }
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
