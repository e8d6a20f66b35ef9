import BridgeStore
import BridgeStoreTestKit
import Foundation
import Logging
import Testing

@testable import BridgeCore
@testable import BridgeStorePostgres

/// Several stores on one database, as several replicas are: one schema, one store per "replica".
/// Drops the schema of a test store.
func dropSchema(_ store: PostgresDeliveryStore) async {
    guard let schema = store.url.schema else { return }
    _ = try? await store.client.query("DROP SCHEMA IF EXISTS \(unescaped: schema) CASCADE")
}

func withReplicas(_ n: Int, _ body: ([PostgresDeliveryStore]) async throws -> Void) async throws {
    let url = try #require(postgresTestURL())
    // Replicas starting together migrate under the advisory lock.
    let stores = try await withThrowingTaskGroup(of: PostgresDeliveryStore.self) { group in
        for _ in 0..<n {
            group.addTask { try await PostgresDeliveryStore.open(url: url, poolSize: 8, logger: Logger(label: "test")) }
        }
        var all: [PostgresDeliveryStore] = []
        for try await s in group { all.append(s) }
        return all
    }
    do {
        try await body(stores)
    } catch {
        await dropSchema(stores[0])
        for s in stores { await s.close() }
        throw error
    }
    await dropSchema(stores[0])
    for s in stores { await s.close() }
}

@Suite(
    "PostgreSQL store with several replicas",
    .enabled(
        if: TestPostgres.isAvailable, "no PostgreSQL for the tests (the note at the start of the output says why)"))
struct PostgresStoreTests {
    @Test func theSameDeliveryIdSentToTwoReplicasAtOnceIsStoredOnce() async throws {
        try await withReplicas(2) { stores in
            for round in 0..<20 {
                let results = try await withThrowingTaskGroup(of: RecordResult.self) { group in
                    for store in stores {
                        group.addTask { try await store.record(delivery(key: "race-\(round)", events: 1)) }
                    }
                    var all: [RecordResult] = []
                    for try await r in group { all.append(r) }
                    return all
                }
                let stored = results.compactMap { r -> Int64? in
                    if case .stored(let id, _, _) = r { return id }
                    return nil
                }
                #expect(stored.count == 1)
                #expect(results.contains(.duplicate(originalDeliveryId: stored.first ?? -1)))
            }
            #expect(try await stores[0].stats(now: Date()).pending == 20)
        }
    }

    @Test func concurrentWebhooksShareTransactionsAndADuplicateInTheSameGroupIsAnsweredOnce() async throws {
        try await withReplicas(1) { stores in
            let store = stores[0]
            // 300 webhooks at once: 200 distinct keys, 100 of them sent twice; every one adds 1 to the same hour.
            let keys = (0..<200).map { "k\($0)" } + (0..<100).map { "k\($0)" }
            let results = try await withThrowingTaskGroup(of: (String, RecordResult).self) { group in
                for key in keys {
                    group.addTask { (key, try await store.record(delivery(key: key, metrics: [observation(1)]))) }
                }
                var all: [(String, RecordResult)] = []
                for try await r in group { all.append(r) }
                return all
            }
            var stored: [String: Int64] = [:]
            var duplicates: [(String, Int64)] = []
            for (key, result) in results {
                switch result {
                case .stored(let id, 0, 1): stored[key] = id
                case .duplicate(let original): duplicates.append((key, original))
                default: Issue.record("unexpected \(result) for \(key)")
                }
            }
            #expect(stored.count == 200)
            #expect(duplicates.count == 100)
            for (key, original) in duplicates { #expect(stored[key] == original) }
            let transactions = store.recordTransactions.withLock { $0 }
            #expect(transactions < 300, "\(transactions) transactions for 300 webhooks: no group commit")
            let due = try await store.claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60)
            let sums = due.compactMap { item -> Double? in
                if case .metric(_, _, .sum, _, _, let value) = item.content { return value }
                return nil
            }
            #expect(sums == [200])
        }
    }

    @Test func aThousandObservationsOfOneHourOnThreeReplicasSumToAThousand() async throws {
        try await withReplicas(3) { stores in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<1000 {
                    let store = stores[i % 3]
                    group.addTask { _ = try await store.record(delivery(metrics: [observation(1)])) }
                }
                try await group.waitForAll()
            }
            let items = try await stores[1].claimDue(now: Date().addingTimeInterval(1), limit: 10, lease: 60)
            #expect(items.count == 1)
            guard case .metric(_, _, _, _, _, let value)? = items.first?.content else {
                Issue.record("expected one metric")
                return
            }
            #expect(value == 1000)
        }
    }

    @Test func concurrentClaimsFromThreeReplicasNeverShareARecordOrAKey() async throws {
        try await withReplicas(3) { stores in
            for i in 0..<300 {
                _ = try await stores[i % 3].record(
                    delivery(metrics: [observation(1, hour: "2024-05-01 \(10 + i % 5):00:00")], events: 1))
            }
            let claims = try await withThrowingTaskGroup(of: [OutboxItem].self) { group in
                for store in stores {
                    group.addTask {
                        var mine: [OutboxItem] = []
                        while true {
                            let batch = try await store.claimDue(now: Date().addingTimeInterval(1), limit: 7, lease: 60)
                            if batch.isEmpty { return mine }
                            mine += batch
                        }
                    }
                }
                var all: [OutboxItem] = []
                for try await c in group { all += c }
                return all
            }
            #expect(claims.count == 305)
            #expect(Set(claims.map(\.id)).count == claims.count)
            let hours = claims.compactMap { item -> String? in
                if case .metric(_, _, _, _, let hour, _) = item.content { return hour }
                return nil
            }
            #expect(hours.count == 5 && Set(hours).count == 5)
        }
    }
}

@Suite("PostgreSQL store without a server")
struct PostgresStoreOfflineTests {
    @Test func anUnreachableServerIsUnavailableAndNotWritable() async throws {
        let url = try #require(PostgresDatabaseURL("postgres://bridge:secret-pw@127.0.0.1:1/none?sslmode=disable"))
        #expect(url.redacted == "postgres://bridge:***@127.0.0.1:1/none?sslmode=disable")
        let store = try await PostgresDeliveryStore.open(
            url: url, logger: Logger(label: "test"), migrate: false, operationTimeout: .seconds(2))
        await #expect(throws: StoreError.self) { try await store.record(delivery(events: 1)) }
        do {
            _ = try await store.record(delivery(events: 1))
        } catch let error as StoreError {
            #expect(error.reason == .unavailable)
            #expect(!error.detail.contains("secret-pw"))
        }
        #expect(await !store.isWritable())
        await store.close()
    }

    @Test func urlsAreParsedAndRedacted() throws {
        let url = try #require(
            PostgresDatabaseURL("postgresql://u%40x:p%2Fw@db.example.com/bridge?sslmode=verify-full"))
        #expect(url.username == "u@x" && url.password?.string == "p/w" && url.port == 5432)
        #expect(url.database == "bridge" && url.sslMode == .verifyFull)
        #expect(!url.redacted.contains("p/w") && !"\(url)".contains("p%2Fw"))
        #expect(PostgresDatabaseURL("postgres://h/db?sslmode=sometimes") == nil)
        #expect(PostgresDatabaseURL("mysql://h/db") == nil)
        #expect(PostgresDatabaseURL("postgres://h/db")?.sslMode == .prefer)
    }
}
