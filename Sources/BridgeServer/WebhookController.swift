import BridgeCore
import BridgeDelivery
import BridgeVerification
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// `POST /hooks/{source}[/{path}]`: the HTTP edge of the pipeline.
///
/// Everything a request can be refused for without its body (unknown or disabled source, an address over the
/// refusal limit, too many requests in progress, a declared length over the limit) is decided before the body is
/// read. A refused request's body is then read and discarded up to a bound: a client that writes its whole body
/// before reading (Python's urllib) still gets the answer at once. When the whole body was discarded the connection
/// stays open (a flood answered 429 costs no new connection per request); one that sends more than the bound, or
/// is over the size limit, is cut off after the answer.
///
/// While its body arrives a webhook counts only toward its client's bodies in progress (`BodiesInProgress`), and
/// takes a processing slot (`ConcurrencyLimit`) once its body is whole: senders that trickle their bodies cannot
/// keep the others' webhooks out, and `RequestDeadlineHandler` ends them after `BRIDGE_BODY_TIMEOUT`.
struct WebhookController {
    let ingestor: Ingestor
    let metrics: BridgeMetrics
    let maxBodyBytes: Int
    let concurrency: ConcurrencyLimit
    let bodies: BodiesInProgress
    /// Duplicates per source since start-up (they are not stored), for the console.
    var duplicates = DuplicateCounter()

    func addRoutes(to router: Router<BridgeRequestContext>) {
        router.post("/hooks/:source") { request, context in try await self.handle(request, context, subpath: "") }
        router.post("/hooks/:source/**") { request, context in
            try await self.handle(request, context, subpath: context.parameters.getCatchAll().joined(separator: "/"))
        }
        router.put("/hooks/:source") { request, context in try await self.handle(request, context, subpath: "") }
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

    func handle(_ request: Request, _ context: BridgeRequestContext, subpath: String) async throws -> Response {
        let started = ContinuousClock.now
        let source = context.parameters.get("source") ?? ""
        if let refusal = ingestor.precheck(source: source, clientAddress: context.clientAddress) {
            return await refuse(request, Self.response(refusal))
        }
        let client = context.clientAddress
        guard bodies.enter(client) else {
            metrics.webhook(source: source, outcome: IngestOutcome.Kind.rateLimited.rawValue)
            let outcome = IngestOutcome(
                .rateLimited,
                body: .object([
                    "error": .string(
                        "too many webhooks from this address are still sending their bodies; retry shortly")
                ]), retryAfter: 1)
            return await refuse(request, Self.response(outcome))
        }
        var leftBodies = false
        defer { if !leftBodies { bodies.leave(client) } }
        // Built only when a body is refused for its size, not for every webhook.
        var tooLarge: IngestOutcome {
            IngestOutcome(.badRequest, body: .object(["error": .string("body larger than \(maxBodyBytes) bytes")]))
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            metrics.webhook(source: source, outcome: "too_large")
            return await refuse(request, Self.response(tooLarge, status: 413))
        }
        // Read the body up to the limit; past it, stop keeping bytes and refuse.
        var body: [UInt8] = []
        var iterator = request.body.makeAsyncIterator()
        var overLimit = false
        do {
            while let chunk = try await iterator.next() {
                if body.count + chunk.readableBytes > maxBodyBytes {
                    overLimit = true
                    break
                }
                body.append(contentsOf: chunk.readableBytesView)
            }
        } catch {
            // The body did not arrive whole (BRIDGE_BODY_TIMEOUT, or the connection broke): the deadline handler
            // has answered 408 and closed the connection; this answer is not written.
            metrics.webhook(source: source, outcome: "timeout")
            return Self.closing(
                Self.json(408, .object(["error": .string("the request did not arrive whole in time")])))
        }
        if overLimit {
            metrics.webhook(source: source, outcome: "too_large")
            await Self.discard(&iterator, upTo: Self.drainLimit(maxBodyBytes))
            return Self.closing(Self.response(tooLarge, status: 413))
        }
        bodies.leave(client)
        leftBodies = true
        // The body is whole: now the webhook takes a processing slot.
        guard concurrency.enter() else {
            metrics.webhook(source: source, outcome: IngestOutcome.Kind.overloaded.rawValue)
            return Self.response(
                IngestOutcome(
                    .overloaded, body: .object(["error": .string("too many webhooks in progress; retry shortly")]),
                    retryAfter: 1))
        }
        defer { concurrency.leave() }
        var headers = HeaderBag(capacity: request.headers.count)
        for field in request.headers { headers.add(field.name.rawName, field.value) }
        let incoming = IncomingRequest(
            source: source, method: request.method.rawValue, path: request.uri.path,
            query: IncomingRequest.parseQuery(request.uri.query), headers: headers, body: body,
            clientAddress: context.clientAddress, receivedAt: Date())
        let outcome = await ingestor.ingest(incoming, subpath: subpath)
        if outcome.kind == .duplicate { duplicates.add(source: source) }
        let elapsed = (ContinuousClock.now - started).components
        metrics.observeWebhookDuration(Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
        return Self.response(outcome)
    }

    /// How much of a refused body is read and discarded before the connection is cut: enough for any honest
    /// client that writes first, bounded so a refused request cannot make the bridge read without end.
    static func drainLimit(_ maxBodyBytes: Int) -> Int { max(4 * maxBodyBytes, 16 * 1024 * 1024) }

    /// Answers a request refused before its body was read: discards the body up to the size limit, and keeps the
    /// connection open when the body ended within it (else reads on to a bound and closes after the answer).
    private func refuse(_ request: Request, _ response: Response) async -> Response {
        var iterator = request.body.makeAsyncIterator()
        if await Self.discard(&iterator, upTo: maxBodyBytes) { return response }
        await Self.discard(&iterator, upTo: Self.drainLimit(maxBodyBytes))
        return Self.closing(response)
    }

    /// Reads and drops the body up to `limit` bytes; true when it ended within them.
    @discardableResult
    private static func discard(_ iterator: inout RequestBody.AsyncIterator, upTo limit: Int) async -> Bool {
        var seen = 0
        while seen <= limit {
            do {
                guard let chunk = try await iterator.next() else { return true }
                seen += chunk.readableBytes
            } catch {
                return false
            }
        }
        return false
    }

    static func closing(_ response: Response) -> Response {
        var response = response
        response.headers[.connection] = "close"
        return response
    }

    static func response(_ outcome: IngestOutcome, status: Int? = nil) -> Response {
        var response = json(status ?? outcome.statusCode, outcome.body)
        if let wait = outcome.retryAfter { response.headers[.retryAfter] = String(wait) }
        return response
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
