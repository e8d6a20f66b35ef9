import BridgeStore
import BridgeStoreTestKit
import Foundation
import Testing

@testable import BridgeCore
@testable import BridgeStorePostgres

@Suite(
    "PostgreSQL: a cost follow-up runs on one replica",
    .enabled(
        if: TestPostgres.isAvailable, "no PostgreSQL for the tests (the note at the start of the output says why)"))
struct PostgresCostFollowUpTests {
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

    @Test func oneReplicaClaimsAFollowUpAndOnlyTheCurrentClaimantFinishesIt() async throws {
        try await withReplicas(3) { stores in
            let f = try PostgresCostFollowUpTests.followUp(at: Date(timeIntervalSince1970: 1_714_572_300))
            _ = try await stores[0].record(PostgresCostFollowUpTests.delivery([f], events: 0))
            let now = Date()
            let claims = try await withThrowingTaskGroup(of: [OutboxItem].self) { group in
                for store in stores { group.addTask { try await store.claimDue(now: now, limit: 10, lease: 30) } }
                var all: [[OutboxItem]] = []
                for try await c in group { all.append(c) }
                return all
            }
            #expect(claims.map(\.count).sorted() == [0, 0, 1])
            let id = try #require(claims.flatMap { $0 }.first?.id)
            // The claimant stalls past its lease; another replica takes the follow-up over and finishes it.
            let owner = try #require(stores.indices.first { i in claims[i].isEmpty == false })
            let other = stores[(owner + 1) % stores.count]
            let again = try await other.claimDue(now: now.addingTimeInterval(31), limit: 10, lease: 30)
            #expect(again.map(\.id) == [id])
            let completion = CostFollowUpCompletion(event: nil, metric: nil, note: "cost impact: done")
            #expect(try await stores[owner].completeFollowUp(id, completion, now: now) == false)
            #expect(try await other.completeFollowUp(id, completion, now: now))
            #expect(try await other.completeFollowUp(id, completion, now: now) == false)
            let notes = try await stores[0].delivery(id: 1)?.explanation?.notes ?? []
            #expect(notes.filter { $0 == "cost impact: done" }.count == 1)
        }
    }
}
