import AsyncHTTPClient
import BridgeStoreTestKit
import Foundation
import NIOCore
import Testing

@testable import BridgeCore
@testable import BridgeDelivery
@testable import BridgeServer
@testable import BridgeVerification

/// Three real bridge processes on one PostgreSQL database (`TestPostgres`), against the fake Cloudthread.
@Suite(
    "PostgreSQL: replicas of the real binary", .serialized,
    .enabled(
        if: TestPostgres.isAvailable, "no PostgreSQL for the tests (the note at the start of the output says why)"))
struct PostgresReplicaTests {
    static let secret = "replica-secret"
    static let env = ProcessInfo.processInfo.environment

    /// Starts `n` replicas on a fresh schema, runs `body`, stops them with SIGTERM and expects each to exit within
    /// its graceful shutdown (bounded: a replica that does not is killed and the test fails, never hangs).
    static func withReplicas(
        _ n: Int, environment extra: [String: String] = [:],
        _ body: (FakeCloudthread, [BinaryBridge], String) async throws -> Void
    ) async throws {
        let base = try #require(TestPostgres.url)
        let schema = "r_" + UUID().uuidString.prefix(8).lowercased()
        let url = base + (base.contains("?") ? "&" : "?") + "schema=" + schema
        let dir = NSTemporaryDirectory() + "ctb-replicas-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/mappings", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try deployRules.write(toFile: dir + "/mappings/deploys.yaml", atomically: true, encoding: .utf8)
        let fake = FakeCloudthread()
        try await fake.start()
        let environment =
            [
                "TEST_WEBHOOK_SECRET": secret, "CLOUDTHREAD_API_KEY": "test-api-key",
                "CLOUDTHREAD_API_URL": fake.baseURL,
                "CLOUDTHREAD_STREAM_TOKEN": "stream-token-1", "BRIDGE_REFUSAL_LIMIT": "0",
                "BRIDGE_SHUTDOWN_TIMEOUT": "10",
            ].merging(extra) { _, b in b }
        let replicas = (0..<n).map { i in
            BinaryBridge(
                dataDirectory: dir + "/data\(i)", mappings: dir + "/mappings", environment: environment,
                extraArguments: ["--database-url", url])
        }
        do {
            for r in replicas { try await r.start() }
            try await body(fake, replicas, url)
        } catch {
            for r in replicas { _ = await r.stopWithin(0, signal: SIGKILL) }
            await fake.stop()
            throw error
        }
        for (i, r) in replicas.enumerated() where r.isRunning {
            let exited = await r.stopWithin(20)
            #expect(exited, "replica \(i) did not exit within 20 s of SIGTERM:\n\(r.output.suffix(4000))")
        }
        await fake.stop()
    }

    /// POSTs a signed webhook; the status, or nil when no answer came within `timeout` seconds.
    static func post(_ port: Int, id: String, body: [UInt8], timeout: Int64 = 20) async -> Int? {
        await postWithHeaders(port, id: id, body: body, timeout: timeout)?.status
    }

    static func postWithHeaders(
        _ port: Int, id: String, body: [UInt8], timeout: Int64 = 20
    ) async -> (status: Int, headers: [String: String])? {
        let signature = "sha256=" + ByteEncoding.hex(Crypto.hmac(.sha256, key: Array(secret.utf8), data: body))
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/hooks/deploys")
        request.method = .POST
        for (n, v) in [
            ("Content-Type", "application/json"), ("X-GitHub-Event", "deployment_status"), ("X-GitHub-Delivery", id),
            ("X-Hub-Signature-256", signature),
        ] {
            request.headers.add(name: n, value: v)
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(timeout)) else {
            return nil
        }
        _ = try? await response.body.collect(upTo: 1 << 20)
        var fields: [String: String] = [:]
        for h in response.headers { fields[h.name.lowercased()] = h.value }
        return (Int(response.status.code), fields)
    }

