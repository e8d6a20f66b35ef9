import BridgeCore
import Foundation

/// Settings of the forwarder.
public struct ForwarderConfiguration: Sendable {
    /// Records per Cloudthread request.
    public var batchSize: Int = 100
    /// How often to look for due records when nothing wakes the forwarder.
    public var pollInterval: Duration = .seconds(1)
    /// After a round that claimed fewer records than a full claim (it took everything due), how long before the
    /// next claim, even when new records are stored meanwhile: they go together in the next round. A record stored
    /// while the forwarder is idle is claimed at once; a full claim is followed by the next at once.
    public var linger: Duration = .milliseconds(100)
    /// Backoff of failed sends: exponential with full jitter, at most 5 minutes; a `Retry-After` is honoured up
    /// to 1 hour (`retry.retryAfterCap`).
    public var retry: RetryStrategy = .exponentialJitter()
    /// While the API key is refused: the first wait before asking again; it doubles up to `maxPauseInterval`.
    public var pauseInterval: TimeInterval = 60
    public var maxPauseInterval: TimeInterval = 900
    /// How long a claim holds records; unmarked records are due again after it (a stalled or dead sender).
    public var lease: TimeInterval = 300
    /// A record that failed this many times is sent alone, so one bad record cannot hold back its batch-mates.
    public var isolateAfterAttempts: Int = 3
    /// The poison rule: a record sent alone is dead-lettered for retryable answers only after this many failures in
    /// a row, each after its endpoint accepted at least `poisonAcceptedBetween` other requests since the record's
    /// previous failure and failed no other (docs/operations.md).
    public var poisonStrikes: Int = 5
    public var poisonAcceptedBetween: Int = 2
    /// The time as the forwarder sees it: which records are due, holds, pauses, cost follow-ups. Tests and the
    /// simulation move it; in production it is the system clock.
    public var clock: any BridgeClock = SystemClock()

    public init() {}
}
