import Foundation

/// Cloudthread's aggregation functions for custom data (`metric_agg_func`).
public enum Aggregation: String, Sendable, Codable, CaseIterable, Hashable {
    case sum = "Sum"
    case average = "Average"
    case maximum = "Maximum"
    case minimum = "Minimum"
}

/// A Cloudthread team given by id or by name (resolved through `GET /teams` before sending).
public enum TeamRef: Sendable, Hashable, Codable, CustomStringConvertible {
    case id(Int)
    case name(String)

    /// A numeric string is an id, anything else a name.
    public init?(text: String) {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.isEmpty { return nil }
        if let n = Int(t) { self = .id(n) } else { self = .name(t) }
    }

    public var description: String {
        switch self {
        case .id(let n): "\(n)"
        case .name(let s): s
        }
    }
}

/// One event (chart annotation), valid for `POST /events` except for a team name still to resolve.
public struct EventRecord: Sendable, Codable, Equatable {
    /// `YYYY-MM-DD HH:00:00` in UTC.
    public var timestamp: String
    public var team: TeamRef?
    public var type: String
    public var description: String?
    public var url: String?
    /// The rule that produced it.
    public var rule: String
    /// Per-item de-duplication key (a rule's `dedupe_key`), when the rule has one.
    public var dedupeKey: String? = nil
}

/// One metric observation: it updates the hourly aggregate of its key.
public struct MetricObservation: Sendable, Codable, Equatable {
    public var streamToken: String
    public var name: String
    public var aggregation: Aggregation
    public var value: Double
    public var dimensions: [String: String]
    /// `YYYY-MM-DD HH:00:00` in UTC.
    public var hour: String
    public var rule: String
    /// Per-item de-duplication key (a rule's `dedupe_key`), when the rule has one.
    public var dedupeKey: String? = nil
}

/// What a webhook produced.
public enum OutputRecord: Sendable, Equatable {
    case event(EventRecord)
    case metric(MetricObservation)
}

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

/// Cloudthread's limits (DESIGN.md section 3), applied before anything is stored.
public enum CloudthreadLimits {
    public static let descriptionLength = 1000
    public static let maxDimensions = 10

    /// Cuts a description to 1000 characters (Unicode scalars, the stricter count), ending in `…` when cut.
    public static func clampDescription(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count > descriptionLength else { return text }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars.prefix(descriptionLength - 1))
        let s = String(out)
        return s + "…"
    }
}