    /// `/readyz`'s status, or nil without an answer within 10 s.
    static func readiness(_ port: Int) async -> Int? {
        let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/readyz")
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(10)) else { return nil }
        _ = try? await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }

    static var thisHour: String { String(CloudthreadTime.hour(Date()).prefix(13)) + ":05:00Z" }

    static func body(_ id: String) -> [UInt8] {
        deployBody(at: thisHour.replacingOccurrences(of: " ", with: "T"), url: "https://ci.example.com/run/\(id)")
    }

    /// The hourly Sums of `dimensions` (a test may cross an hour).
    static func total(_ fake: FakeCloudthread, _ dimensions: [String: String]) -> Double {
        fake.points.filter { $0.key.metric == "deployments" && $0.key.dimensions == dimensions }.map(\.value)
            .reduce(0, +)
    }

    /// The `event_url`s of the events the fake Cloudthread received.
    static func eventURLs(_ fake: FakeCloudthread) -> Set<String> {
        Set(
            fake.events.compactMap { e -> String? in
                guard case .object(let p)? = e["payload"], case .string(let u)? = p["event_url"] else { return nil }
                return u
            })
    }

    static func note(_ text: String) {
        FileHandle.standardError.write(Data("[postgres] \(text)\n".utf8))
    }

    /// 3 replicas under load from 8 senders; replica 2 is SIGKILLed after 2 s and PostgreSQL restarted (fast
    /// shutdown) after 3.5 s; every webhook is sent until it is settled (202, or 200 for one stored by an earlier
    /// attempt whose answer was lost), and every 202 is redelivered to another live replica, which must answer 200.
    /// Every wait is bounded: it fails, never hangs, and takes about 40 s on 2 cores.
    @Test(
        .enabled(
            if: PostgresCluster.isAvailable,
            "no PostgreSQL cluster the tests may restart (the note at the start of the output says why)"),
        .timeLimit(.minutes(3)))
    func underLoadWithAKillAndADatabaseRestartEveryAcknowledgedWebhookCountsOnce() async throws {
        let cluster = try #require(PostgresCluster.fromEnvironment)
        let started = Date()
        // A short lease, so that what replica 2 had claimed when it was killed is sent by another within the test.
        try await Self.withReplicas(3, environment: ["BRIDGE_LEASE_SECONDS": "8", "LOG_LEVEL": "notice"]) {
            fake, replicas, _ in
            let ports = replicas.map(\.port)
            let acknowledged = Collected()
            let settled = Collected()
            let unsettled = Collected()
            let redeliveries = Collected()
            let events = Collected()
            let stopAt = Date().addingTimeInterval(6)
            let settleBy = stopAt.addingTimeInterval(30)
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        var n = 0
                        while Date() < stopAt {
                            n += 1
                            let id = "w\(worker)-\(n)-\(UUID().uuidString.prefix(6))"
                            let body = Self.body(id)
                            var attempt = 0
                            var done = false
                            while !done && Date() < settleBy {
                                let live = events.all.contains("killed") ? [0, 1] : [0, 1, 2]
                                let i = live[(worker + n + attempt) % live.count]
                                attempt += 1
                                switch await Self.post(ports[i], id: id, body: body, timeout: 15) {
                                case 202:
                                    acknowledged.append(id)
                                    settled.append(id)
                                    done = true
                                    // The sender redelivers it to another live replica: a duplicate.
                                    let other = live[(live.firstIndex(of: i)! + 1) % live.count]
                                    let again = await Self.post(ports[other], id: id, body: body, timeout: 15)
                                    redeliveries.append(again.map(String.init) ?? "no answer")
                                case 200:
                                    settled.append(id)
                                    done = true
                                default:
                                    try? await Task.sleep(for: .milliseconds(200))
                                }
                            }
                            if !done { unsettled.append(id) }
                        }
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: .seconds(2))
                    events.append("killed")
                    _ = await replicas[2].stopWithin(5, signal: SIGKILL)
                    Self.note("replica 2 killed, \(acknowledged.all.count) acknowledged so far")
                    try? await Task.sleep(for: .seconds(1.5))
                    let status = await cluster.restart()
                    events.append("restart \(status.map(String.init) ?? "timed out")")
                    Self.note("PostgreSQL restarted (pg_ctl: \(status.map(String.init) ?? "timed out"))")
                }
            }
            await cluster.ensureRunning()
            let acked = Set(acknowledged.all)
            let stored = Set(settled.all)
            Self.note(
                "load over after \(Int(Date().timeIntervalSince(started))) s: \(acked.count) acknowledged, "
                    + "\(stored.count) stored, \(unsettled.all.count) unsettled, redeliveries: "
                    + "\(Dictionary(grouping: redeliveries.all) { $0 }.mapValues(\.count))")
            #expect(events.all.contains { $0 == "restart 0" || $0 == "restart -1" }, "\(events.all)")
            #expect(acked.count > 50, "only \(acked.count) webhooks were acknowledged")
            #expect(unsettled.all.isEmpty, "never settled: \(unsettled.all)")
            #expect(redeliveries.all.contains("200"))
            #expect(!redeliveries.all.contains("202"), "a redelivery was stored twice: \(redeliveries.all)")
            let key = ["service": "api", "environment": "production"]
            let deadline = Date().addingTimeInterval(45)
            var sum = Self.total(fake, key)
            var missing = acked.count
            while Date() < deadline {
                sum = Self.total(fake, key)
                let urls = Self.eventURLs(fake)
                missing = acked.filter { !urls.contains("https://ci.example.com/run/\($0)") }.count
                if sum == Double(stored.count) && missing == 0 { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            Self.note(
                "drained after \(Int(Date().timeIntervalSince(started))) s: Sum \(sum) of \(stored.count), "
                    + "\(missing) acknowledged events missing")
            #expect(sum == Double(stored.count), "Sum \(sum), webhooks stored \(stored.count)")
            #expect(missing == 0, "\(missing) acknowledged events never reached Cloudthread")
        }
    }

    /// Issue 10 point 7: PostgreSQL stopped (fast shutdown) makes a new webhook 503 with Retry-After (and stores
    /// nothing of it) and /readyz 503; started again, the bridge takes webhooks and is ready again by itself.
    @Test(
        .enabled(
            if: PostgresCluster.isAvailable,
            "no PostgreSQL cluster the tests may restart (the note at the start of the output says why)"),
        .timeLimit(.minutes(2)))
    func whilePostgresIsDownWebhooksAre503AndTheBridgeRecoversByItself() async throws {
        let cluster = try #require(PostgresCluster.fromEnvironment)
        try await Self.withReplicas(1) { fake, replicas, _ in
            let port = replicas[0].port
            #expect(await Self.post(port, id: "before", body: Self.body("before")) == 202)
            #expect(await Self.readiness(port) == 200)
            let stopped = await cluster.stop()
            do {
                try #require(stopped == 0 || stopped == -1, "pg_ctl stop: \(stopped.map(String.init) ?? "timed out")")
                // The first webhook finds out (a connection attempt refused until the store's deadline).
                let first = await Self.postWithHeaders(port, id: "during", body: Self.body("during"))
                #expect(first?.status == 503, "\(String(describing: first))")
                #expect(first?.headers["retry-after"] != nil)
                var ready = await Self.readiness(port)
                let readyBy = Date().addingTimeInterval(15)
                while ready != 503 && Date() < readyBy {
                    try await Task.sleep(for: .milliseconds(250))
                    ready = await Self.readiness(port)
                }
                #expect(ready == 503, "/readyz answered \(String(describing: ready)) with PostgreSQL down")
                // Known unavailable, the store answers quickly (before a sender's own timeout).
                let t0 = Date()
                let second = await Self.postWithHeaders(port, id: "during-2", body: Self.body("during-2"))
                let seconds = Date().timeIntervalSince(t0)
                #expect(second?.status == 503 && second?.headers["retry-after"] != nil, "\(String(describing: second))")
                #expect(seconds < 5, "a webhook took \(seconds) s to be refused while PostgreSQL was known down")
                Self.note("PostgreSQL down: 503 with Retry-After, /readyz 503, refused in \(seconds) s")
            } catch {
                await cluster.ensureRunning()
                throw error
            }
            let startedAgain = await cluster.start()
            await cluster.ensureRunning()
            #expect(startedAgain == 0 || startedAgain == -1, "pg_ctl start: \(String(describing: startedAgain))")
            let back = Date()
            let recoverBy = back.addingTimeInterval(30)
            // The webhook refused during the outage was not stored: sent again, it is new (202, not 200).
            var status = await Self.post(port, id: "during", body: Self.body("during"), timeout: 15)
            while status != 202 && Date() < recoverBy {
                try await Task.sleep(for: .milliseconds(250))
                status = await Self.post(port, id: "during", body: Self.body("during"), timeout: 15)
            }
            #expect(status == 202, "after PostgreSQL came back: \(String(describing: status))")
            var ready = await Self.readiness(port)
            while ready != 200 && Date() < recoverBy {
                try await Task.sleep(for: .milliseconds(250))
                ready = await Self.readiness(port)
            }
            #expect(ready == 200, "/readyz after PostgreSQL came back: \(String(describing: ready))")
            Self.note("recovered \(Date().timeIntervalSince(back)) s after PostgreSQL was started again")
            // And what was stored before and after is sent.
            let deadline = Date().addingTimeInterval(20)
            var urls = Self.eventURLs(fake)
            while !urls.isSuperset(of: ["https://ci.example.com/run/before", "https://ci.example.com/run/during"])
                && Date() < deadline
            {
                try await Task.sleep(for: .milliseconds(250))
                urls = Self.eventURLs(fake)
            }
            #expect(urls.contains("https://ci.example.com/run/during"), "\(urls)")
        }
    }

    @Test func theSameDeliveryToTwoReplicasAtOnceIsAnswered202Once() async throws {
        try await Self.withReplicas(2) { fake, replicas, _ in
            for round in 0..<10 {
                let id = "race-\(round)-\(UUID().uuidString)"
                let body = Self.body(id)
                let statuses = await withTaskGroup(of: Int?.self) { group in
                    for r in replicas { group.addTask { await Self.post(r.port, id: id, body: body) } }
                    var all: [Int?] = []
                    for await s in group { all.append(s) }
                    return all
                }
                #expect(statuses.compactMap { $0 }.sorted() == [200, 202], "round \(round): \(statuses)")
            }
        }
    }

    @Test func aThousandConcurrentObservationsOfOneHourOnThreeReplicasSumToAThousand() async throws {
        try await Self.withReplicas(3) { fake, replicas, _ in
            let ports = replicas.map(\.port)
            let accepted = Collected()
            await withTaskGroup(of: Void.self) { group in
                for worker in 0..<25 {
                    group.addTask {
                        for n in 0..<40 {
                            let id = "obs-\(worker)-\(n)"
                            if await Self.post(ports[(worker + n) % 3], id: id, body: Self.body(id)) == 202 {
                                accepted.append(id)
                            }
                        }
                    }
                }
            }
            #expect(accepted.all.count == 1000)
            let key = ["service": "api", "environment": "production"]
            let deadline = Date().addingTimeInterval(60)
            var sum: Double?
            while Date() < deadline {
                sum = Self.total(fake, key)
                if sum == 1000 { break }
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(sum == 1000)
        }
    }
}
