import BridgeCore
import BridgeMapping
import BridgeStore
import BridgeVerification
import Foundation

/// Deliveries the bridge fetched itself (`backfill`): rebuilt from a provider's API, mapped by the source's rules
/// exactly as a webhook (conditions, templates, teams, cost impact, item dedupe keys, the hours of aggregates kept),
/// skipping only the signature, which such a delivery does not have.
extension Ingestor {
    /// What became of one fetched delivery.
    public struct FetchedOutcome: Sendable {
        public enum Kind: String, Sendable {
            /// Stored with its records.
            case stored
            /// Its key, or every one of its items, was stored before (an earlier backfill, a live webhook).
            case duplicate
            /// No rule matched: not stored (a run stores it again as nothing, so later runs stay empty).
            case ignored
            /// A rule matched but no output is valid for Cloudthread, or the body cannot be mapped: not stored.
            case unmapped
            /// The store cannot take it now.
            case unavailable
        }

        public var kind: Kind
        public var deliveryID: Int64?
        public var events = 0
        public var metrics = 0
        /// Outputs left out because their item was stored before.
        public var alreadySeen = 0
        /// Why outputs were rejected (a rule's name and a sentence), or why nothing matched.
        public var reasons: [String] = []
    }

    /// Maps `request` through its source's rules and stores it under `deliveryKey` when a rule accepted it. Unlike a
    /// webhook, an ignored or rejected delivery is not stored, so running a backfill again stores nothing new.
    ///
    /// Observations for hours older than the aggregates kept are refused, as for a webhook, except for the hours in
    /// `fullHours`: hours the caller reads whole and no live webhook reached the bridge in, whose aggregate is then
    /// the hour's full value (`BackfillPolicy`).
    public func ingestFetched(
        _ request: IncomingRequest, deliveryKey: String, fullHours: Range<Date>? = nil
    ) async -> FetchedOutcome {
        guard let source = rules.source(request.source) else {
            return FetchedOutcome(kind: .unmapped, reasons: ["there is no source '\(request.source)'"])
        }
        var result: MappingResult
        do {
            result = try mapper.map(request, source: source, subpath: "")
        } catch {
            let text = (error as? MappingError)?.description ?? "the body cannot be mapped"
            return FetchedOutcome(kind: .unmapped, reasons: [text])
        }
        refuseOldHours(&result, receivedAt: request.receivedAt, except: fullHours)
        let reasons = result.explanation.rejected.map { "rule '\($0.rule)': \($0.reason)" }
        guard !result.records.isEmpty else {
            if !reasons.isEmpty { return FetchedOutcome(kind: .unmapped, reasons: reasons) }
            return FetchedOutcome(kind: .ignored, reasons: [result.explanation.summary])
        }
        let delivery = NewDelivery(
            source: source.name, deliveryKey: deliveryKey, receivedAt: request.receivedAt, status: .accepted,
            events: result.events, metrics: result.metrics, followUps: result.followUps,
            explanation: result.explanation, httpStatus: IngestOutcome.Kind.accepted.statusCode,
            request: StoredRequest(
                clientAddress: nil, headers: request.headers.fields.map { ($0.name, $0.value) }, body: request.body))
        let stored: RecordResult
        do {
            stored = try await store.record(delivery)
        } catch {
            logger.error("store cannot take a fetched delivery", metadata: ["error": "\(error)"])
            return FetchedOutcome(kind: .unavailable, reasons: ["the store cannot take it: \(error)"])
        }
        switch stored {
        case .duplicate(let original):
            metrics.webhook(source: source.name, outcome: "backfill_duplicate")
            return FetchedOutcome(kind: .duplicate, deliveryID: original)
        case .stored(let id, let events, let storedMetrics):
            metrics.webhook(source: source.name, outcome: "backfill_stored")
            metrics.recordsStored(kind: OutboxKind.event.rawValue, count: events)
            metrics.recordsStored(kind: OutboxKind.metric.rawValue, count: storedMetrics)
            onStored()
            return FetchedOutcome(
                kind: .stored, deliveryID: id, events: events, metrics: storedMetrics,
                alreadySeen: result.events.count + result.metrics.count - events - storedMetrics, reasons: reasons)
        }
    }

    /// Moves observations for hours older than the kept aggregates to the rejections, except those in `except`.
    func refuseOldHours(_ result: inout MappingResult, receivedAt: Date, except full: Range<Date>?) {
        let oldest = receivedAt.addingTimeInterval(-aggregateRetention).addingTimeInterval(3600)
        var kept: [OutputRecord] = []
        for record in result.records {
            if case .metric(let m) = record, let hour = TimeParsing.parse(m.hour), hour < oldest,
                !(full?.contains(hour) ?? false)
            {
                result.explanation.rejected.append(
                    .init(
                        rule: m.rule,
                        reason:
                            "metric '\(m.name)' is for the hour \(m.hour), older than the "
                            + "\(Int(aggregateRetention / 86400)) days of aggregates kept, and the bridge received "
                            + "this source's webhooks then: its full value is not known, and sending a partial one "
                            + "would replace Cloudthread's"))
                continue
            }
            kept.append(record)
        }
        result.records = kept
    }
}
