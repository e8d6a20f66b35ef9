import BridgeCore
import BridgeVerification
import Foundation

/// The result of mapping one request through its source's rules.
public struct MappingResult: Sendable {
    public var records: [OutputRecord]
    public var explanation: Explanation
    /// The content dedupe key, when the source defines one.
    public var contentKey: String?
    /// Cost follow-ups asked for by events' `cost_impact:` (one per event produced with it).
    public var followUps: [CostFollowUp] = []

    public var events: [EventRecord] { records.compactMap { if case .event(let e) = $0 { e } else { nil } } }
    public var metrics: [MetricObservation] { records.compactMap { if case .metric(let m) = $0 { m } else { nil } } }
}
