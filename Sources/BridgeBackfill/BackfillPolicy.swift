import Foundation

/// What a backfill may store without counting a deploy twice or sending a partial hourly value, decided from when
/// the store first received anything for the source (`SourceHistoryStore.firstReceived`).
///
/// - Dedupe keys are kept for the dedupe window (`BRIDGE_RETENTION_DAYS`) after they were stored. When the bridge
///   has received the source's webhooks for about that long, a deploy older than the window may have been stored
///   live and its key pruned since: the backfill skips such deploys (`skipBefore`) rather than count them again.
/// - Otherwise no live webhook of the source reached the bridge before its first delivery: every hour before that
///   one is known only from what the backfill reads, and the backfill reads whole hours, so the aggregate it builds
///   for such an hour is the hour's full value. Those hours are sent even when they are older than the aggregates
///   normally kept (`fullHoursBefore`); later hours mix live and backfilled deploys in the kept aggregates, and
///   hours older than those are refused, never sent partially.
public struct BackfillPolicy: Sendable, Equatable {
    public var skipBefore: Date?
    public var fullHoursBefore: Date?

    public init(skipBefore: Date?, fullHoursBefore: Date?) {
        self.skipBefore = skipBefore
        self.fullHoursBefore = fullHoursBefore
    }

    /// Stores everything and sends no hour past the aggregates kept (a dry run, or a store that cannot say).
    public static let plain = BackfillPolicy(skipBefore: nil, fullHoursBefore: nil)

    public static func decide(firstReceived: Date?, now: Date, dedupeWindow: TimeInterval) -> BackfillPolicy {
        let first = min(firstReceived ?? now, now)
        // A day's margin: the retention job runs periodically, so keys slightly older than the window may be gone.
        if first < now.addingTimeInterval(-dedupeWindow + 86400) {
            return BackfillPolicy(skipBefore: now.addingTimeInterval(-dedupeWindow + 86400), fullHoursBefore: nil)
        }
        let hour = (first.timeIntervalSince1970 / 3600).rounded(.down) * 3600
        return BackfillPolicy(skipBefore: nil, fullHoursBefore: Date(timeIntervalSince1970: hour))
    }
}
