import BridgeCore
import BridgeMapping
import BridgeStore
import BridgeVerification
import Foundation
import Logging
import Synchronization

/// The path of one webhook, HTTP-free: source → verify → parse and map → store. `BridgeServer` turns the
/// outcome into a response; the CLI and tests call it directly.
public final class Ingestor: Sendable {
    public let rules: RuleSet
    let store: any IngestStore
    let mapper: Mapper
    let metrics: any MetricsRecorder
    let logger: Logger
    /// Refused webhooks, in memory only (no disk write per forgery).
    public let refusals: RefusalLog
    /// Addresses that send too many refused webhooks are answered 429 for a while.
    public let limiter: RefusalLimiter
    /// Observations for hours older than this are refused: their aggregate is no longer kept, so the value sent
    /// would replace Cloudthread's full total with a partial one.
    let aggregateRetention: TimeInterval
    /// How long dedupe keys are kept (`BRIDGE_RETENTION_DAYS`): an SNS message signed longer ago than this could
    /// no longer be recognised as a replay, so it is refused.
    let dedupeWindow: TimeInterval
    let onStored: @Sendable () -> Void
    /// At most 20 refusal log lines a minute; the refusal log and the counters see every refusal.
    let refusalLogLines = LogSampler(limitPerMinute: 20)
    /// Amazon SNS signing certificates (pre-seeded, cached, fetched); nil when no SNS source can be verified.
    let snsCertificates: SNSCertificateCache?
    /// Google's OIDC signing keys, for Pub/Sub push tokens; nil when no Pub/Sub source can be verified.
    let googleKeys: JWKSKeyCache?
    /// Microsoft Entra ID tenants' signing keys, for Event Grid tokens; nil when no such source can be verified.
    let entraKeys: JWKSDirectory?
    /// Visits an SNS SubscribeURL (for `confirm_subscriptions: true`).
    let visit: (@Sendable (URL) async throws -> Void)?
    private let confirmed = Mutex(Set<String>())

    public init(
        rules: RuleSet, store: any IngestStore, mapper: Mapper, metrics: any MetricsRecorder, logger: Logger,
        refusals: RefusalLog = RefusalLog(), limiter: RefusalLimiter = RefusalLimiter(limitPerMinute: 0),
        aggregateRetention: TimeInterval = 35 * 86400, dedupeWindow: TimeInterval = 30 * 86400,
        snsCertificates: SNSCertificateCache? = nil, googleKeys: JWKSKeyCache? = nil,
        entraKeys: JWKSDirectory? = nil,
        visit: (@Sendable (URL) async throws -> Void)? = nil, onStored: @escaping @Sendable () -> Void = {}
    ) {
        self.snsCertificates = snsCertificates
        self.googleKeys = googleKeys
        self.entraKeys = entraKeys
        self.visit = visit
        self.rules = rules
        self.store = store
        self.mapper = mapper
        self.metrics = metrics
        self.logger = logger
        self.refusals = refusals
        self.limiter = limiter
        self.aggregateRetention = aggregateRetention
        self.dedupeWindow = dedupeWindow
        self.onStored = onStored
    }

    static func error(_ kind: IngestOutcome.Kind, _ message: String, retryAfter: Int? = nil) -> IngestOutcome {
        IngestOutcome(kind, body: .object(["error": .string(message)]), retryAfter: retryAfter)
    }

    /// What the edge answers before reading the body: 404 for an unknown source, 503 for a disabled one, 429 for
    /// an address over the refusal limit; nil when the webhook may proceed.
    public func precheck(source name: String, clientAddress: String?) -> IngestOutcome? {
        guard let source = rules.source(name) else {
            metrics.webhook(source: "unknown", outcome: IngestOutcome.Kind.unknownSource.rawValue)
            return Ingestor.error(.unknownSource, "unknown source")
        }
        guard source.verifier != nil, source.disabledReason == nil else {
            metrics.webhook(source: source.name, outcome: IngestOutcome.Kind.disabled.rawValue)
            return Ingestor.error(.disabled, "source '\(source.name)' is not configured on this bridge")
        }
        if let wait = limiter.retryAfter(clientAddress) {
            metrics.webhook(source: source.name, outcome: IngestOutcome.Kind.rateLimited.rawValue)
            return Ingestor.error(.rateLimited, "too many refused webhooks from this address", retryAfter: wait)
        }
        return nil
    }

    /// Runs the pipeline for one request whose body is complete.
    public func ingest(_ request: IncomingRequest, subpath: String = "") async -> IngestOutcome {
        if let early = precheck(source: request.source, clientAddress: request.clientAddress) { return early }
        guard let source = rules.source(request.source), let verifier = source.verifier else {
            return Ingestor.error(.unknownSource, "unknown source")
        }
        var logger = self.logger
        logger[metadataKey: "webhook.source"] = .string(source.name)
        let outcome = await process(request, source: source, verifier: verifier, subpath: subpath, logger: logger)
        metrics.webhook(source: source.name, outcome: outcome.label)
        return outcome
    }

