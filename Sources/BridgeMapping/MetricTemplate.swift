import BridgeCore
import BridgeVerification
import Foundation

public struct MetricTemplate: Sendable {
    public var name: Template
    public var aggregation: Aggregation
    public var value: Template
    public var time: Template?
    public var dimensions: [(key: String, value: Template)]
    public var streamToken: Secret?
}
