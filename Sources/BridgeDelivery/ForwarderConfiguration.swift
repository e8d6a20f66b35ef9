import Foundation

/// Settings of the forwarder.
public struct ForwarderConfiguration: Sendable {
    /// Records per Cloudthread request.
    public var batchSize: Int = 100
    /// How often to look for due records when nothing wakes the forwarder.
    public var pollInterval: Duration = .seconds(1)
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
    /// A record sent alone that gets a retryable error this many times while other sends succeed is dead-lettered.
    public var poisonStrikes: Int = 5
    /// The time as the forwarder sees it: which records are due, cost follow-ups included. Tests move it forward
    /// to run a follow-up days early; in production it is the system clock.
    public var clock: @Sendable () -> Date = { Date() }

    public init() {}
}
