import AsyncHTTPClient
import BridgeCore
import Foundation
import Testing

@testable import BridgeServer

/// Cloudthread outages end to end: an outage only delays delivery, however many retries it takes, and never makes a
/// dead letter (docs/operations.md, "How the forwarder decides").
@Suite("Outages", .serialized) struct OutageTests {
    static func drained(_ h: BridgeHarness) async -> Bool {
        guard let stats = try? await h.bridge.store.stats(now: Date()) else { return false }
        return stats.pending == 0 && stats.inflight == 0
    }

    /// Webhooks keep arriving while `paths` answer 503; then the outage ends.
    func outage(of paths: Set<String>) async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        try await h.start()
        // A few deliveries first, so the endpoints have answered before the outage (the old rule's trigger).
        for i in 0..<3 {
            #expect(try await h.postGitHub(body: deployBody(service: "before-\(i)")).status == 202)
        }
        await h.eventually("the first deliveries") { h.fake.events.count == 3 }
        h.fake.state.withLock { $0.unavailable = paths }
        // Six seconds of outage at a retry cap of 0.3 s: each record fails dozens of times.
        for i in 0..<30 {
            #expect(try await h.postGitHub(body: deployBody(service: "during-\(i)")).status == 202)
            try await Task.sleep(for: .milliseconds(200))
        }
        let failed = h.fake.state.withLock { $0.requestLog.count }
        #expect(failed > 30, "the outage was not tried against: \(failed) requests")
        #expect(try await h.bridge.store.deadLetters(limit: 10).isEmpty)
        h.fake.state.withLock { $0.unavailable = [] }
        await h.eventually("every event delivered", timeout: .seconds(20)) { h.fake.events.count == 33 }
        await h.eventually("nothing pending or in flight") { await Self.drained(h) }
        #expect(try await h.bridge.store.deadLetters(limit: 10).isEmpty)
        let services = Set(
            h.fake.events.compactMap { e -> String? in
                guard case .object(let p)? = e["payload"], case .string(let d)? = p["description"] else { return nil }
                return d
            })
        #expect(services.count == 33, "\(services.count) distinct events of 33")
        await h.finish()
    }

    @Test func anOutageOfPostEventsAloneEndsWithEveryEventDeliveredAndNoDeadLetter() async throws {
        try await outage(of: ["/events"])
    }

    @Test func anOutageOfEveryEndpointEndsWithEveryEventDeliveredAndNoDeadLetter() async throws {
        try await outage(of: ["*"])
    }

    /// A record Cloudthread always fails on, while it accepts the others: dead-lettered on evidence, with the
    /// numbers in the reason, and the others delivered.
    @Test func aPoisonRecordIsDeadLetteredOnlyOnEvidenceFromItsOwnEndpoint() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules]) {
            $0.forwarder.isolateAfterAttempts = 1
            $0.forwarder.poisonStrikes = 3
        }
        h.fake.state.withLock { $0.failDescriptionsContaining = "POISON" }
        try await h.start()
        #expect(try await h.postGitHub(body: deployBody(service: "POISON")).status == 202)
        // Alone, it is not judged: nothing else was accepted between its failures.
        try await Task.sleep(for: .seconds(2))
        #expect(try await h.bridge.store.deadLetters(limit: 10).isEmpty)
        // With other records accepted by POST /events between its failures, it is.
        var sent = 0
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, try await h.bridge.store.deadLetters(limit: 10).isEmpty {
            #expect(try await h.postGitHub(body: deployBody(service: "good-\(sent)")).status == 202)
            sent += 1
            try await Task.sleep(for: .milliseconds(100))
        }
        let dead = try await h.bridge.store.deadLetters(limit: 10)
        try #require(dead.count == 1)
        #expect(dead[0].record.contains("POISON"))
        #expect(dead[0].reason.hasPrefix("poison record: it failed alone 4 times in a row"))
        #expect(dead[0].reason.contains("while POST /events accepted"))
        await h.eventually("the good ones delivered", timeout: .seconds(20)) { h.fake.events.count == sent }
        await h.eventually("nothing pending or in flight") { await Self.drained(h) }
        await h.finish()
    }
}

extension OutageTests {
    /// 600 webhooks under a mix of faults: every one acknowledged is counted once in the data point, and every event
    /// arrives (a 500 after committing may repeat some; nothing is lost and nothing is a dead letter).
    @Test func sixHundredWebhooksUnderAFaultMixAreAllCounted() async throws {
        let h = try await BridgeHarness(rules: ["deploys.yaml": deployRules])
        h.fake.force(
            Array(repeating: (503, nil), count: 30) + Array(repeating: (429, "1"), count: 10)
                + Array(repeating: (500, nil), count: 5))
        h.fake.state.withLock { $0.failAfterCommit = 5 }
        try await h.start()
        let acknowledged = Collected()
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for i in stride(from: worker, to: 600, by: 8) {
                        let body = deployBody(service: "svc-\(i)")
                        if (try? await h.postGitHub(body: body))?.status == 202 { acknowledged.append("svc-\(i)") }
                    }
                }
            }
        }
        #expect(acknowledged.all.count == 600)
        await h.eventually("every event delivered", timeout: .seconds(60)) {
            Set(
                h.fake.events.compactMap { e -> String? in
                    guard case .object(let p)? = e["payload"], case .string(let d)? = p["description"] else {
                        return nil
                    }
                    return d
                }
            ).count == 600
        }
        await h.eventually("nothing pending or in flight", timeout: .seconds(30)) { await Self.drained(h) }
        #expect(try await h.bridge.store.deadLetters(limit: 10).isEmpty)
        let counted = h.fake.points.filter { $0.key.metric == "deployments" }.values.reduce(0, +)
        #expect(counted == 600, "the data points count \(counted) deploys of 600")
        await h.finish()
    }
}
