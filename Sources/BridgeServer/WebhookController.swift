import BridgeCore
import BridgeDelivery
import BridgeVerification
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `POST /hooks/{source}[/{path}]`: reads the raw body within the size limit and runs the `Ingestor`.
struct WebhookController {
    let ingestor: Ingestor
    let metrics: BridgeMetrics
    let maxBodyBytes: Int

    func addRoutes(to router: Router<BridgeRequestContext>) {
        router.post("/hooks/:source") { request, context in try await self.handle(request, context, subpath: "") }
        router.post("/hooks/:source/**") { request, context in
            try await self.handle(request, context, subpath: context.parameters.getCatchAll().joined(separator: "/"))
        }
        router.put("/hooks/:source") { request, context in try await self.handle(request, context, subpath: "") }
    }

    func handle(_ request: Request, _ context: BridgeRequestContext, subpath: String) async throws -> Response {
        let started = ContinuousClock.now
        let source = context.parameters.get("source") ?? ""
        // Refuse an oversized body before reading it when the length is declared.
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBodyBytes {
            metrics.webhook(source: source, outcome: "too_large")
            return Self.json(413, .object(["error": .string("body larger than \(maxBodyBytes) bytes")]), close: true)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBodyBytes)
        } catch is NIOTooManyBytesError {
            metrics.webhook(source: source, outcome: "too_large")
            return Self.json(413, .object(["error": .string("body larger than \(maxBodyBytes) bytes")]), close: true)
        }
        var headers = HeaderBag()
        for field in request.headers { headers.add(field.name.rawName, field.value) }
        let incoming = IncomingRequest(
            source: source, method: request.method.rawValue, path: request.uri.path,
            query: IncomingRequest.parseQuery(request.uri.query), headers: headers,
            body: Array(buffer.readableBytesView),
            clientAddress: context.remoteAddress, receivedAt: Date())
        let outcome = await ingestor.ingest(incoming, subpath: subpath)
        let elapsed = (ContinuousClock.now - started).components
        metrics.observeWebhookDuration(Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18)
        return Self.json(outcome.statusCode, outcome.body)
    }

    static func json(_ status: Int, _ body: JSONValue, close: Bool = false) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if close { headers[.connection] = "close" }
        return Response(
            status: .init(code: status), headers: headers, body: .init(byteBuffer: ByteBuffer(string: body.json + "\n"))
        )
    }
}
