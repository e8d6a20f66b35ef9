import BridgeStore
import Foundation
import Logging
import Testing

@testable import BridgeCloudthread
@testable import BridgeCore
@testable import BridgeDelivery

func withTemporaryStore(_ body: (SQLiteDeliveryStore, String) async throws -> Void) async throws {
    let dir = NSTemporaryDirectory() + "ctb-store-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let store = try await SQLiteDeliveryStore.open(path: dir + "/bridge.sqlite", logger: Logger(label: "test"))
    let task = Task { try await store.run() }
    try await body(store, dir)
    task.cancel()
    try await task.value
}

func observation(_ value: Double, hour: String = "2024-05-01 14:00:00", agg: Aggregation = .sum) -> MetricObservation {
    MetricObservation(
        streamToken: Secret("tok"), name: "m", aggregation: agg, value: value, dimensions: ["service": "api"],
        hour: hour,
        rule: "r")
}

func delivery(key: String? = nil, metrics: [MetricObservation] = [], events: Int = 0) -> NewDelivery {
    let e = (0..<events).map {
        EventRecord(
            timestamp: "2024-05-01 14:00:00", team: nil, type: "deploy", description: "d\($0)", url: nil, rule: "r")
    }
    return NewDelivery(
        source: "s", deliveryKey: key, receivedAt: Date(), status: .accepted, events: e, metrics: metrics,
        explanation: Explanation(source: "s"))
}

@Suite("SQLite store")
struct StoreTests {
    @Test func concurrentWebhooksShareCommits() async throws {
        try await withTemporaryStore { store, _ in
            try await withThrowingTaskGroup(of: RecordResult.self) { group in
                for i in 0..<200 { group.addTask { try await store.record(delivery(key: "k\(i)", events: 1)) } }
                var stored = 0
                for try await r in group { if case .stored = r { stored += 1 } }
                #expect(stored == 200)
            }
            let stats = store.groupCommitStats
            #expect(stats.records == 200)
            // 200 concurrent records in fewer commits than records: group commit at work.
            #expect(stats.commits < 200)
            #expect(stats.largest > 1)
            #expect(try await store.stats(now: Date()).pending == 200)
        }
    }

    @Test func dedupeKeysAndRestart() async throws {
        let dir = NSTemporaryDirectory() + "ctb-store-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for round in 0..<2 {
            let store = try await SQLiteDeliveryStore.open(path: dir + "/bridge.sqlite", logger: Logger(label: "test"))
            let task = Task { try await store.run() }
            let result = try await store.record(delivery(key: "same", events: 1))
            if round == 0 {
                #expect(result == .stored(deliveryId: 1, events: 1, metrics: 0))
                // Claimed but never answered: in flight when the process stops.
                #expect(try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60).count == 1)
            } else {
                #expect(result == .duplicate(originalDeliveryId: 1))
                // The record in flight at the stop is pending again: at-least-once.
                #expect(try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60).count == 1)
            }
            task.cancel()
            try await task.value
        }
    }

    @Test func deadLettersAndReplay() async throws {
        try await withTemporaryStore { store, _ in
            _ = try await store.record(delivery(events: 2))
            let items = try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60)
            try await store.markDead([items[0].id], reason: "rejected by Cloudthread (400): bad", now: Date())
            try await store.markSent([items[1].id], now: Date())
            let dead = try await store.deadLetters(limit: 10)
            #expect(dead.map(\.reason) == ["rejected by Cloudthread (400): bad"])
            #expect(
                try await store.stats(now: Date())
                    == OutboxStats(pending: 0, inflight: 0, sent: 1, dead: 1, oldestPendingAge: 0))
            #expect(try await store.replayDeadLetters(nil, now: Date()) == 1)
            #expect(
                try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60).map(\.id) == [
                    items[0].id
                ])
        }
    }
}

@Suite("Retry strategy")
struct RetryTests {
    @Test func fullJitterStaysWithinTheCapAndRetryAfterWins() {
        let r = RetryStrategy.exponentialJitter(base: 1, cap: 60, floor: 0.2)
        for attempt in 0..<20 {
            let d = r.delay(attempt: attempt, retryAfter: nil)
            #expect(d >= 0.2 && d <= min(60, pow(2, Double(attempt))) + 0.2)
        }
        #expect(r.delay(attempt: 0, retryAfter: 30) == 30)
        // Retry-After is honoured beyond the backoff cap, up to its own cap (1 hour by default).
        #expect(r.delay(attempt: 0, retryAfter: 1800) == 1800)
        #expect(r.delay(attempt: 0, retryAfter: 7200) == 3600)
        #expect(r.delay(attempt: 0, retryAfter: .infinity) <= 60)
        #expect(HTTPCloudthreadClient.parseRetryAfter("120") == 120)
        #expect(
            HTTPCloudthreadClient.parseRetryAfter(
                "Wed, 21 Oct 2015 07:28:00 GMT", now: Date(timeIntervalSince1970: 1_445_412_420)) == 60)
    }

    @Test func answersAreClassifiedAsTheDesignSays() {
        #expect(CloudthreadOutcome.classify(status: 201, body: "", retryAfter: nil) == .accepted)
        #expect(CloudthreadOutcome.classify(status: 400, body: "bad ts", retryAfter: nil) == .invalid("bad ts"))
        #expect(CloudthreadOutcome.classify(status: 404, body: "No team", retryAfter: nil) == .notFound("No team"))
        #expect(CloudthreadOutcome.classify(status: 401, body: "", retryAfter: nil) == .unauthorized(401))
        #expect(CloudthreadOutcome.classify(status: 403, body: "", retryAfter: nil) == .unauthorized(403))
        #expect(
            CloudthreadOutcome.classify(status: 429, body: "", retryAfter: 5)
                == .retry(reason: "HTTP 429", retryAfter: 5))
        #expect(
            CloudthreadOutcome.classify(status: 408, body: "", retryAfter: nil)
                == .retry(reason: "HTTP 408", retryAfter: nil))
        #expect(
            CloudthreadOutcome.classify(status: 503, body: "down", retryAfter: nil)
                == .retry(reason: "HTTP 503: down", retryAfter: nil))
    }
}
