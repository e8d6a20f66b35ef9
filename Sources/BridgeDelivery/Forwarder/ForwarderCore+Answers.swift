import BridgeCloudthread
import BridgeCore
import BridgeStore
import Foundation

/// How each answer of Cloudthread is classified (docs/operations.md, "How the forwarder decides"):
/// - 2xx: sent;
/// - 400/404 on several records: split in halves until the bad record is alone; on one record: a dead letter with
///   the API's message;
/// - 401/403: pause everything, nothing dropped;
/// - 408, 429, 5xx, network: the endpoint is held with backoff (or `Retry-After`) and the records are due again when
///   it ends, however long the outage lasts. The one exception is the poison rule below.
///
/// The poison rule: a record is dead-lettered for retryable answers only when it failed alone
/// `poisonStrikes` times in a row and, before each of those failures, its own endpoint had accepted at least
/// `poisonAcceptedBetween` other requests since the record's previous failure and failed no other request. An
/// outage fails every request, so it never adds a strike; it resets them.
extension ForwarderCore {
    /// The effects of Cloudthread's answer to `request` (`body`: the body of a 2xx, read by cost follow-ups).
    public mutating func answer(
        _ request: ForwarderRequest, outcome: CloudthreadOutcome, body: [UInt8] = [], now: Date
    ) -> [ForwarderEffect] {
        if case .costRead(let item, let followUp, _, _) = request {
            return answerCostRead(item, followUp, endpoint: request.endpoint, outcome: outcome, body: body, now: now)
        }
        let ids = request.ids
        switch outcome {
        case .accepted:
            accepted(request.endpoint)
            unheldFailure.remove(request.endpoint)
            return [decide(.sent(ids: ids, kind: request.kind))] + resume()
        case .invalid(let message), .notFound(let message):
            if let (a, b) = request.split() {
                queue.insert(contentsOf: [a, b], at: 0)
                return []
            }
            let what: String
            if case .invalid = outcome {
                what = "rejected by Cloudthread (400)"
            } else if request.kind == .event {
                what = "not found by Cloudthread (404)"
            } else {
                what = "data stream not found by Cloudthread (404)"
            }
            return [decide(.dead(ids: ids, kind: request.kind, reason: "\(what): \(message)"))]
        case .unauthorized(let status):
            // Not evidence about the records: a run of strikes must be failures in a row, so it starts over.
            for id in ids { marks[id] = nil }
            return [pauseForwarding(status: status, endpoint: request.endpoint, now: now)]
        case .retry(let reason, let retryAfter):
            return retryable(request, reason: reason, retryAfter: retryAfter, now: now)
        }
    }

    /// A retryable answer: a strike against a lone record when its endpoint is demonstrably working, otherwise a
    /// failure of the endpoint (hold it; the records wait for the hold).
    mutating func retryable(_ request: ForwarderRequest, reason: String, retryAfter: TimeInterval?, now: Date)
        -> [ForwarderEffect]
    {
        let endpoint = request.endpoint
        let ids = request.ids
        if request.items.count == 1, let item = request.items.first, let mark = marks[item.id],
            mark.endpoint == endpoint, mark.alone
        {
            var h = health(endpoint)
            let acceptedSince = h.accepted - mark.accepted
            if acceptedSince >= configuration.poisonAcceptedBetween, h.failed == mark.failed {
                // Counted as a failure of the endpoint for every other record's evidence (two records failing this
                // way at once keep each other from being judged), but not held: the endpoint works.
                h.failed += 1
                endpoints[endpoint] = h
                // The endpoint accepted others since this record last failed, and failed nothing else: a strike.
                // The count is the one in memory: the stored strikes only make the record go alone, so a restart
                // (or a store write that failed) can only start the count over, never carry it on.
                let strikes = mark.strikes + 1
                let acceptedTotal = mark.acceptedDuringStrikes + acceptedSince
                remember(
                    FailureMark(
                        endpoint: endpoint, accepted: h.accepted, failed: h.failed, alone: true, strikes: strikes,
                        acceptedDuringStrikes: acceptedTotal, failedAt: now),
                    for: item.id)
                if strikes >= configuration.poisonStrikes {
                    return [
                        decide(
                            .dead(
                                ids: ids, kind: request.kind,
                                reason:
                                    "poison record: it failed alone \(strikes + 1) times in a row with a retryable "
                                    + "answer (last: \(reason)), while \(endpoint.request) accepted \(acceptedTotal) "
                                    + "other requests between those failures and failed no other"))
                    ]
                }
                let delay = configuration.retry.delay(attempt: item.attempts, retryAfter: retryAfter, using: &random)
                return [
                    decide(
                        .retry(
                            ids: ids, dueAt: now.addingTimeInterval(delay), reason: reason, countAttempt: true,
                            strikes: strikes))
                ]
            }
        }
        // Not evidence against the records: a lone record's strikes start over.
        let strikes: Int? = request.items.contains { $0.strikes > 0 } ? 0 : nil
        if request.items.count == 1, let item = request.items.first, marks[item.id] != nil,
            !unheldFailure.contains(endpoint)
        {
            // A record that failed before failed again, alone: the record or the endpoint? The endpoint is not held
            // for this (a bad record must not hold back the others), but the next request to it in this round is
            // the test: if that one fails too, the endpoint is held.
            unheldFailure.insert(endpoint)
            var h = health(endpoint)
            h.failed += 1
            h.lastError = reason
            endpoints[endpoint] = h
            lastError = "\(endpoint.request) failed: \(reason)"
            remember(
                FailureMark(
                    endpoint: endpoint, accepted: h.accepted, failed: h.failed, alone: true, strikes: 0,
                    acceptedDuringStrikes: 0, failedAt: now),
                for: item.id)
            let delay = configuration.retry.delay(attempt: item.attempts, retryAfter: retryAfter, using: &random)
            return [
                decide(
                    .retry(
                        ids: ids, dueAt: now.addingTimeInterval(delay), reason: reason, countAttempt: true,
                        strikes: strikes))
            ]
        }
        let held = hold(endpoint, reason: reason, retryAfter: retryAfter, now: now)
        let h = health(endpoint)
        for item in request.items {
            remember(
                FailureMark(
                    endpoint: endpoint, accepted: h.accepted, failed: h.failed, alone: request.items.count == 1,
                    strikes: 0, acceptedDuringStrikes: 0, failedAt: now),
                for: item.id)
        }
        return [
            held,
            decide(.retry(ids: ids, dueAt: h.holdUntil, reason: reason, countAttempt: true, strikes: strikes)),
        ]
    }
}