    private func refuse(
        _ request: IncomingRequest, source: SourceDefinition, kind: IngestOutcome.Kind, reason: String,
        detail: String, message: String, countsTowardLimit: Bool, logger: Logger
    ) -> IngestOutcome {
        let (log, suppressed) = refusalLogLines.admit(now: request.receivedAt)
        if suppressed > 0 {
            logger.warning(
                "\(suppressed) more refused webhooks in the last minute were not logged (see /admin/refusals)")
        }
        if log {
            logger.warning(
                "webhook refused: \(detail)",
                metadata: ["webhook.refusal": "\(reason)", "client.address": "\(request.clientAddress ?? "-")"])
        }
        refusals.append(
            .init(
                at: request.receivedAt, source: source.name, reason: reason, detail: detail,
                clientAddress: request.clientAddress, status: kind.statusCode))
        // Only a failed verification counts toward the limit: a verified sender's malformed body is its own bug,
        // and answering its next valid webhook 429 would lose it.
        if countsTowardLimit { limiter.noteRefusal(request.clientAddress, now: request.receivedAt) }
        return Ingestor.error(kind, message)
    }

    private func process(
        _ request: IncomingRequest, source: SourceDefinition, verifier: SignatureVerifier, subpath: String,
        logger: Logger
    ) async -> IngestOutcome {
        var logger = logger
        // The id the provider signed (SNS MessageId): the dedupe key, whatever the unsigned headers say.
        var signedId: String?
        do {
            if case .awsSNS(_, let confirm) = verifier.scheme {
                guard let snsCertificates else {
                    throw VerificationError(.certificateUnavailable, "no SNS certificate store is configured")
                }
                let message = try await verifier.verifySNS(request, certificates: snsCertificates)
                if message.type != .notification {
                    return await acknowledge(message, source: source, confirm: confirm, logger: logger)
                }
                // A captured notification must not be replayable once its dedupe key has been pruned.
                guard let signedAt = TimeParsing.parse(message.timestamp),
                    request.receivedAt.timeIntervalSince(signedAt) <= dedupeWindow
                else {
                    throw VerificationError(
                        .staleTimestamp,
                        "the SNS message's signed Timestamp '\(message.timestamp)' is older than the "
                            + "\(Int(dedupeWindow / 86400)) days its id is remembered for")
                }
                signedId = message.messageId
            } else if case .gcpPubSub = verifier.scheme {
                guard let googleKeys else {
                    throw VerificationError(.signingKeysUnavailable, "no store of Google's signing keys is configured")
                }
                // The token authenticates the sender; the messageId (kept across Pub/Sub redeliveries) is the key.
                try await verifier.verifyPubSub(request, keys: googleKeys, now: request.receivedAt)
                do {
                    signedId = try PubSubPush.parse(request.body).messageId
                } catch {
                    let text = (error as? VerificationError)?.detail ?? "the body is not a Pub/Sub push envelope"
                    return refuse(
                        request, source: source, kind: .badRequest, reason: "malformed_body", detail: text,
                        message: text, countsTowardLimit: false, logger: logger)
                }
            } else if case .azureEventGrid(let auth) = verifier.scheme {
                if auth.usesEntraID {
                    guard let entraKeys, let url = auth.keysURL else {
                        throw VerificationError(
                            .signingKeysUnavailable, "no store of Entra ID signing keys is configured")
                    }
                    try await verifier.verifyEventGridToken(
                        request, keys: try await entraKeys.keys(at: url), now: request.receivedAt)
                } else {
                    try verifier.verify(request)
                }
                switch Result(catching: { try EventGridDelivery.parse(request.body) }) {
                case .success(.validation(let code)):
                    logger.notice("Event Grid subscription validated")
                    return IngestOutcome(.acknowledged, body: .object(["validationResponse": .string(code)]))
                case .success(.events(let ids)):
                    // The delivery's key: its event ids (each event is also de-duplicated by the rules' dedupe_key).
                    signedId = "eventgrid:" + ByteEncoding.hex(Crypto.sha256(Array(ids.joined(separator: "\n").utf8)))
                case .failure(let error):
                    let text = (error as? VerificationError)?.detail ?? "the body is not Event Grid events"
                    return refuse(
                        request, source: source, kind: .badRequest, reason: "malformed_body", detail: text,
                        message: text, countsTowardLimit: false, logger: logger)
                }
            } else {
                try verifier.verify(request)
            }
        } catch {
            let error = error as? VerificationError ?? VerificationError(.badSignature, "verification failed")
            let reason = error.reason
            metrics.verificationFailure(source: source.name, reason: reason.rawValue)
            if reason == .certificateUnavailable || reason == .certificateBudgetSpent {
                logger.warning("SNS signing certificate unavailable; answering 503 so SNS retries: \(error.detail)")
                // A certificate that could not be fetched counts against the client that named it, so a flood of
                // made-up certificate URLs is limited like forgeries; a spent fetch budget is not its doing.
                if reason == .certificateUnavailable {
                    limiter.noteRefusal(request.clientAddress, now: request.receivedAt)
                    refusals.append(
                        .init(
                            at: request.receivedAt, source: source.name, reason: reason.rawValue,
                            detail: error.detail, clientAddress: request.clientAddress, status: 503))
                }
                return Ingestor.error(
                    .unavailable, "the signing certificate cannot be checked right now", retryAfter: 30)
            }
            if reason == .signingKeysUnavailable {
                // Not the client's doing (the key fetch is limited to one a minute whoever asks): the sender retries.
                logger.warning("signing keys unavailable; answering 503 so the sender retries: \(error.detail)")
                return Ingestor.error(.unavailable, "the signing keys cannot be had right now", retryAfter: 30)
            }
            let forbidden = reason == .addressNotAllowed || reason == .topicNotAllowed
            return refuse(
                request, source: source, kind: forbidden ? .forbidden : .unauthorized, reason: reason.rawValue,
                detail: error.detail,
                message: forbidden ? "client address not allowed" : "signature verification failed",
                countsTowardLimit: true, logger: logger)
        }

        let headerKey = source.dedupe.header.flatMap { request.headers[$0] }.flatMap { $0.isEmpty ? nil : $0 }
        if let headerKey { logger[metadataKey: "webhook.delivery_id"] = .string(headerKey) }

        var result: MappingResult
        do {
            result = try mapper.map(request, source: source, subpath: subpath)
        } catch {
            let text = (error as? MappingError)?.description ?? "the body cannot be mapped"
            return refuse(
                request, source: source, kind: .badRequest, reason: "malformed_body", detail: text, message: text,
                countsTowardLimit: false, logger: logger)
        }
        refuseHoursPastRetention(&result, receivedAt: request.receivedAt)

        // Split once (each of `MappingResult.events` and `.metrics` builds an array).
        var producedEvents: [EventRecord] = []
        var producedMetrics: [MetricObservation] = []
        for record in result.records {
            switch record {
            case .event(let e): producedEvents.append(e)
            case .metric(let m): producedMetrics.append(m)
            }
        }
        let status: NewDelivery.Status
        if !result.records.isEmpty {
            status = .accepted
        } else if !result.explanation.rejected.isEmpty {
            status = .rejected
        } else {
            status = .ignored
        }
        let kind: IngestOutcome.Kind = status == .accepted ? .accepted : status == .rejected ? .rejected : .ignored
        // Ignored and rejected deliveries do not take the dedupe key, so a redelivery after a rule fix is processed.
        let key: String?
        if status != .accepted {
            key = nil
        } else if let signedId {
            key = signedId
        } else if source.dedupe.body {
            // `dedupe: body`: a byte-identical body is a replay, whatever its (unsigned) delivery id.
            key = "sha256:" + ByteEncoding.hex(Crypto.sha256(request.body))
        } else {
            key = headerKey ?? result.contentKey
        }
        let delivery = NewDelivery(
            source: source.name, deliveryKey: key, receivedAt: request.receivedAt, status: status,
            events: producedEvents, metrics: producedMetrics, followUps: result.followUps,
            explanation: result.explanation,
            httpStatus: kind.statusCode,
            request: StoredRequest(
                clientAddress: request.clientAddress,
                headers: Ingestor.maskingCredentials(request.headers, of: verifier.scheme), body: request.body))
        let stored: RecordResult
        do {
            stored = try await store.record(delivery)
        } catch {
            logger.error(
                "store cannot take the webhook; answering 503 so the sender retries", metadata: ["error": "\(error)"])
            return Ingestor.error(
                .unavailable, "the bridge cannot store webhooks right now; retry later", retryAfter: 5)
        }
        switch stored {
        case .duplicate(let original):
            logger.info("duplicate delivery ignored", metadata: ["webhook.original_delivery": "\(original)"])
            return IngestOutcome(
                .duplicate,
                body: .object(["outcome": .string("duplicate"), "delivery": .number(Double(original))]))
        case .stored(let id, let storedEvents, let storedMetrics):
            // Only the lines below read it: rejections (warning) and the outcome (info). A logger above info
            // with nothing rejected would build it for nothing on every webhook.
            if logger.logLevel <= .info || !result.explanation.rejected.isEmpty {
                logger[metadataKey: "webhook.delivery"] = .string(String(id))
            }
            for r in result.explanation.rejected {
                logger.warning(
                    "output rejected at mapping time", metadata: ["rule.name": "\(r.rule)", "reason": "\(r.reason)"])
            }
            switch status {
            case .accepted:
                metrics.recordsStored(kind: OutboxKind.event.rawValue, count: storedEvents)
                metrics.recordsStored(kind: OutboxKind.metric.rawValue, count: storedMetrics)
                onStored()
                let skipped = producedEvents.count + producedMetrics.count - storedEvents - storedMetrics
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

    /// SNS SubscriptionConfirmation / UnsubscribeConfirmation (already verified): logged, and with
    /// `confirm_subscriptions: true` the SubscribeURL (checked to be an SNS host over HTTPS) is visited once.
    private func acknowledge(
        _ message: SNSMessage, source: SourceDefinition, confirm: Bool, logger: Logger
    ) async -> IngestOutcome {
        let topic = message.topicArn
        guard message.type == .subscriptionConfirmation, let subscribeURL = message.subscribeURL else {
            logger.notice("SNS unsubscribe confirmation received", metadata: ["sns.topic": "\(topic)"])
            return IngestOutcome(.acknowledged, body: .object(["outcome": .string("unsubscribe confirmation noted")]))
        }
        guard case .success(let validated) = SNSCertificateURL.validateSubscribeURL(subscribeURL) else {
            logger.warning("SNS SubscribeURL refused: not an SNS host over HTTPS", metadata: ["sns.topic": "\(topic)"])
            return IngestOutcome(.acknowledged, body: .object(["outcome": .string("subscription not confirmed")]))
        }
        guard confirm, let visit else {
            logger.notice(
                "SNS subscription to confirm: open the SubscribeURL, or set confirm_subscriptions: true",
                metadata: ["sns.topic": "\(topic)", "sns.subscribe_url": "\(validated.string)"])
            return IngestOutcome(
                .acknowledged, body: .object(["outcome": .string("subscription confirmation logged for the operator")]))
        }
        let first = confirmed.withLock { $0.insert(validated.string).inserted }
        if first {
            do {
                try await visit(validated.url)
                logger.notice("SNS subscription confirmed", metadata: ["sns.topic": "\(topic)"])
            } catch {
                confirmed.withLock { _ = $0.remove(validated.string) }
                logger.error(
                    "SNS subscription could not be confirmed; SNS will send the confirmation again",
                    metadata: ["sns.topic": "\(topic)", "error": "\(error)"])
                return Ingestor.error(.unavailable, "the subscription could not be confirmed", retryAfter: 30)
            }
        }
        return IngestOutcome(.acknowledged, body: .object(["outcome": .string("subscription confirmed")]))
    }

    /// Moves observations for hours older than the kept aggregates to the rejections.
    private func refuseHoursPastRetention(_ result: inout MappingResult, receivedAt: Date) {
        let oldest = receivedAt.addingTimeInterval(-aggregateRetention).addingTimeInterval(3600)
        func past(_ record: OutputRecord) -> Bool {
            if case .metric(let m) = record, let hour = TimeParsing.parse(m.hour), hour < oldest { return true }
            return false
        }
        // Nearly always nothing is refused: the records are then left as they are, without a copy.
        guard result.records.contains(where: past) else { return }
        var kept: [OutputRecord] = []
        for record in result.records {
            if case .metric(let m) = record, let hour = TimeParsing.parse(m.hour), hour < oldest {
                result.explanation.rejected.append(
                    .init(
                        rule: m.rule,
                        reason:
                            "metric '\(m.name)' is for the hour \(m.hour), older than the "
                            + "\(Int(aggregateRetention / 86400)) "
                            + "days of aggregates kept: its total is no longer known, and sending a partial one would "
                            + "replace Cloudthread's full value"))
                continue
            }
            kept.append(record)
        }
        result.records = kept
    }

    /// The request's headers with the values of the headers the source verifies with masked, whatever their names
    /// (`StoredRequest` masks the ones whose names say they are secret).
    /// Names are compared ignoring case byte by byte (`ASCIICase.equals`), as lowercasing both would, without a
    /// lowercased copy of every header name.
    static func maskingCredentials(_ headers: HeaderBag, of scheme: VerificationScheme) -> [(String, String)] {
        let credentials = scheme.credentialHeaders
        return headers.fields.map { field in
            let secret = credentials.contains { ASCIICase.equals($0, field.name) }
            return (field.name, secret ? StoredRequest.mask : field.value)
        }
    }

    static func rejections(_ e: Explanation) -> JSONValue {
        .array(e.rejected.map { .object(["rule": .string($0.rule), "reason": .string($0.reason)]) })
    }
}
