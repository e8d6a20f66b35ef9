import Foundation
import Synchronization

/// Refused webhooks (bad signature, address not allowed, malformed body, rate-limited), kept in memory only: the
/// last `capacity` of them with their reason and client address. A refusal costs no disk write, so a flood of
/// forgeries cannot fill the disk or slow genuine webhooks down.
public final class RefusalLog: Sendable {
    public struct Entry: Sendable, Codable, Equatable {
        public var at: Date
        public var source: String
        /// The refusal reason (`bad_signature`, `stale_timestamp`, `malformed_body`, `rate_limited`, ...).
        public var reason: String
        /// What was wrong, without any secret or signature value.
        public var detail: String
        public var clientAddress: String?
        /// The status code answered.
        public var status: Int
    }

    public let capacity: Int
    private let state: Mutex<(entries: [Entry], next: Int, total: Int)>

    public init(capacity: Int = 1000) {
        self.capacity = max(1, capacity)
        self.state = Mutex(([], 0, 0))
    }

    public func append(_ entry: Entry) {
        state.withLock { s in
            if s.entries.count < capacity {
                s.entries.append(entry)
            } else {
                s.entries[s.next] = entry
            }
            s.next = (s.next + 1) % capacity
            s.total += 1
        }
    }

    /// Newest first, at most `limit`, optionally of one source.
    public func recent(limit: Int = 100, source: String? = nil) -> [Entry] {
        let (entries, next) = state.withLock { ($0.entries, $0.next) }
        let ordered = entries.count < capacity ? entries : Array(entries[next...] + entries[..<next])
        return Array(ordered.reversed().lazy.filter { source == nil || $0.source == source }.prefix(max(0, limit)))
    }

    /// Refusals since the start of the process.
    public var total: Int { state.withLock { $0.total } }
}
