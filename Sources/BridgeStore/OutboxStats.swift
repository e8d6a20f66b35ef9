import BridgeCore
import Foundation

/// Counts of the outbox by state.
public struct OutboxStats: Sendable, Codable, Equatable {
    public var pending: Int
    public var inflight: Int
    public var sent: Int
    public var dead: Int
    /// Age in seconds of the oldest pending record (for a cost follow-up, since it became due), 0 when none.
    public var oldestPendingAge: Double
    /// Cost follow-ups not due yet (not counted as pending).
    public var scheduled: Int = 0

    public init(pending: Int, inflight: Int, sent: Int, dead: Int, oldestPendingAge: Double, scheduled: Int = 0) {
        self.pending = pending
        self.inflight = inflight
        self.sent = sent
        self.dead = dead
        self.oldestPendingAge = oldestPendingAge
        self.scheduled = scheduled
    }
}
