import BridgeCore
import BridgeDelivery
import BridgeVerification
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// The router's part of the webhook routes: the Azure Event Grid handshake (`OPTIONS /hooks/{source}`). The
/// webhooks themselves (`POST /hooks/{source}[/{path}]`, `PUT /hooks/{source}`) never reach the router:
/// `WebhookChannelHandler` serves them on the connection's event loop, with the rules of `WebhookEdge`.
struct WebhookController {
    let ingestor: Ingestor

    func addRoutes(to router: Router<BridgeRequestContext>) {
        router.on("/hooks/:source", method: .options) { request, context in self.handshake(request, context) }
    }

    /// The CloudEvents webhook validation handshake of Azure Event Grid: `OPTIONS` with
    /// `WebHook-Request-Origin: eventgrid.azure.net` is answered 200 with `WebHook-Allowed-Origin` for an enabled
    /// azure-eventgrid source, and 404 otherwise. It stores nothing and says only that the source exists, so it asks
    /// for no credentials (the deliveries that follow are verified).
    func handshake(_ request: Request, _ context: BridgeRequestContext) -> Response {
        let name = context.parameters.get("source") ?? ""
        let requestOrigin = HTTPField.Name("WebHook-Request-Origin")!
        guard let source = ingestor.rules.source(name), source.disabledReason == nil,
            case .azureEventGrid? = source.verifier?.scheme,
            let origin = request.headers[requestOrigin]?.lowercased(), origin == "eventgrid.azure.net"
        else { return Self.json(404, .object(["error": .string("no webhook handshake here")])) }
        var headers = HTTPFields()
        headers[HTTPField.Name("WebHook-Allowed-Origin")!] = origin
        headers[HTTPField.Name("WebHook-Allowed-Rate")!] = "*"
        return Response(status: .ok, headers: headers)
    }

    static func json(_ status: Int, _ body: JSONValue, close: Bool = false) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if close { headers[.connection] = "close" }
        return Response(
            status: .init(code: status), headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: body.json + "\n")))
    }
}

/// A cap on webhooks in progress (`BRIDGE_MAX_CONCURRENT`); 0 means no cap.
final class ConcurrencyLimit: Sendable {
    let limit: Int
    private let current = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    func enter() -> Bool {
        let now = current.add(1, ordering: .relaxed).newValue
        if limit > 0 && now > limit {
            current.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func leave() { current.subtract(1, ordering: .relaxed) }

    var inProgress: Int { current.load(ordering: .relaxed) }
}

/// Webhooks whose bodies are arriving, per client address (`BRIDGE_MAX_BODIES_PER_CLIENT`); 0 means no cap. At
/// most `maxAddresses` addresses are tracked at once (beyond, a new address waits for one to finish).
final class BodiesInProgress: Sendable {
    let limitPerClient: Int
    let maxAddresses: Int
    private let counts = Mutex([String: Int]())

    init(limitPerClient: Int, maxAddresses: Int = 100_000) {
        self.limitPerClient = limitPerClient
        self.maxAddresses = maxAddresses
    }

    func enter(_ address: String?) -> Bool {
        guard limitPerClient > 0 else { return true }
        let key = address ?? "-"
        return counts.withLock { counts in
            let now = counts[key] ?? 0
            guard now < limitPerClient, now > 0 || counts.count < maxAddresses else { return false }
            counts[key] = now + 1
            return true
        }
    }

    func leave(_ address: String?) {
        guard limitPerClient > 0 else { return }
        let key = address ?? "-"
        counts.withLock { counts in
            let now = (counts[key] ?? 1) - 1
            counts[key] = now > 0 ? now : nil
        }
    }

    func inProgress(_ address: String?) -> Int { counts.withLock { $0[address ?? "-"] ?? 0 } }
}
