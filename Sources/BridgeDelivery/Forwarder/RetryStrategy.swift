import Foundation

/// When to try a failed send again.
public struct RetryStrategy: Sendable {
    public var base: TimeInterval
    public var cap: TimeInterval
    /// Lower bound so that a jitter close to zero does not spin.
    public var floor: TimeInterval
    /// The longest `Retry-After` honoured (default 1 hour); a longer one is cut to this.
    public var retryAfterCap: TimeInterval

    /// Exponential backoff with full jitter: a uniformly random delay in [floor, min(cap, base·2^attempt)].
    public static func exponentialJitter(
        base: TimeInterval = 1, cap: TimeInterval = 300, floor: TimeInterval = 0.2, retryAfterCap: TimeInterval = 3600
    ) -> RetryStrategy {
        RetryStrategy(base: base, cap: cap, floor: floor, retryAfterCap: retryAfterCap)
    }

    /// The delay before attempt `attempt + 1`; a `Retry-After` from the API wins, up to `retryAfterCap`.
    public func delay(attempt: Int, retryAfter: TimeInterval?) -> TimeInterval {
        var random = SystemRandomNumberGenerator()
        return delay(attempt: attempt, retryAfter: retryAfter, using: &random)
    }

    /// The same, with the jitter drawn from `random` (the forwarder's core draws from a seeded generator).
    public func delay(
        attempt: Int, retryAfter: TimeInterval?, using random: inout some RandomNumberGenerator
    ) -> TimeInterval {
        if let retryAfter, retryAfter.isFinite { return min(max(retryAfter, floor), retryAfterCap) }
        let ceiling = min(cap, base * pow(2, Double(min(max(attempt, 0), 30))))
        return max(floor, Double.random(in: 0...max(ceiling, floor), using: &random))
    }
}
