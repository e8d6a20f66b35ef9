import BridgeVerification
import HTTPTypes
import Hummingbird
import NIOCore

/// The request context: Hummingbird's core storage plus the client's address.
public struct BridgeRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The socket's peer: the client, or a proxy in front of the bridge.
    public let peerAddress: String?
    /// The client: the peer, or behind a trusted proxy the address the proxy names (`ClientAddressMiddleware`).
    /// The refusal limit, `allow_networks`, the logs, the stored request, the console and the admin API use it.
    public var clientAddress: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.peerAddress = source.channel.remoteAddress?.ipAddress
        self.clientAddress = peerAddress
    }
}

/// Resolves `clientAddress` from the forwarding headers when the peer is a trusted proxy (`BRIDGE_TRUSTED_PROXIES`).
struct ClientAddressMiddleware: RouterMiddleware {
    typealias Context = BridgeRequestContext
    let proxies: TrustedProxies

    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let forwarded = HTTPField.Name("Forwarded")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        guard !proxies.networks.isEmpty else { return try await next(request, context) }
        var context = context
        context.clientAddress = proxies.client(
            peer: context.peerAddress, forwarded: request.headers[values: Self.forwarded],
            forwardedFor: request.headers[values: Self.xForwardedFor])
        return try await next(request, context)
    }
}
