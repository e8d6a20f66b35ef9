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
        #expect(PostgresDatabaseURL("postgres://h/db")?.sslMode == .verifyFull)
    }
}

/// A Unix socket directory as the URL's host: the store connects through the socket (as libpq, without TLS).
@Suite(
    "PostgreSQL over a Unix socket",
    .enabled(if: TestPostgres.cluster != nil, "no local PostgreSQL cluster for the tests (its socket is needed)"))
struct PostgresUnixSocketTests {
    @Test func aSocketDirectoryAsTheHostStoresAWebhook() async throws {
        let cluster = try #require(TestPostgres.cluster)
        let base = try #require(TestPostgres.url.flatMap(PostgresDatabaseURL.init))
        let unreserved = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let directory = try #require(cluster.directory.addingPercentEncoding(withAllowedCharacters: unreserved))
        let schema = "t_sock_" + UUID().uuidString.prefix(8).lowercased()
        let url = try #require(
            PostgresDatabaseURL(
                "postgres://\(base.username)@\(directory):\(cluster.port)/\(base.database)?schema=\(schema)"))
        #expect(url.sslMode == .prefer && url.sslModeIsDefault)
        #expect(url.unixSocketPath == cluster.directory + "/.s.PGSQL.\(cluster.port)")
        let store = try await PostgresDeliveryStore.open(url: url, logger: Logger(label: "test"))
        let result = try await store.record(delivery(events: 1))
        await dropSchema(store)
        await store.close()
        guard case .stored = result else {
            Issue.record("not stored: \(result)")
            return
        }
    }
}

/// `BRIDGE_DATABASE_URL`'s TLS: `verify-full` unless the URL says otherwise or the server is on this machine, each
/// `sslmode` as libpq means it, and a parameter given twice refused.
@Suite("PostgreSQL URL: TLS by default")
struct PostgresDatabaseURLTests {
    /// A PEM certificate (the SNS fixture of the verification tests): any CA file will do.
    static let caFile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("BridgeVerificationTests/Fixtures/sns")
        .appendingPathComponent("SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem").path

    @Test func withoutSSLModeARemoteHostIsVerifyFull() throws {
        let hosts = [
            "db.example.com", "10.0.0.5", "128.0.0.1", "[2001:db8::1]", "[::2]", "localhost.example.com",
            "mylocalhost",
        ]
        for host in hosts {
            let url = try #require(PostgresDatabaseURL("postgres://u:pw@\(host):5432/db"), "\(host)")
            #expect(url.sslMode == .verifyFull && url.sslModeIsDefault, "\(host)")
            #expect(url.redacted == "postgres://u:***@\(host):5432/db?sslmode=verify-full")
            let plan = try url.tlsPlan(caFile: nil)
            #expect(plan.name == "require", "\(host)")
            guard let config = plan.configuration else { continue }
            #expect(config.certificateVerification == .fullVerification)
            #expect(config.trustRoots == .default)
        }
    }

    @Test func withoutSSLModeALoopbackHostKeepsPrefer() throws {
        let hosts = ["127.0.0.1", "127.1.2.3", "localhost", "LocalHost", "localhost.", "[::1]", "[::ffff:127.0.0.1]"]
        for host in hosts {
            let url = try #require(PostgresDatabaseURL("postgres://u:pw@\(host)/db"), "\(host)")
            #expect(url.sslMode == .prefer && url.sslModeIsDefault, "\(host)")
            let plan = try url.tlsPlan(caFile: nil)
            #expect(plan.name == "prefer", "\(host)")
            guard let config = plan.configuration else { continue }
            #expect(config.certificateVerification == .none)
        }
        // As the tests and CI connect (scripts/ci-postgres.sh, TestPostgres).
        #expect(PostgresDatabaseURL("postgres://postgres:pw@127.0.0.1:55432/bridge_test")?.sslMode == .prefer)
    }

