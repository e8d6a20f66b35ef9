import Foundation
import Synchronization

/// Failed admin-token attempts (console sign-ins and bearer tokens on `/admin/*`) per client address, in fixed
/// windows: after `limit` failures within `window` seconds, the address is answered 429 with Retry-After until its
/// window ends, whatever token it presents. Other addresses are not affected. At most `maxAddresses` are tracked.
final class AdminAttempts: Sendable {
    static let defaultLimit = 10
    static let defaultWindow: TimeInterval = 600

    let limit: Int
    let window: TimeInterval
    let maxAddresses: Int
    private let windows = Mutex([String: (start: Double, count: Int)]())

    init(limit: Int = defaultLimit, window: TimeInterval = defaultWindow, maxAddresses: Int = 10000) {
        self.limit = limit
        self.window = window
        self.maxAddresses = max(1, maxAddresses)
    }

    /// Seconds until `address` may try again, or nil when it may try now.
    func retryAfter(_ address: String?, now: Date = Date()) -> Int? {
        let key = address ?? "-"
        let t = now.timeIntervalSince1970
        return windows.withLock { w -> Int? in
            guard let entry = w[key], t - entry.start < window, entry.count >= limit else { return nil }
            return max(1, Int((entry.start + window - t).rounded(.up)))
        }
    }

    /// Counts one failed attempt of `address`.
    func noteFailure(_ address: String?, now: Date = Date()) {
        let key = address ?? "-"
        let t = now.timeIntervalSince1970
        windows.withLock { w in
            if var entry = w[key], t - entry.start < window {
                entry.count += 1
                w[key] = entry
                return
            }
            if w.count >= maxAddresses {
                w = w.filter { t - $0.value.start < window }
                // Under a spread-out flood, keep the addresses that are limited; forget one that is not.
                if w.count >= maxAddresses, let some = w.first(where: { $0.value.count < limit })?.key ?? w.keys.first {
                    w.removeValue(forKey: some)
                }
            }
            w[key] = (t, 1)
        }
    }
}
