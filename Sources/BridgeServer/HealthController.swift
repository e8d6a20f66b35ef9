import BridgeCloudthread
import BridgeCore
import BridgeDelivery
import BridgeMapping
import BridgeStore
import BridgeVerification
import Foundation
import Hummingbird
import Synchronization

/// `GET /healthz`, `GET /readyz`, `GET /metrics`.
struct HealthController {
    let store: any HealthStore
    let forwarder: Forwarder
    let rules: RuleSet
    let metrics: BridgeMetrics
    let dryRun: Bool
    /// The store's counts on `/metrics` are read at most once per this interval; scrapes in between show the
    /// last values, so a scraper (or many) cannot make the bridge query the store on every request.
    let statsReads = ReadInterval(.seconds(5))

    func addRoutes(to router: Router<BridgeRequestContext>) {
        router.get("/healthz") { _, _ in
            WebhookController.json(200, .object(["status": .string("alive")]))
        }
        // Ready while webhooks can be stored: a refused API key or an unreachable Cloudthread only delays
        // delivery, so they show in /metrics, the logs and the admin API, not here. Cheap: no database lock.
        router.get("/readyz") { _, _ in
            let writable = await store.isWritable()
            let snapshot = rules.snapshot
            let ready = writable && !snapshot.sources.isEmpty
            let forwarding: String =
                dryRun ? "dry run (no API key)" : forwarder.isPaused ? "paused: API key refused" : "running"
            let checks: [String: JSONValue] = [
                "store": .string(writable ? "writable" : "not writable"),
                "rules": .string("\(snapshot.sources.count) sources loaded"),
                "forwarding": .string(forwarding),
            ]
            var response = WebhookController.json(
                ready ? 200 : 503, .object(["ready": .bool(ready), "checks": .object(checks)]))
            if !ready { response.headers[.retryAfter] = "5" }
            return response
        }
        router.get("/metrics") { _, _ in
            if statsReads.claim(), let stats = try? await store.stats(now: Date()) {
                metrics.setGauge(
                    "bridge_outbox_pending", Double(stats.pending + stats.inflight), help: "Records waiting to be sent")
                metrics.setGauge("bridge_outbox_dead", Double(stats.dead), help: "Records in dead letters")
                metrics.setGauge(
                    "bridge_outbox_oldest_pending_seconds", stats.oldestPendingAge,
                    help: "Age of the oldest record waiting to be sent")
                metrics.setGauge(
                    "bridge_cost_followups_scheduled", Double(stats.scheduled),
                    help: "Cost follow-ups stored and not due yet")
            }
            metrics.setGauge(
                "bridge_forwarder_paused", forwarder.isPaused ? 1 : 0, help: "1 while Cloudthread refuses the API key")
            metrics.setGauge("bridge_sources", Double(rules.snapshot.sources.count), help: "Sources loaded")
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: metrics.text())))
        }
    }
}

/// Lets one caller at a time through per interval: the first after the interval has passed gets true.
final class ReadInterval: Sendable {
    let interval: Duration
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    init(_ interval: Duration) { self.interval = interval }

    func claim(now: ContinuousClock.Instant = .now) -> Bool {
        last.withLock { last in
            if let last, now - last < interval { return false }
            last = now
            return true
        }
    }
}
