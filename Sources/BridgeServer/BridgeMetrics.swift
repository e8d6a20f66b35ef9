import BridgeCore
import Foundation
import Prometheus
import Synchronization

/// The bridge's Prometheus metrics, on a registry of its own (no global bootstrap, so tests can run
/// several bridges in one process). Labels never carry secrets or payload values, and each counter is
/// created once and then found in a small cache, so counting costs one lock and one dictionary lookup.
public final class BridgeMetrics: MetricsRecorder, Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let counters = Mutex([CounterKey: Counter]())
    private let gauges = Mutex([String: Gauge]())
    private let duration: ValueHistogram

    public init() {
        duration = registry.makeValueHistogram(
            descriptor: Self.descriptor(
                "bridge_webhook_duration", unit: "seconds", help: "Time from request to answer"),
            buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5])
    }

    static func descriptor(_ name: String, unit: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: unit, helpText: help)
    }

    /// Increments `bridge_<name>_total{labels}` by `by`.
    private func count(_ name: String, _ labels: [(String, String)], help: String, by: Int = 1) {
        let key = CounterKey(name: name, labels: labels)
        let counter = counters.withLock { cache in
            if let c = cache[key] { return c }
            let c = registry.makeCounter(descriptor: Self.descriptor(name, unit: "total", help: help), labels: labels)
            cache[key] = c
            return c
        }
        counter.increment(by: Int64(by))
    }

    public func webhook(source: String, outcome: String) {
        count(
            "bridge_webhooks", [("source", source), ("outcome", outcome)],
            help: "Webhooks received, by source and outcome")
    }

    public func verificationFailure(source: String, reason: String) {
        count(
            "bridge_verification_failures", [("source", source), ("reason", reason)],
            help: "Webhooks refused by verification, by reason")
    }

    public func recordsStored(kind: String, count n: Int) {
        guard n > 0 else { return }
        count("bridge_records_stored", [("kind", kind)], help: "Records stored in the outbox", by: n)
    }

    public func recordsSent(kind: String, count n: Int) {
        guard n > 0 else { return }
        count("bridge_records_sent", [("kind", kind)], help: "Records accepted by Cloudthread", by: n)
    }

    public func deadLetters(kind: String, count n: Int) {
        guard n > 0 else { return }
        count("bridge_dead_letters", [("kind", kind)], help: "Records moved to dead letters", by: n)
    }

    public func forwardRequest(endpoint: String, result: String) {
        count(
            "bridge_forward_requests", [("endpoint", endpoint), ("result", result)],
            help: "Requests to Cloudthread, by endpoint and result")
    }

    public func reload(result: String) {
        count("bridge_rule_reloads", [("result", result)], help: "Rule reloads, by result")
    }

    public func setGauge(_ name: String, _ value: Double, help: String) {
        let gauge = gauges.withLock { cache in
            if let g = cache[name] { return g }
            let g = registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help))
            cache[name] = g
            return g
        }
        gauge.set(value)
    }

    public func observeWebhookDuration(_ seconds: Double) {
        duration.record(seconds)
    }

    public func text() -> String { registry.emitToString() }
}

/// A counter's name and labels as the cache's key: hashed field by field, where joining them into one string
/// allocated several strings on every count (three counts per webhook).
private struct CounterKey: Hashable {
    let name: String
    let labels: [(String, String)]

    static func == (a: CounterKey, b: CounterKey) -> Bool {
        a.name == b.name && a.labels.count == b.labels.count
            && zip(a.labels, b.labels).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        for (label, value) in labels {
            hasher.combine(label)
            hasher.combine(value)
        }
    }
}
