import Foundation
import Synchronization

/// Counts refused webhooks (bad signatures and the like) per client address in fixed one-minute windows. An address
/// over `limitPerMinute` is answered 429 with Retry-After until its window ends, before its body is read or any
/// signature is computed. At most `maxAddresses` are tracked, so memory stays bounded under a spread-out flood.
public final class RefusalLimiter: Sendable {
    public let limitPerMinute: Int
    public let maxAddresses: Int
    private let windows = Mutex([String: (start: Double, count: Int)]())

    /// `limitPerMinute` 0 turns the limiter off.
    public init(limitPerMinute: Int, maxAddresses: Int = 10000) {
        self.limitPerMinute = limitPerMinute
        self.maxAddresses = max(1, maxAddresses)
    }

    /// Seconds until `address` may send again, or nil when it is not limited.
    public func retryAfter(_ address: String?, now: Date = Date()) -> Int? {
        guard limitPerMinute > 0, let address else { return nil }
        let t = now.timeIntervalSince1970
        return windows.withLock { w -> Int? in
            guard let entry = w[address], t - entry.start < 60, entry.count >= limitPerMinute else { return nil }
            return max(1, Int((entry.start + 60 - t).rounded(.up)))
        }
    }

    /// Counts one refusal of `address`.
    public func noteRefusal(_ address: String?, now: Date = Date()) {
        guard limitPerMinute > 0, let address else { return }
        let t = now.timeIntervalSince1970
        windows.withLock { w in
            if var entry = w[address], t - entry.start < 60 {
                entry.count += 1
                w[address] = entry
                return
            }
            if w.count >= maxAddresses {
                w = w.filter { t - $0.value.start < 60 }
                if w.count >= maxAddresses, let some = w.keys.first { w.removeValue(forKey: some) }
            }
            w[address] = (t, 1)
        }
    }
}
