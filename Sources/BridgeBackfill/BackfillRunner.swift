import BridgeCore
import BridgeDelivery
import BridgeMapping
import BridgeVerification
import Foundation

/// Runs one backfill: reads the provider's past deploys through a `BackfillReader` and stores each synthetic
/// delivery through the `Ingestor`, as the source's webhook (or, in a dry run, prints what it would store).
/// Stopping it loses nothing: each delivery is stored in its own transaction under its provider id, so a second
/// run skips what the first one stored and continues.
public struct BackfillRunner: Sendable {
    /// One delivery that could not be mapped (a rule matched and rejected every output, or the body could not be
    /// mapped): the exit code is then 1 and the CLI lists them.
    public struct Unmapped: Sendable {
        public var label: String
        public var key: String
        public var reasons: [String]
    }

    public struct Report: Sendable {
        public var counts: BackfillCounts
        public var unmapped: [Unmapped]
        /// Metrics left out of stored deliveries (an hour older than the aggregates kept), as sentences.
        public var notes: [String]
    }

    public enum Mode: Sendable {
        /// Store through the ingestor, within what the policy allows.
        case store(Ingestor, BackfillPolicy)
        /// Print what would be stored, like `try`, through `print`.
        case dryRun(SourceDefinition, Mapper, print: @Sendable (String) -> Void)
    }

    public let source: String
    public let mode: Mode
    /// Told of each stored, duplicate or ignored delivery (plain log lines off a terminal).
    public let log: @Sendable (String) -> Void

    public init(source: String, mode: Mode, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.source = source
        self.mode = mode
        self.log = log
    }

    public func run(
        _ reader: any BackfillReader, window: BackfillWindow, progress: BackfillProgress, now: Date = Date()
    ) async throws -> Report {
        var unmapped: [Unmapped] = []
        var notes: [String] = []
        try await reader.read(window, progress: progress) { delivery in
            let request = IncomingRequest(
                source: source, headers: HeaderBag(delivery.headers.map { (name: $0.0, value: $0.1) }),
                body: delivery.body, receivedAt: now)
            switch mode {
            case .dryRun(let definition, let mapper, let print):
                print(
                    "== \(delivery.key): \(delivery.label)\n"
                        + TryReport(mapper: mapper).render(request, source: definition))
                let result = try? mapper.map(request, source: definition, subpath: "")
                progress.update {
                    if let result, !result.records.isEmpty {
                        $0.stored += 1
                        $0.recordsQueued += result.records.count
                    } else {
                        $0.ignored += 1
                    }
                }
            case .store(let ingestor, let policy):
                if let skipBefore = policy.skipBefore, delivery.at < skipBefore {
                    progress.update { $0.tooOld += 1 }
                    log("skipped \(delivery.key) (\(delivery.label)): older than the dedupe keys kept")
                    return
                }
                let full = policy.fullHoursBefore.flatMap { end in window.since < end ? window.since..<end : nil }
                let outcome = await ingestor.ingestFetched(request, deliveryKey: delivery.key, fullHours: full)
                switch outcome.kind {
                case .stored:
                    progress.update {
                        $0.stored += 1
                        $0.recordsQueued += outcome.events + outcome.metrics
                    }
                    log(
                        "stored \(delivery.key) (\(delivery.label)) as delivery \(outcome.deliveryID ?? 0): "
                            + "\(outcome.events) events, \(outcome.metrics) metrics"
                            + (outcome.alreadySeen > 0 ? ", \(outcome.alreadySeen) already seen" : ""))
                    for reason in outcome.reasons { notes.append("\(delivery.key) (\(delivery.label)): \(reason)") }
                case .duplicate:
                    progress.update { $0.duplicates += 1 }
                    log("already stored: \(delivery.key) (\(delivery.label)) is delivery \(outcome.deliveryID ?? 0)")
                case .ignored:
                    progress.update { $0.ignored += 1 }
                    log("no rule matched \(delivery.key) (\(delivery.label)); not stored")
                case .unmapped:
                    unmapped.append(.init(label: delivery.label, key: delivery.key, reasons: outcome.reasons))
                    log("could not map \(delivery.key) (\(delivery.label)): \(outcome.reasons.joined(separator: "; "))")
                case .unavailable:
                    throw BackfillError(
                        .unavailable,
                        "the store cannot take deliveries right now (\(outcome.reasons.joined(separator: "; "))); what "
                            + "was stored so far stays, run the backfill again to continue")
                }
            }
        }
        return Report(counts: progress.current, unmapped: unmapped, notes: notes)
    }
}