    @Test func withoutSSLModeAUnixSocketKeepsPreferAndHasNoTLS() throws {
        let url = try #require(PostgresDatabaseURL("postgres://bridge:pw@%2Fvar%2Frun%2Fpostgresql:5433/bridge"))
        #expect(url.host == "/var/run/postgresql" && url.unixSocketPath == "/var/run/postgresql/.s.PGSQL.5433")
        #expect(url.sslMode == .prefer && url.sslModeIsDefault)
        #expect(url.redacted == "postgres://bridge:***@%2Fvar%2Frun%2Fpostgresql:5433/bridge?sslmode=prefer")
        #expect(try url.tlsPlan(caFile: nil).name == "disable")
        #expect(PostgresDatabaseURL("postgres://bridge@db.example.com/bridge")?.unixSocketPath == nil)
    }

    @Test func anExplicitSSLModeIsKeptWhateverTheHost() throws {
        let remote = try #require(PostgresDatabaseURL("postgres://bridge:pw@postgres:5432/bridge?sslmode=disable"))
        #expect(remote.sslMode == .disable && !remote.sslModeIsDefault)
        #expect(try remote.tlsPlan(caFile: nil).name == "disable")
        let local = try #require(PostgresDatabaseURL("postgres://bridge:pw@127.0.0.1/bridge?sslmode=verify-full"))
        #expect(local.sslMode == .verifyFull && !local.sslModeIsDefault)
        let prefer = try #require(PostgresDatabaseURL("postgres://bridge:pw@db.example.com/bridge?sslmode=prefer"))
        #expect(prefer.sslMode == .prefer)
    }

    /// The TLS each mode asks of postgres-nio: whether TLS is required, how the certificate is checked, against
    /// which CAs.
    @Test func eachModeMapsToItsTLSSettings() throws {
        let ca = Self.caFile
        let cases: [(mode: String, caFile: String?, use: String, check: String)] = [
            ("disable", nil, "disable", ""), ("prefer", nil, "prefer", "none"), ("require", nil, "require", "none"),
            ("verify-ca", nil, "require", "chain"), ("verify-full", nil, "require", "full"),
            ("prefer", ca, "prefer", "chain"), ("require", ca, "require", "chain"),
            ("verify-ca", ca, "require", "chain"), ("verify-full", ca, "require", "full"),
            ("disable", ca, "disable", ""),
        ]
        for c in cases {
            let url = try #require(
                PostgresDatabaseURL("postgres://bridge:pw@db.example.com/bridge?sslmode=\(c.mode)"))
            let plan = try url.tlsPlan(caFile: c.caFile)
            #expect(plan.name == c.use, "\(c)")
            guard let config = plan.configuration else { continue }
            switch c.check {
            case "none": #expect(config.certificateVerification == .none, "\(c)")
            case "chain": #expect(config.certificateVerification == .noHostnameVerification, "\(c)")
            default: #expect(config.certificateVerification == .fullVerification, "\(c)")
            }
            if c.caFile == nil {
                #expect(config.trustRoots == .default, "\(c)")
            } else if case .certificates(let certificates) = config.trustRoots {
                #expect(certificates.count == 1, "\(c)")
            } else {
                Issue.record("\(c): the CA file is not the trust root")
            }
        }
    }

    @Test func aMissingCAFileIsAnError() throws {
        let url = try #require(PostgresDatabaseURL("postgres://bridge:pw@db.example.com/bridge"))
        #expect(throws: (any Error).self) { try url.tlsPlan(caFile: "/nonexistent/ca.pem") }
    }

    @Test func aRepeatedParameterIsRefusedByName() {
        let cases = [
            ("sslmode=disable&sslmode=verify-full", "sslmode"),
            ("sslmode=verify-full&sslmode=verify-full", "sslmode"),
            ("schema=a&sslmode=require&schema=b", "schema"),
            ("application_name=x&application_name=y", "application_name"),
        ]
        for (query, name) in cases {
            let text = "postgres://bridge:hunter2-pw@db.example.com/bridge?\(query)"
            #expect(PostgresDatabaseURL(text) == nil)
            #expect(throws: PostgresDatabaseURL.ParseError(reason: .repeatedParameter(name))) {
                try PostgresDatabaseURL.parse(text)
            }
            do {
                _ = try PostgresDatabaseURL.parse(text)
            } catch {
                #expect("\(error)".contains("'\(name)' is given more than once"))
                #expect(!"\(error)".contains("hunter2"))
            }
        }
    }
}
