import Foundation
import Synchronization

/// Duplicate webhooks per source since start-up, in memory: a duplicate is not stored as a delivery, so the
/// console counts them here, in total and per hour for the last 25 hours (the overview's chart).
final class DuplicateCounter: Sendable {
    private struct Counts {
        var total: [String: Int] = [:]
        /// Source → hour (seconds since 1970 / 3600) → duplicates in that hour.
        var hourly: [String: [Int64: Int]] = [:]
    }
    private let counts = Mutex(Counts())
    static let hoursKept: Int64 = 25

    func add(source: String, at date: Date = Date()) {
        let hour = Int64((date.timeIntervalSince1970 / 3600).rounded(.down))
        counts.withLock {
            $0.total[source, default: 0] += 1
            var hours = $0.hourly[source] ?? [:]
            hours[hour, default: 0] += 1
            if hours.count > Self.hoursKept { hours = hours.filter { $0.key > hour - Self.hoursKept } }
            $0.hourly[source] = hours
        }
    }

    func count(source: String) -> Int { counts.withLock { $0.total[source] ?? 0 } }

    /// Duplicates per hour over the `hours` hours up to `now`, oldest first (the last is the hour up to now), as
    /// the store's activity counts them (by whole hours before now).
    func hourly(source: String, hours: Int, now: Date) -> [Int] {
        var out = Array(repeating: 0, count: hours)
        let seen = counts.withLock { $0.hourly[source] ?? [:] }
        for (hour, n) in seen {
            // The middle of the bucket's hour against now: the same whole-hour age as a stored delivery.
            let age = Int((now.timeIntervalSince1970 - Double(hour) * 3600) / 3600)
            guard age >= 0, age < hours else { continue }
            out[hours - 1 - age] += n
        }
        return out
    }
}
