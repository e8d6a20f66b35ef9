import BridgeCore
import BridgeVerification
import Foundation

public struct EventTemplate: Sendable {
    public var type: Template
    public var time: Template?
    public var description: Template?
    public var url: Template?
    public var team: Template?
    /// `cost_impact:`: a follow-up of the deploy's effect on a Cost View or Unit Metric.
    public var costImpact: CostImpactTemplate? = nil
}

/// An event's `cost_impact:` section, checked at load time (durations, threshold, the view given).
public struct CostImpactTemplate: Sendable {
    public var spec: CostImpactSpec
    /// The data point's dimensions; nil: those of the rule's first metric, evaluated for the same webhook or item.
    public var dimensions: [(key: String, value: Template)]?
    /// The data point's stream; nil: the rule's, the source's, then CLOUDTHREAD_STREAM_TOKEN.
    public var streamToken: Secret?

    public init(spec: CostImpactSpec, dimensions: [(key: String, value: Template)]? = nil, streamToken: Secret? = nil) {
        self.spec = spec
        self.dimensions = dimensions
        self.streamToken = streamToken
    }
}
