import BridgeCore
import BridgeMapping
import Foundation
import Prometheus

/// The bridge's Prometheus metrics, on a registry of its own (no global bootstrap, so tests can run
/// several bridges in one process). Labels never carry secrets or payload values.
public final class BridgeMetrics: MetricsRecorder, Sendable {
    public let registry = PrometheusCollectorRegistry()

    public init() {}

    public func webhook(source: String, outcome: String) {
        registry.makeCounter(name: "bridge_webhooks_total", labels: [("source", source), ("outcome", outcome)], help: "Webhooks received, by source and outcome").increment()
    }

    public func verificationFailure(source: String, reason: String) {
        registry.makeCounter(name: "bridge_verification_failures_total", labels: [("source", source), ("reason", reason)], help: "Webhooks refused by verification, by reason").increment()
    }

    public func recordsStored(kind: String, count: Int) {
        guard count > 0 else { return }
        registry.makeCounter(name: "bridge_records_stored_total", labels: [("kind", kind)], help: "Records stored in the outbox").increment(by: Int64(count))
    }

    public func recordsSent(kind: String, count: Int) {
        guard count > 0 else { return }
        registry.makeCounter(name: "bridge_records_sent_total", labels: [("kind", kind)], help: "Records accepted by Cloudthread").increment(by: Int64(count))
    }

    public func deadLetters(kind: String, count: Int) {
        guard count > 0 else { return }
        registry.makeCounter(name: "bridge_dead_letters_total", labels: [("kind", kind)], help: "Records moved to dead letters").increment(by: Int64(count))
    }

    public func forwardRequest(endpoint: String, result: String) {
        registry.makeCounter(name: "bridge_forward_requests_total", labels: [("endpoint", endpoint), ("result", result)], help: "Requests to Cloudthread, by endpoint and result").increment()
    }

    public func reload(result: String) {
        registry.makeCounter(name: "bridge_rule_reloads_total", labels: [("result", result)], help: "Rule reloads, by result").increment()
    }

    public func setGauge(_ name: String, _ value: Double, help: String) {
        registry.makeGauge(name: name, help: help).set(value)
    }

    public func observeWebhookDuration(_ seconds: Double) {
        registry.makeValueHistogram(name: "bridge_webhook_duration_seconds", buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], help: "Time from request to answer").record(seconds)
    }

    public func text() -> String { registry.emitToString() }
}
