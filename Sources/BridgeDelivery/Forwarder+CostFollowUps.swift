import BridgeCloudthread
import BridgeCore
import Foundation

/// Running cost follow-ups (docs/cost-impact.md). A follow-up is an outbox record due when its after window has
/// settled; the forwarder claims it like any record (one sender, a lease), reads the Cost View or Unit Metric for
/// both windows, compares, and stores what it found (a `cost-impact` event and a `deploy_cost_change` data point,
/// sent by the next rounds like every record) in the transaction that marks it done. Cloudthread's answers are
/// classified as for every send: 401/403 pause, 5xx/429/network back off and retry, 404 is a dead letter.
extension Forwarder {
    /// Runs the claimed follow-ups one at a time; each ends done, due again, dead-lettered or (401) left in
    /// `pending` for the caller to return with the pause's due time.
    func runFollowUps(_ items: [(OutboxItem, StoredCostFollowUp)], tokens: StreamTokens, pending: inout Set<Int64>)
        async
    {
        for (item, followUp) in items {
            if state.withLock({ $0.holdUntil > Date() }) { return }
            await run(item, followUp, tokens: tokens, pending: &pending)
        }
    }

    private func run(_ item: OutboxItem, _ f: StoredCostFollowUp, tokens: StreamTokens, pending: inout Set<Int64>)
        async
    {
        let source = f.spec.source
        let label = "cost impact (\(source.noun) \(source.id))"
        if dryRun {
            await complete(
                item,
                CostFollowUpCompletion(
                    event: nil, metric: nil,
                    note: "\(label): not run: dry run (CLOUDTHREAD_API_KEY is not set), so no cost data is read"),
                pending: &pending)
            return
        }
        let windows: CostWindows
        do { windows = try CostWindows(deployAt: f.deployAt, spec: f.spec) } catch {
            await dead([item], kind: "cost_followup", reason: "\(label): \(error)")
            pending.remove(item.id)
            return
        }
        let request = CostWindows.request(source: source, range: windows.queryRange, options: f.spec.query)
        let (outcome, body) = await client.get(path: request.path, query: request.query)
        let endpoint: String =
            switch source {
            case .costView: "cost_metric"
            case .unitMetric: "unit_metric"
            }
        metrics.forwardRequest(endpoint: endpoint, result: Forwarder.label(outcome))
        switch outcome {
        case .accepted:
            succeeded()
            let result: CostImpactResult
            do {
                let series = try CostSeriesDecoder.decode(body, source: source)
                result = try CostImpact.compare(series: series, spec: f.spec, deployAt: f.deployAt)
            } catch {
                // A 200 that is not a cost series: retried a few times (it may be transient), then a dead letter.
                let reason = "\(label): Cloudthread's answer is not a usable cost series: \(error)"
                if item.attempts + 1 >= configuration.poisonStrikes {
                    await dead([item], kind: "cost_followup", reason: reason)
                } else {
                    let delay = configuration.retry.delay(attempt: item.attempts, retryAfter: nil)
                    await retry([item.id], after: delay, reason: reason, strike: false)
                }
                pending.remove(item.id)
                return
            }
            await complete(item, completion(result, f, label: label, tokens: tokens), pending: &pending)
        case .notFound(let message):
            await dead(
                [item], kind: "cost_followup",
                reason: "\(label): \(source.noun) '\(source.id)' not found by Cloudthread (404): \(message)")
            pending.remove(item.id)
        case .invalid(let message):
            await dead([item], kind: "cost_followup", reason: "\(label): Cloudthread rejected the query: \(message)")
            pending.remove(item.id)
        case .unauthorized(let status):
            // Stays in `pending`: returned with the pause's due time, nothing counted against it.
            pause(status: status, endpoint: endpoint)
        case .retry(let reason, let retryAfter):
            let delay = hold(reason: "\(endpoint): \(reason)", retryAfter: retryAfter)
            await retry([item.id], after: delay, reason: reason, strike: false)
            pending.remove(item.id)
        }
    }

    /// What a finished comparison adds: the event above the threshold, the data point unless there was not enough
    /// data (and only while its stream token is configured), and a note for the delivery's explanation.
    func completion(_ result: CostImpactResult, _ f: StoredCostFollowUp, label: String, tokens: StreamTokens)
        -> CostFollowUpCompletion
    {
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
            if let ref = f.streamRef, let token = tokens.token(for: ref) {
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

    private func complete(_ item: OutboxItem, _ completion: CostFollowUpCompletion, pending: inout Set<Int64>) async {
        pending.remove(item.id)
        var finished = false
        await mark("finish a cost follow-up") {
            finished = try await store.completeFollowUp(item.id, completion, now: Date())
        }
        if finished {
            logger.info(
                "cost follow-up done", metadata: ["outbox.id": "\(item.id)", "cost_impact": "\(completion.note)"])
            metrics.recordsSent(kind: "cost_followup", count: 1)
            if completion.event != nil || completion.metric != nil { notify() }
        } else {
            logger.notice(
                "cost follow-up finished elsewhere (its claim ended); nothing written",
                metadata: ["outbox.id": "\(item.id)"])
        }
    }
}
