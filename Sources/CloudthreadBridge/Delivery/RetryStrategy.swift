import Foundation

/// When to try a failed send again.
public struct RetryStrategy: Sendable {
    public var base: TimeInterval
    public var cap: TimeInterval
    /// Lower bound so that a jitter close to zero does not spin.
    public var floor: TimeInterval

    /// Exponential backoff with full jitter: a uniformly random delay in [floor, min(cap, base·2^attempt)].
    public static func exponentialJitter(base: TimeInterval = 1, cap: TimeInterval = 300, floor: TimeInterval = 0.2) -> RetryStrategy {
        RetryStrategy(base: base, cap: cap, floor: floor)
    }

    /// The delay before attempt `attempt + 1`; a `Retry-After` from the API wins but is capped.
    public func delay(attempt: Int, retryAfter: TimeInterval?) -> TimeInterval {
        if let retryAfter { return min(max(retryAfter, floor), cap) }
        let ceiling = min(cap, base * pow(2, Double(min(attempt, 30))))
        return max(floor, Double.random(in: 0...max(ceiling, floor)))
    }
}

/// A wake-up signal with a timeout, for loops that sleep until there is work.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func notify() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.pending = true
            return nil
        }
        waiter?.resume()
    }

    /// Returns after `notify()` or after `timeout`, whichever comes first (or at once when cancelled).
    func wait(timeout: Duration) async {
        if state.withLock({ s -> Bool in
            if s.pending { s.pending = false; return true }
            return false
        }) { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                if (try? await Task.sleep(for: timeout)) != nil { self.notify() }
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { s -> Bool in
                        if s.pending || Task.isCancelled {
                            s.pending = false
                            return true
                        }
                        s.waiter = c
                        return false
                    }
                    if resumeNow { c.resume() }
                }
            } onCancel: {
                self.notify()
            }
            group.cancelAll()
        }
        state.withLock { $0.pending = false }
    }
}

import Synchronization
