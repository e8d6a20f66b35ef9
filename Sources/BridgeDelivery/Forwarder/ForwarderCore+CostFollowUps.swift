import BridgeCloudthread
import BridgeCore
import Foundation

/// Cost follow-ups (docs/cost-impact.md). A follow-up is an outbox record due when its after window has settled; the
/// forwarder claims it like any record (one sender, a lease), reads the Cost View or Unit Metric for both windows,
/// compares, and stores what it found (a `cost-impact` event and a `deploy_cost_change` data point, sent by the next
/// rounds like every record) in the transaction that marks it done. Answers are classified as for every send:
/// 401/403 pause, 5xx/429/network hold the endpoint and retry, 404 and 400 are dead letters.
extension ForwarderCore {
    static func label(_ f: StoredCostFollowUp) -> String {
        "cost impact (\(f.spec.source.noun) \(f.spec.source.id))"
    }

    /// What a follow-up becomes without a request: done at once in dry run, a dead letter when its windows cannot
    /// be computed; nil when it needs its cost read.
    func planFollowUp(_ item: OutboxItem, _ f: StoredCostFollowUp) -> ForwarderEffect? {
        let label = Self.label(f)
        if dryRun {
            return .complete(
                id: item.id,
                CostFollowUpCompletion(
                    event: nil, metric: nil,
                    note: "\(label): not run: dry run (CLOUDTHREAD_API_KEY is not set), so no cost data is read"))
        }
        do {
            _ = try CostWindows(deployAt: f.deployAt, spec: f.spec)
            return nil
        } catch {
            return .dead(ids: [item.id], kind: "cost_followup", reason: "\(label): \(error)")
        }
    }

    mutating func answerCostRead(
        _ item: OutboxItem, _ f: StoredCostFollowUp, endpoint: ForwarderEndpoint, outcome: CloudthreadOutcome,
        body: [UInt8], now: Date
    ) -> [ForwarderEffect] {
        let label = Self.label(f)
        let source = f.spec.source
        switch outcome {
        case .accepted:
            accepted(endpoint)
            let result: CostImpactResult
            do {
                let series = try CostSeriesDecoder.decode(body, source: source)
                result = try CostImpact.compare(series: series, spec: f.spec, deployAt: f.deployAt)
            } catch {
                // A 200 that is not a cost series: retried a few times (it may be transient), then a dead letter.
                let reason = "\(label): Cloudthread's answer is not a usable cost series: \(error)"
                if item.attempts + 1 >= configuration.poisonStrikes {
                    return [decide(.dead(ids: [item.id], kind: "cost_followup", reason: reason))] + resume()
                }
                let delay = configuration.retry.delay(attempt: item.attempts, retryAfter: nil, using: &random)
                return [
                    decide(
                        .retry(
                            ids: [item.id], dueAt: now.addingTimeInterval(delay), reason: reason, countAttempt: true,
                            strikes: nil))
                ] + resume()
            }
            return [decide(.complete(id: item.id, completion(result, f, label: label)))] + resume()
        case .notFound(let message):
            return [
                decide(
                    .dead(
                        ids: [item.id], kind: "cost_followup",
                        reason: "\(label): \(source.noun) '\(source.id)' not found by Cloudthread (404): \(message)"
                    ))
            ]
        case .invalid(let message):
            return [
                decide(
                    .dead(
                        ids: [item.id], kind: "cost_followup",
                        reason: "\(label): Cloudthread rejected the query (400): \(message)"))
            ]
        case .unauthorized(let status):
            // Stays pending: returned by `finish` with the pause's end, nothing counted against it.
            return [pauseForwarding(status: status, endpoint: endpoint, now: now)]
        case .retry(let reason, let retryAfter):
            let held = hold(endpoint, reason: reason, retryAfter: retryAfter, now: now)
            return [
                held,
                decide(
                    .retry(
                        ids: [item.id], dueAt: health(endpoint).holdUntil, reason: reason, countAttempt: true,
                        strikes: nil)),
            ]
        }
    }

    /// What a finished comparison adds: the event above the threshold, the data point unless there was not enough
    /// data (stored with the follow-up's stream fingerprint; the forwarder finds its token when it sends, and
    /// dead-letters it if the token is no longer configured), and a note for the delivery's explanation.
    func completion(_ result: CostImpactResult, _ f: StoredCostFollowUp, label: String) -> CostFollowUpCompletion {
        let outputs = CostFollowUpOutputs.make(
            result,
            deploy: CostFollowUpDeploy(
                at: f.deployAt, description: f.description, eventURL: f.url, dimensions: f.dimensions))
        let event = outputs.event.map {
            EventRecord(
                timestamp: $0.timestamp, team: f.team, type: $0.type, description: $0.description, url: $0.url,
                rule: f.rule)
        }
        var note = "\(label): " + CostImpactFormat.text(result, prefix: f.description ?? "")
        var metric: MetricObservation?
        if let point = outputs.dataPoint {
            if let ref = f.streamRef, let token = tokens?.token(for: ref) {
                metric = MetricObservation(
                    streamToken: token, name: point.name, aggregation: .sum, value: point.value,
                    dimensions: point.dimensions, hour: point.hour, rule: f.rule)
            } else if f.streamRef != nil {
                note += "; no \(point.name) data point: its data stream token is no longer configured"
            }
        }
        switch result.outcome {
        case .change: note += " (posted as a \(CostFollowUpOutputs.eventType) event)"
        case .belowThreshold: note += " (no event: within the threshold)"
        case .notEnoughData: note += " (no event, no data point)"
        }
        return CostFollowUpCompletion(event: event, metric: metric, note: note)
    }
}
