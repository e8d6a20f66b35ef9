import BridgeStore
import BridgeStoreTestKit
import Foundation
import Testing

@testable import BridgeCore

/// Cost follow-ups in the store (docs/cost-impact.md), on SQLite and PostgreSQL: stored with the webhook, not due
/// (and not counted as pending) before their time, claimed once, and finished in one transaction exactly once.
@Suite("Cost follow-ups in the store (SQLite and PostgreSQL)")
struct CostFollowUpStoreTests {
    static func followUp(at deployAt: Date, dedupeKey: String? = nil) throws -> CostFollowUp {
        var f = try CostFollowUp(
            spec: CostImpactSpec(source: .costView("view-1"), beforeDays: 7, afterDays: 3, thresholdPercent: 5),
            deployAt: deployAt, description: "api v1.4.2 to production", url: "https://ci.example.com/run/7",
            team: .name("platform"), dimensions: ["service": "api"], streamToken: Secret("tok"), rule: "deploy")
        f.dedupeKey = dedupeKey
        return f
    }

    static func delivery(_ followUps: [CostFollowUp], events: Int = 1) -> NewDelivery {
        var d = BridgeStoreTestKit.delivery(key: nil, metrics: [], events: events)
        d.followUps = followUps
        return d
    }

    @Test(arguments: StoreKind.available) func aFollowUpWaitsForItsTimeAndFinishesOnce(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let now = Date()
            let f = try Self.followUp(at: now.addingTimeInterval(-3600))
            guard case .stored(let deliveryID, 1, 0) = try await store.record(Self.delivery([f])) else {
                Issue.record("expected stored")
                return
            }
            // Before its time: only the deploy event is due; the follow-up is scheduled, not pending.
            let stats = try await store.stats(now: now)
            #expect(stats.scheduled == 1)
            #expect(stats.pending == 1)
            let first = try await store.claimDue(now: now.addingTimeInterval(1), limit: 10, lease: 60)
            #expect(first.count == 1)
            if case .event = first.first?.content {} else { Issue.record("expected the event first") }
            try await store.markSent(first.map(\.id), now: now)
            #expect(try await store.claimDue(now: f.due.addingTimeInterval(-1), limit: 10, lease: 60).isEmpty)

            // At its time: claimed once, with everything it needs (the stream token only as its fingerprint).
            let due = try await store.claimDue(now: f.due, limit: 10, lease: 60)
            try #require(due.count == 1)
            guard case .costFollowUp(let stored, let owner) = due[0].content else {
                Issue.record("expected the follow-up")
                return
            }
            #expect(owner == deliveryID)
            let expected = StoredCostFollowUp(f, streamRef: StreamTokenRef.fingerprint(Secret("tok")))
            #expect(stored == expected)
            #expect(stored.due == f.due)
            #expect(try await store.claimDue(now: f.due, limit: 10, lease: 60).isEmpty)

            let event = EventRecord(
                timestamp: "2024-05-06 00:00:00", team: .name("platform"), type: "cost-impact",
                description: "api v1.4.2 to production: daily cost +$10.00 (+10.0%)", rule: "deploy")
            let point = MetricObservation(
                streamToken: Secret("tok"), name: "deploy_cost_change", aggregation: .sum, value: 10,
                dimensions: ["service": "api"], hour: "2024-05-06 00:00:00", rule: "deploy")
            let completion = CostFollowUpCompletion(event: event, metric: point, note: "cost impact: +10.0%")
            #expect(try await store.completeFollowUp(due[0].id, completion, now: f.due))
            // A second finish (a sender whose claim ended) writes nothing.
            #expect(try await store.completeFollowUp(due[0].id, completion, now: f.due) == false)

            let outputs = try await store.claimDue(now: f.due.addingTimeInterval(1), limit: 10, lease: 60)
            #expect(outputs.count == 2)
            for item in outputs {
                switch item.content {
                case .event(let e): #expect(e == event)
                case .metric(_, let name, .sum, let dims, let hour, let value):
                    #expect(name == "deploy_cost_change" && dims == ["service": "api"] && value == 10)
                    #expect(hour == "2024-05-06 00:00:00")
                default: Issue.record("unexpected \(item.content)")
                }
            }
            let detail = try await store.deliveryDetail(id: deliveryID)
            #expect(detail?.summary.explanation?.notes.contains("cost impact: +10.0%") == true)
            #expect(detail?.records.filter { $0.kind == "cost_followup" }.map(\.state) == ["sent"])
            #expect(try await store.stats(now: f.due).scheduled == 0)
        }
    }

    @Test(arguments: StoreKind.available) func aFollowUpOfAnItemSeenBeforeIsLeftOut(_ kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let deployAt = Date().addingTimeInterval(-3600)
            var d = Self.delivery([try Self.followUp(at: deployAt, dedupeKey: "run-7")], events: 0)
            var event = EventRecord(timestamp: "2024-05-01 14:00:00", type: "deploy", rule: "deploy")
            event.dedupeKey = "run-7"
            d.events = [event]
            guard case .stored = try await store.record(d) else {
                Issue.record("expected stored")
                return
            }
            var again = d
            again.events.append(EventRecord(timestamp: "2024-05-01 14:00:00", type: "other", rule: "other"))
            guard case .stored = try await store.record(again) else {
                Issue.record("expected the new event stored")
                return
            }
            #expect(try await store.stats(now: Date()).scheduled == 1)
        }
    }

    @Test(arguments: StoreKind.available) func aFollowUpThatFailedIsDueAgainAndCanBeDeadLettered(_ kind: StoreKind)
        async throws
    {
        try await withStore(kind) { store in
            let f = try Self.followUp(at: Date(timeIntervalSince1970: 1_714_572_300))  // 2024-05-01 14:05 UTC
            _ = try await store.record(Self.delivery([f], events: 0))
            let now = Date()
            let claimed = try await store.claimDue(now: now, limit: 10, lease: 60)
            try #require(claimed.count == 1)
            try await store.markRetry(
                claimed.map(\.id), dueAt: now, error: "HTTP 503", countAttempt: true, strikes: nil, now: now)
            let again = try await store.claimDue(now: now.addingTimeInterval(1), limit: 10, lease: 60)
            #expect(again.map(\.id) == claimed.map(\.id))
            #expect(again.first?.attempts == 1)
            try await store.markDead(again.map(\.id), reason: "cost view 'view-1' not found (404)", now: now)
            let dead = try await store.deadLetters(limit: 10)
            #expect(dead.map(\.kind) == ["cost_followup"])
            #expect(dead.first?.record.contains("view-1") == true)
            #expect(dead.first?.record.contains("\"tok\"") == false)
            #expect(try await store.replayDeadLetters(nil, now: now) == 1)
            #expect(try await store.claimDue(now: now.addingTimeInterval(1), limit: 10, lease: 60).count == 1)
        }
    }
}
