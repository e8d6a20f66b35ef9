import BridgeCloudthread
import BridgeCore
import BridgeDelivery
import BridgeMapping
import BridgeVerification
import Foundation
import Hummingbird

/// `GET /healthz`, `GET /readyz`, `GET /metrics`.
struct HealthController {
    let store: SQLiteDeliveryStore
    let forwarder: Forwarder
    let rules: RuleSet
    let metrics: BridgeMetrics
    let dryRun: Bool

    func addRoutes(to router: Router<BridgeRequestContext>) {
        router.get("/healthz") { _, _ in
            WebhookController.json(200, .object(["status": .string("alive")]))
        }
        router.get("/readyz") { _, _ in
            let writable = await store.isWritable()
            let paused = forwarder.isPaused
            let snapshot = rules.snapshot
            let ready = writable && !paused
            var checks: [String: JSONValue] = [
                "store": .string(writable ? "writable" : "not writable"),
                "rules": .string("\(snapshot.sources.count) sources loaded"),
                "cloudthread": .string(dryRun ? "dry run (no API key)" : paused ? "API key refused: forwarding paused" : "ok"),
            ]
            if let last = forwarder.lastError { checks["last_error"] = .string(last) }
            return WebhookController.json(ready ? 200 : 503, .object(["ready": .bool(ready), "checks": .object(checks)]))
        }
        router.get("/metrics") { _, _ in
            if let stats = try? await store.stats(now: Date()) {
                metrics.setGauge("bridge_outbox_pending", Double(stats.pending + stats.inflight), help: "Records waiting to be sent")
                metrics.setGauge("bridge_outbox_dead", Double(stats.dead), help: "Records in dead letters")
                metrics.setGauge("bridge_outbox_oldest_pending_seconds", stats.oldestPendingAge, help: "Age of the oldest record waiting to be sent")
            }
            metrics.setGauge("bridge_forwarder_paused", forwarder.isPaused ? 1 : 0, help: "1 while Cloudthread refuses the API key")
            metrics.setGauge("bridge_sources", Double(rules.snapshot.sources.count), help: "Sources loaded")
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(string: metrics.text())))
        }
    }
}

/// The admin API under `/admin`, behind `Authorization: Bearer <BRIDGE_ADMIN_TOKEN>` (compared in constant time).
struct AdminController {
    let store: SQLiteDeliveryStore
    let rules: RuleSet
    let token: Secret
    let dryRunClient: DryRunCloudthreadClient?

    func authorized(_ request: Request) -> Bool {
        guard let value = request.headers[.authorization], value.lowercased().hasPrefix("bearer ") else { return false }
        return Crypto.constantTimeEquals(Array(value.dropFirst(7).utf8), token.bytes)
    }

    static func encode<T: Encodable>(_ value: T) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let data = (try? encoder.encode(value)) ?? Data("null".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    func addRoutes(to router: Router<BridgeRequestContext>) {
        let group = router.group("/admin")
        let unauthorized = WebhookController.json(401, .object(["error": .string("admin token required")]))
        group.get("/deliveries") { request, _ in
            guard authorized(request) else { return unauthorized }
            let limit = request.uri.queryParameters.get("limit", as: Int.self) ?? 50
            let source = request.uri.queryParameters.get("source")
            return AdminController.encode(try await store.deliveries(limit: min(limit, 1000), source: source))
        }
        group.get("/deliveries/:id") { request, context in
            guard authorized(request) else { return unauthorized }
            guard let id = context.parameters.get("id", as: Int64.self), let d = try await store.delivery(id: id) else {
                return WebhookController.json(404, .object(["error": .string("no such delivery")]))
            }
            return AdminController.encode(d)
        }
        group.get("/dead-letters") { request, _ in
            guard authorized(request) else { return unauthorized }
            return AdminController.encode(try await store.deadLetters(limit: request.uri.queryParameters.get("limit", as: Int.self) ?? 100))
        }
        group.post("/dead-letters/replay") { request, _ in
            guard authorized(request) else { return unauthorized }
            let ids = request.uri.queryParameters.get("id").map { $0.split(separator: ",").compactMap { Int64($0) } }
            let n = try await store.replayDeadLetters(ids, now: Date())
            return WebhookController.json(200, .object(["replayed": .number(Double(n))]))
        }
        group.get("/outbox") { request, _ in
            guard authorized(request) else { return unauthorized }
            return AdminController.encode(try await store.stats(now: Date()))
        }
        group.get("/sources") { request, _ in
            guard authorized(request) else { return unauthorized }
            let list = rules.snapshot.sources.values.sorted { $0.name < $1.name }.map { s in
                ["source": s.name, "file": s.file, "preset": s.preset ?? "", "status": s.disabledReason.map { "disabled: \($0)" } ?? "enabled", "rules": "\(s.rules.count)"]
            }
            return AdminController.encode(list)
        }
        group.get("/dry-run") { request, _ in
            guard authorized(request) else { return unauthorized }
            let sent = dryRunClient?.sent.map { ["path": $0.path, "body": $0.body] } ?? []
            return AdminController.encode(sent)
        }
    }
}
