import Foundation
import Synchronization

/// Lets through at most `limit` log lines per minute for one kind of event (refusals) and counts the rest, so a flood
/// of forged requests cannot turn into a flood of log lines (or their CPU cost). Counters and the refusal log still
/// see every one.
public final class LogSampler: Sendable {
    public let limit: Int
    private let window = Mutex((start: 0.0, logged: 0, suppressed: 0))

    public init(limitPerMinute: Int = 20) { self.limit = limitPerMinute }

    /// Whether to log this one, and how many were suppressed in the window that just ended (to say so once).
    public func admit(now: Date = Date()) -> (log: Bool, suppressedBefore: Int) {
        let t = now.timeIntervalSince1970
        return window.withLock { w in
            var suppressed = 0
            if t - w.start >= 60 {
                suppressed = w.suppressed
                w = (t, 0, 0)
            }
            if w.logged < limit {
                w.logged += 1
                return (true, suppressed)
            }
            w.suppressed += 1
            return (false, suppressed)
        }
    }
}
