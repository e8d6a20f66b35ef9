import BridgeCloudthread
import BridgeCore
import BridgeDelivery
import BridgeMapping
import BridgeStore
import BridgeVerification
import Foundation
import Hummingbird

/// The admin API under `/admin`, behind `Authorization: Bearer <BRIDGE_ADMIN_TOKEN>` (compared in constant time).
/// An address that presents 10 wrong tokens in 10 minutes is answered 429 with Retry-After (`AdminAttempts`).
struct AdminController {
    let store: any AdminStore
    let rules: RuleSet
    let token: Secret
    let dryRunClient: DryRunCloudthreadClient?
    let forwarder: Forwarder
    let refusals: RefusalLog
    let attempts: AdminAttempts

    func authorized(_ request: Request) -> Bool {
        guard let value = request.headers[.authorization], value.lowercased().hasPrefix("bearer ") else { return false }
        return Crypto.secretEquals(Array(value.dropFirst(7).utf8), token.bytes)
    }

    /// Checks the bearer token of every `/admin` route: 429 for an address over the attempt limit (before the token
    /// is looked at), 401 without the right token (a wrong one counts as an attempt).
    struct Authorization: RouterMiddleware {
        typealias Context = BridgeRequestContext
        let controller: AdminController

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
            async throws -> Response
        {
            let address = context.clientAddress
            if let wait = controller.attempts.retryAfter(address) {
                var response = WebhookController.json(
                    429,
                    .object([
                        "error": .string(
                            "Too many wrong admin tokens from this address; try again in \(wait) seconds.")
                    ]))
                response.headers[.retryAfter] = String(wait)
                return response
            }
            guard controller.authorized(request) else {
                if request.headers[.authorization] != nil { controller.attempts.noteFailure(address) }
                return WebhookController.json(401, .object(["error": .string("admin token required")]))
            }
            return try await next(request, context)
        }
    }

    /// The `limit` query parameter: `fallback` when absent, else a whole number in 1...1000; anything else is an
    /// answer (400 with a sentence) instead.
    static func limit(_ request: Request, fallback: Int) -> Result<Int, LimitError> {
        guard let text = request.uri.queryParameters.get("limit") else { return .success(fallback) }
        guard let n = Int(text), (1...1000).contains(n) else {
            return .failure(LimitError(text: String(text.prefix(40))))
        }
        return .success(n)
    }

    struct LimitError: Error {
        var text: String
        var response: Response {
            WebhookController.json(
                400,
                .object([
                    "error": .string(
                        "The limit must be a whole number from 1 to 1000; '\(text)' is not.")
                ]))
        }
    }

    static func encode<T: Encodable>(_ value: T) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let data = (try? encoder.encode(value)) ?? Data("null".utf8)
        return Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    func addRoutes(to router: Router<BridgeRequestContext>) {
        let group = router.group("/admin").add(middleware: Authorization(controller: self))
        group.get("/deliveries") { request, _ in
            let limit: Int
            switch Self.limit(request, fallback: 50) {
            case .success(let n): limit = n
            case .failure(let error): return error.response
            }
            let source = request.uri.queryParameters.get("source")
            return AdminController.encode(try await store.deliveries(limit: limit, source: source))
        }
        group.get("/deliveries/:id") { request, context in
            guard let id = context.parameters.get("id", as: Int64.self), let d = try await store.delivery(id: id) else {
                return WebhookController.json(404, .object(["error": .string("no such delivery")]))
            }
            return AdminController.encode(d)
        }
        group.get("/dead-letters") { request, _ in
            switch Self.limit(request, fallback: 100) {
            case .success(let limit): return AdminController.encode(try await store.deadLetters(limit: limit))
            case .failure(let error): return error.response
            }
        }
        group.post("/dead-letters/replay") { request, _ in
            let ids = request.uri.queryParameters.get("id").map { $0.split(separator: ",").compactMap { Int64($0) } }
            let n = try await store.replayDeadLetters(ids, now: Date())
            return WebhookController.json(200, .object(["replayed": .number(Double(n))]))
        }
        group.get("/outbox") { request, _ in
            return AdminController.encode(try await store.stats(now: Date()))
        }
        group.get("/sources") { request, _ in
            let list = rules.snapshot.sources.values.sorted { $0.name < $1.name }.map { s in
                [
                    "source": s.name, "file": s.file, "preset": s.preset ?? "",
                    "status": s.disabledReason.map { "disabled: \($0)" } ?? "enabled", "rules": "\(s.rules.count)",
                ]
            }
            return AdminController.encode(list)
        }
        group.get("/refusals") { request, _ in
            let limit: Int
            switch Self.limit(request, fallback: 100) {
            case .success(let n): limit = min(n, refusals.capacity)
            case .failure(let error): return error.response
            }
            return AdminController.encode(
                refusals.recent(limit: limit, source: request.uri.queryParameters.get("source")))
        }
        group.get("/forwarder") { request, _ in
            let state: [String: String] = [
                "state": forwarder.isPaused ? "paused" : "running",
                "last_error": forwarder.lastError ?? "",
            ]
            return AdminController.encode(state)
        }
        group.get("/dry-run") { request, _ in
            let sent = dryRunClient?.sent.map { ["path": $0.path, "body": $0.body] } ?? []
            return AdminController.encode(sent)
        }
    }
}
