import BridgeCore
import Foundation
import Synchronization

/// One webhook as the provider would have sent it, rebuilt from its API: the headers and JSON body of the live
/// webhook (unsigned: `backfill` fetched it itself), and the delivery key it is stored under
/// (`backfill:github:<status id>`, `backfill:github-run:<run id>-<attempt>`, `backfill:gitlab:<deployment id>`).
public struct SyntheticDelivery: Sendable {
    public var key: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// What it is, for the progress log and the list of what could not be mapped:
    /// `deployment 145988746 status 209916254 (production, success)`.
    public var label: String
    /// When it happened (the status's time): what `BackfillPolicy.skipBefore` is compared with.
    public var at: Date

    public init(key: String, headers: [(String, String)], payload: JSONValue, label: String, at: Date) {
        self.key = key
        self.at = at
        self.headers = headers
        self.body = Array(payload.json.utf8)
        self.label = label
    }
}

/// What to read: the time window and an environment.
public struct BackfillWindow: Sendable {
    public var since: Date
    public var until: Date
    public var environment: String?

    /// `since` is taken back to the start of its hour and `until` on to the end of its own, so that every hour the
    /// window touches is read whole (an hour's data point is then computed from all its deploys).
    public init(since: Date, until: Date, environment: String?) {
        self.since = Date(timeIntervalSince1970: (since.timeIntervalSince1970 / 3600).rounded(.down) * 3600)
        self.until = Date(timeIntervalSince1970: (until.timeIntervalSince1970 / 3600).rounded(.up) * 3600)
        self.environment = environment
    }

    public func contains(_ date: Date) -> Bool { date >= since && date < until }

    /// ISO 8601 in UTC, as both APIs take it in their query strings.
    static func iso(_ date: Date) -> String {
        var f = Date.ISO8601FormatStyle()
        f.timeZone = TimeZone(identifier: "UTC")!
        return date.formatted(f)
    }
}

/// Counts a run reports as it goes (the progress line reads them).
public struct BackfillCounts: Sendable, Equatable {
    /// Deployments (or workflow runs) read from the provider.
    public var deploymentsRead = 0
    /// Deployments with no status at all (GitHub): nothing to send for them.
    public var withoutStatus = 0
    /// Synthetic deliveries built.
    public var built = 0
    /// Deliveries stored (accepted by the rules, not seen before).
    public var stored = 0
    /// Deliveries already stored (an earlier backfill or a live webhook).
    public var duplicates = 0
    /// Deliveries no rule matched (a deploy still in progress, a workflow that is not a deploy).
    public var ignored = 0
    /// Deliveries skipped because they are older than the dedupe keys kept (`BackfillPolicy.skipBefore`).
    public var tooOld = 0
    /// Events and data points queued for Cloudthread.
    public var recordsQueued = 0
    /// Pages of the main list read, and their number when the provider says.
    public var pagesRead = 0
    public var totalPages: Int?

    public init() {}
}

/// Reads past deploys from a provider and hands each one over as a synthetic delivery.
public protocol BackfillReader: Sendable {
    /// The provider whose payloads it builds.
    var provider: ProviderAPI.Provider { get }
    /// Reads everything in `window`, calling `emit` for each delivery in the provider's order and `progress` as
    /// pages are read. Throws a `BackfillError`.
    func read(
        _ window: BackfillWindow, progress: BackfillProgress, emit: (SyntheticDelivery) async throws -> Void
    ) async throws
}

/// The counts of a run, shared by the reader and the runner; `onChange` sees each new state (the progress line).
public final class BackfillProgress: Sendable {
    private let counts = Mutex(BackfillCounts())
    let onChange: @Sendable (BackfillCounts) -> Void

    public init(onChange: @escaping @Sendable (BackfillCounts) -> Void = { _ in }) { self.onChange = onChange }

    public var current: BackfillCounts { counts.withLock { $0 } }

    public func update(_ change: (inout BackfillCounts) -> Void) {
        let now = counts.withLock { c in
            change(&c)
            return c
        }
        onChange(now)
    }
}
