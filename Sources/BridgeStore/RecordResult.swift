import BridgeCore
import Foundation

public enum RecordResult: Sendable, Equatable {
    /// Stored; `events` and `metrics` count what was kept after per-item de-duplication.
    case stored(deliveryId: Int64, events: Int, metrics: Int)
    /// The delivery key (or every per-item key) was seen before; nothing new was stored.
    case duplicate(originalDeliveryId: Int64)
}
