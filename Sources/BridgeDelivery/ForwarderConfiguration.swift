import BridgeCloudthread
import BridgeCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Settings of the forwarder.
public struct ForwarderConfiguration: Sendable {
    /// Records per Cloudthread request.
    public var batchSize: Int = 100
    /// How often to look for due records when nothing wakes the forwarder.
    public var pollInterval: Duration = .seconds(1)
    public var retry: RetryStrategy = .exponentialJitter()
    /// While the API key is refused, how long to wait before trying again.
    public var pauseInterval: TimeInterval = 60

    public init() {}
}
