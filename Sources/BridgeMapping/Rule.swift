import BridgeCore
import BridgeVerification
import Foundation

/// One rule: a condition and the outputs it produces when it matches.
public struct Rule: Sendable {
    public var name: String
    public var condition: Condition
    /// Produce one set of outputs per element of this list (`item.` paths refer to the element).
    public var forEach: PayloadPath?
    /// Per-item de-duplication key: outputs of an item (or webhook) whose key was seen before are left out.
    public var dedupeKey: Template?
    public var team: Template?
    public var streamToken: Secret?
    public var events: [EventTemplate]
    public var metrics: [MetricTemplate]
    public var line: Int
}
