import BridgeCloudthread
import BridgeCore
import BridgeStore
import Foundation
import Logging

/// Carrying out the core's effects: store writes (each retried twice), logs and metrics.
extension Forwarder {
    func apply(_ effects: [ForwarderEffect]) async {
        for effect in effects { await apply(effect) }
    }

    func apply(_ effect: ForwarderEffect) async {
        let now = clock.now()
        switch effect {
        case .sent(let ids, let kind):
            await mark("record a successful send") { try await store.markSent(ids, now: now) }
            metrics.recordsSent(kind: kind.rawValue, count: ids.count)
        case .retry(let ids, let dueAt, let reason, let countAttempt, let strikes):
            await mark("schedule a retry") {
                try await store.markRetry(
                    ids, dueAt: dueAt, error: reason, countAttempt: countAttempt, strikes: strikes, now: now)
            }
        case .dead(let ids, let kind, let reason):
            logger.error(
                "A record was moved to dead letters.", metadata: ["outbox.ids": "\(ids)", "reason": "\(reason)"])
            await mark("move a record to dead letters") { try await store.markDead(ids, reason: reason, now: now) }
            metrics.deadLetters(kind: kind.rawValue, count: ids.count)
        case .complete(let id, let completion):
            var finished = false
            await mark("finish a cost follow-up") {
                finished = try await store.completeFollowUp(id, completion, now: now)
            }
            if finished {
                logger.info(
                    "A cost follow-up is done.", metadata: ["outbox.id": "\(id)", "cost_impact": "\(completion.note)"])
                metrics.recordsSent(kind: OutboxKind.costFollowUp.rawValue, count: 1)
                if completion.event != nil || completion.metric != nil { notify() }
            } else {
                logger.notice(
                    "A cost follow-up was finished elsewhere (its claim ended), so nothing was written.",
                    metadata: ["outbox.id": "\(id)"])
            }
        case .paused(let status, let endpoint, let interval):
            logger.critical(
                "Cloudthread refused the API key; forwarding is paused and nothing is dropped.",
                metadata: [
                    "http.status": "\(status)", "cloudthread.endpoint": "\(endpoint.request)",
                    "retry_in": "\(Int(interval))s",
                ])
            metrics.setGauge("bridge_forwarder_paused", 1, help: "1 while Cloudthread refuses the API key")
        case .resumed:
            logger.notice("Cloudthread accepts the API key again; forwarding has resumed.")
            metrics.setGauge("bridge_forwarder_paused", 0, help: "1 while Cloudthread refuses the API key")
        case .held(let endpoint, let reason, let delay):
            logger.warning(
                "Cloudthread is unavailable; the records for this endpoint wait and are retried later.",
                metadata: [
                    "cloudthread.endpoint": "\(endpoint.request)", "error": "\(reason)",
                    "retry_in": "\(String(format: "%.1f", delay))s",
                ])
        }
    }

    func storeFailed(_ what: String, _ error: any Error) {
        logger.error("The forwarder cannot \(what) in the store.", metadata: ["error": "\(error)"])
        metrics.forwardRequest(endpoint: "store", result: "error")
    }

    /// Runs a store update, retrying a failure twice; if it still fails, the records stay claimed until their
    /// lease ends and are then due again (at-least-once).
    func mark(_ what: String, _ body: () async throws -> Void) async {
        for attempt in 0..<3 {
            do {
                try await body()
                return
            } catch {
                if attempt == 2 {
                    storeFailed(what, error)
                } else {
                    await clock.sleep(for: .milliseconds(50 * (attempt + 1)))
                }
            }
        }
    }
}
