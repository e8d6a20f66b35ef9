import Foundation

/// What `backfill` asks a store before it stores past deploys: since when the bridge has received anything for a
/// source. Before that time no live webhook of the source was stored, so no dedupe key of one can have been pruned;
/// after it, a deploy older than the dedupe window may have been seen and forgotten.
public protocol SourceHistoryStore: Sendable {
    /// When the oldest delivery of `source` still kept was received (live or fetched); nil when there is none.
    func firstReceived(source: String) async throws -> Date?
}
