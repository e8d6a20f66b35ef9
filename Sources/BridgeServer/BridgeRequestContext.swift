import Hummingbird
import NIOCore

/// The request context: Hummingbird's core storage plus the client's address (for allow-lists).
public struct BridgeRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress?.ipAddress
    }
}
