import BridgeCore
import BridgeMapping
import BridgeVerification
import Foundation
import Logging

/// The path of one webhook, HTTP-free: source → verify → parse and map → store. `Server/` turns the
/// outcome into a response; the CLI and tests call it directly.
public final class Ingestor: Sendable {
    public let rules: RuleSet
    let store: any DeliveryStore
    let mapper: Mapper
    let metrics: any MetricsRecorder
    let logger: Logger
    let onStored: @Sendable () -> Void

    public init(
        rules: RuleSet, store: any DeliveryStore, mapper: Mapper, metrics: any MetricsRecorder, logger: Logger,
        onStored: @escaping @Sendable () -> Void = {}
    ) {
        self.rules = rules
        self.store = store
        self.mapper = mapper
        self.metrics = metrics
        self.logger = logger
        self.onStored = onStored
    }

    static func error(_ kind: IngestOutcome.Kind, _ message: String) -> IngestOutcome {
        IngestOutcome(kind, body: .object(["error": .string(message)]))
    }

    /// Runs the pipeline for one request whose body is complete.
    public func ingest(_ request: IncomingRequest, subpath: String = "") async -> IngestOutcome {
        var logger = self.logger
        logger[metadataKey: "webhook.source"] = .string(request.source)
        guard let source = rules.source(request.source) else {
            metrics.webhook(source: "unknown", outcome: "unknown_source")
            return Ingestor.error(.unknownSource, "unknown source '\(request.source)'")
        }
        guard let verifier = source.verifier, source.disabledReason == nil else {
            logger.warning(
                "webhook for a disabled source", metadata: ["reason": "\(source.disabledReason ?? "no verification")"])
            metrics.webhook(source: source.name, outcome: "disabled")
            return Ingestor.error(.disabled, "source '\(source.name)' is not configured on this bridge")
        }
        let outcome = await process(request, source: source, verifier: verifier, subpath: subpath, logger: logger)
        metrics.webhook(source: source.name, outcome: outcome.label)
        return outcome
    }

    private func process(
        _ request: IncomingRequest, source: SourceDefinition, verifier: SignatureVerifier, subpath: String,
        logger: Logger
    ) async -> IngestOutcome {
        var logger = logger
        do {
            try verifier.verify(request)
        } catch let error as VerificationError {
            logger.warning(
                "webhook refused: \(error.detail)",
                metadata: [
                    "webhook.refusal": "\(error.reason.rawValue)", "client.address": "\(request.clientAddress ?? "-")",
                ])
            metrics.verificationFailure(source: source.name, reason: error.reason.rawValue)
            var explanation = Explanation(source: source.name)
            explanation.notes.append("refused: \(error.detail)")
            let status = error.reason == .addressNotAllowed ? 403 : 401
            await keepRefusal(request, source: source, status: status, explanation: explanation)
            return status == 403
                ? Ingestor.error(.forbidden, "client address not allowed")
                : Ingestor.error(.unauthorized, "signature verification failed")
        } catch {
            return Ingestor.error(.unauthorized, "signature verification failed")
        }

        let headerKey = source.dedupe.header.flatMap { request.headers[$0] }.flatMap { $0.isEmpty ? nil : $0 }
        if let headerKey { logger[metadataKey: "webhook.delivery_id"] = .string(headerKey) }

        let result: MappingResult
        do {
            result = try mapper.map(request, source: source, subpath: subpath)
        } catch let error as MappingError {
            logger.warning("webhook body refused: \(error)")
            var explanation = Explanation(source: source.name)
            explanation.notes.append("refused: \(error)")
            await keepRefusal(request, source: source, status: 400, explanation: explanation)
            return Ingestor.error(.badRequest, "\(error)")
        } catch {
            return Ingestor.error(.badRequest, "the body cannot be mapped")
        }

        let status: NewDelivery.Status
        let httpStatus: Int
        if !result.records.isEmpty {
            status = .accepted
            httpStatus = 202
        } else if !result.explanation.rejected.isEmpty {
            status = .rejected
            httpStatus = 422
        } else {
            status = .ignored
            httpStatus = 202
        }
        // Ignored and rejected deliveries do not take the dedupe key, so a redelivery after a rule fix is processed.
        let key = status == .accepted ? (headerKey ?? result.contentKey) : nil
        let delivery = NewDelivery(
            source: source.name, deliveryKey: key, receivedAt: request.receivedAt, status: status,
            events: result.events,
            metrics: result.metrics, explanation: result.explanation, httpStatus: httpStatus)
        let stored: RecordResult
        do {
            stored = try await store.record(delivery)
        } catch {
            logger.error(
                "store cannot take the webhook; answering 503 so the sender retries", metadata: ["error": "\(error)"])
            return Ingestor.error(.unavailable, "the bridge cannot store webhooks right now; retry later")
        }
        switch stored {
        case .duplicate(let original):
            logger.info("duplicate delivery ignored", metadata: ["webhook.original_delivery": "\(original)"])
            return IngestOutcome(
                .duplicate, body: .object(["outcome": .string("duplicate"), "delivery": .number(Double(original))]))
        case .stored(let id, let storedEvents, let storedMetrics):
            logger[metadataKey: "webhook.delivery"] = "\(id)"
            for r in result.explanation.rejected {
                logger.warning(
                    "output rejected at mapping time", metadata: ["rule.name": "\(r.rule)", "reason": "\(r.reason)"])
            }
            switch status {
            case .accepted:
                metrics.recordsStored(kind: "event", count: storedEvents)
                metrics.recordsStored(kind: "metric", count: storedMetrics)
                onStored()
                let skipped = result.events.count + result.metrics.count - storedEvents - storedMetrics
                logger.info(
                    "webhook accepted",
                    metadata: [
                        "webhook.events": "\(storedEvents)", "webhook.metrics": "\(storedMetrics)",
                        "webhook.already_seen": "\(skipped)",
                    ])
                var body: [String: JSONValue] = [
                    "delivery": .number(Double(id)), "events": .number(Double(storedEvents)),
                    "metrics": .number(Double(storedMetrics)),
                ]
                if skipped > 0 { body["already_seen"] = .number(Double(skipped)) }
                if !result.explanation.rejected.isEmpty { body["rejected"] = Ingestor.rejections(result.explanation) }
                return IngestOutcome(.accepted, body: .object(body))
            case .rejected:
                return IngestOutcome(
                    .rejected,
                    body: .object([
                        "error": .string("no output of this webhook is valid for Cloudthread"),
                        "delivery": .number(Double(id)), "rejected": Ingestor.rejections(result.explanation),
                    ]))
            default:
                logger.info(
                    "webhook ignored: no rule matched", metadata: ["webhook.why": "\(result.explanation.summary)"])
                return IngestOutcome(
                    .ignored, body: .object(["outcome": .string("ignored"), "delivery": .number(Double(id))]))
            }
        }
    }

    static func rejections(_ e: Explanation) -> JSONValue {
        .array(e.rejected.map { .object(["rule": .string($0.rule), "reason": .string($0.reason)]) })
    }

    /// Keeps a refused webhook's reason for lookup; a store failure here is only logged.
    private func keepRefusal(
        _ request: IncomingRequest, source: SourceDefinition, status: Int, explanation: Explanation
    ) async {
        let d = NewDelivery(
            source: source.name, deliveryKey: nil, receivedAt: request.receivedAt, status: .refused,
            explanation: explanation, httpStatus: status)
        do { _ = try await store.record(d) } catch {
            logger.debug("could not keep the refusal", metadata: ["error": "\(error)"])
        }
    }
}
