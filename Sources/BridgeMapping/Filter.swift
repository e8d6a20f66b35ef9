import BridgeCore
import Foundation
import Synchronization

/// A template filter: `| name arg ...`.
struct Filter: Sendable {
    enum Kind: String, Sendable, CaseIterable {
        case `default`, upper, lower, capitalize, trim, truncate, replace
        case join, map, first, last, length, json, split, slice, find, prefix, suffix
        case date
        case secondsSince = "seconds_since"
        case duration, minutes, hours, round
        case plus, minus, times
        case dividedBy = "divided_by"

        var arity: ClosedRange<Int> {
            switch self {
            case .default, .truncate, .join, .map, .date, .secondsSince, .plus, .minus, .times, .dividedBy: 1...1
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
            case .plus, .minus, .times, .dividedBy:
                if case .literal(let v) = args[0], v.number == nil {
                    return "filter '\(rawValue)' takes a number or a path"
                }
                if self == .dividedBy, let n = literalNumber(args[0]), n == 0 {
                    return "filter 'divided_by' cannot divide by 0"
                }
            case .round:
                if let a = args.first, literalNumber(a) == nil {
                    return "filter 'round' takes a whole number of decimals"
                }
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
            case .secondsSince:
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
        case .trim: return value.map { .string($0.text.trimmed) }
        case .truncate:
            guard let value else { return nil }
            let n = Filter.integer(argument(0, context)?.number, in: 0...1_000_000)
            let t = value.text
            guard t.count > n else { return .string(t) }
            return .string(n > 1 ? String(t.prefix(n - 1)) + "…" : String(t.prefix(n)))
        case .replace:
            guard let value else { return nil }
            let (text, pattern, replacement) = (
                value.text, argument(0, context)?.text ?? "", argument(1, context)?.text ?? ""
            )
            return .string(
                ASCIIText.replacing(text, pattern, with: replacement)
                    ?? text.replacingOccurrences(of: pattern, with: replacement))
        case .join:
            guard let value else { return nil }
            let sep = argument(0, context)?.text ?? ", "
            if case .array(let a) = value {
                return .string(a.map(\.text).filter { !$0.isEmpty }.joined(separator: sep))
            }
            return value
        case .map:
            guard case .literal(.string(let key)) = arguments[0],
                case .success(let path) = PayloadPath.parse("item." + key)
            else { return value }
            switch value {
            case .array(let a)?:
                return .array(a.compactMap { element in path.resolve(in: context.with(item: element)) })
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
            let text = value.text
            let pieces = ASCIIText.split(text, separator: sep) ?? text.components(separatedBy: sep)
            return .array(pieces.map(JSONValue.string))
        case .slice:
            guard let value else { return nil }
            let start = Filter.integer(argument(0, context)?.number, in: -1_000_000...1_000_000)
            let length =
                arguments.count > 1 ? Filter.integer(argument(1, context)?.number, in: 0...1_000_000) : nil
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
                throw TemplateEvaluationError(
                    description: "'\(value.text.prefix(40))' is not a time the 'date' filter understands")
            }
            return .string(Filter.formatDate(date, argument(0, context)?.text ?? "yyyy-MM-dd HH:mm"))
        case .secondsSince:
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
            let places = arguments.isEmpty ? 0 : Filter.integer(argument(0, context)?.number, in: -15...15)
            let scale = pow(10.0, Double(places))
            let rounded = (n * scale).rounded() / scale
            return .number(rounded.isFinite ? rounded : n)
        case .plus, .minus, .times, .dividedBy:
            guard let a = value?.number, let b = argument(0, context)?.number else { return nil }
            switch kind {
            case .plus: return .number(a + b)
            case .minus: return .number(a - b)
            case .times: return .number(a * b)
            default: return b == 0 ? nil : .number(a / b)
            }
        }
    }

    /// Formatters of the `date` filter by format, made once each (a `DateFormatter` per call cost far more than the
    /// formatting); used under the lock, so no formatter is shared between threads at once. At most 64 formats are
    /// kept (formats come from rule files, not payloads, unless a rule passes a path).
    private static let dateFormatters = Mutex([String: DateFormatter]())

    static func formatDate(_ date: Date, _ format: String) -> String {
        dateFormatters.withLock { cache in
            if let formatter = cache[format] { return formatter.string(from: date) }
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "UTC")
            formatter.dateFormat = format
            if cache.count >= 64 { cache.removeAll() }
            cache[format] = formatter
            return formatter.string(from: date)
        }
    }

    /// A number argument as an integer within `range` (truncated toward zero, clamped; NaN and absent are 0), so
    /// no payload value can trap.
    static func integer(_ value: Double?, in range: ClosedRange<Int>) -> Int {
        guard let value, value.isFinite else { return min(max(0, range.lowerBound), range.upperBound) }
        if value <= Double(range.lowerBound) { return range.lowerBound }
        if value >= Double(range.upperBound) { return range.upperBound }
        return Int(value)
    }

    /// `3725` → `1h 2m 5s`. Durations beyond ±100 years (or not finite) are clamped, so no input traps.
    static func formatDuration(_ seconds: Double) -> String {
        let total = integer(seconds.isFinite ? seconds.rounded() : 0, in: -3_155_760_000...3_155_760_000)
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
