import Foundation
import Logging
import Synchronization
import Testing

@testable import BridgeBackfill
@testable import BridgeCore
@testable import BridgeDelivery
@testable import BridgeMapping
@testable import BridgeServer
@testable import BridgeStore

/// A clock whose sleeps return at once and move its time forward: the rate-limit waits are recorded, not waited.
final class RecordingClock: BridgeClock, Sendable {
    let slept = Mutex<[Duration]>([])

    func now() -> Date {
        let total = slept.withLock { $0.reduce(Duration.zero, +) }
        return Date().addingTimeInterval(Double(total.components.seconds))
    }

    func sleep(for duration: Duration) async { slept.withLock { $0.append(duration) } }

    var seconds: [Int64] { slept.withLock { $0.map(\.components.seconds) } }
}

/// `backfill` end to end: a fake GitHub and a fake GitLab over loopback HTTP, the shipped rule files, a running
/// bridge on the same SQLite file, and the fake Cloudthread it forwards to.
@Suite(.serialized)
struct BackfillTests {
    /// A shipped rule file without its `tests:` (their example bodies live beside the shipped files).
    static func shipped(_ name: String) throws -> String {
        let text = try String(contentsOfFile: "\(packageRoot)/mappings/\(name)", encoding: .utf8)
        return String(text.components(separatedBy: "\ntests:")[0]) + "\n"
    }

    /// A running bridge with the shipped github and gitlab rule files; `retentionDays` when given.
    static func harness(retentionDays: Double? = nil) async throws -> BridgeHarness {
        let h = try await BridgeHarness(
            rules: ["github.yaml": try shipped("github.yaml"), "gitlab.yaml": try shipped("gitlab.yaml")]
        ) { c in
            c.environment["GITHUB_WEBHOOK_SECRET"] = BridgeHarness.secret
            c.environment["GITLAB_WEBHOOK_SECRET"] = BridgeHarness.secret
            if let retentionDays { c.retentionDays = retentionDays }
        }
        try await h.start()
        return h
    }

    /// A reader of octo-org/octo-repo on the fake GitHub, with a token it accepts and a clock that never sleeps.
    static func githubReader(_ api: FakeProviderAPI, kind: GitHubReader.Kind = .deployments) throws -> GitHubReader {
        try GitHubReader(
            api: ProviderAPI(
                provider: .github, baseURL: api.githubURL, token: Secret("gh-token"), clock: RecordingClock()),
            repository: "octo-org/octo-repo", kind: kind)
    }

    /// Runs a backfill in this process on the harness's store while its bridge runs (as the CLI does beside `serve`).
    static func backfill(
        _ h: BridgeHarness, source: String, _ reader: any BackfillReader, window: BackfillWindow
    ) async throws -> BackfillRunner.Report {
        let c = h.configuration()
        let loaded = RuleLoader(environment: c.environment).load(path: c.mappingsPath)
        #expect(!loaded.diagnostics.hasErrors, "\(loaded.diagnostics)")
        let logger = Logger(label: "backfill-test") { _ in SwiftLogNoOpLogHandler() }
        let store = try await c.openStore(logger: logger)
        let ingestor = Ingestor(
            rules: RuleSet(sources: loaded.sources, files: loaded.files), store: store,
            mapper: Mapper(defaultStreamToken: c.streamToken, dryRun: false), metrics: NoMetrics(), logger: logger,
            aggregateRetention: c.aggregateRetention, dedupeWindow: c.retentionDays * 86400)
        do {
            let first = try await (store as? any SourceHistoryStore)?.firstReceived(source: source)
            let policy = BackfillPolicy.decide(
                firstReceived: first, now: Date(), dedupeWindow: c.retentionDays * 86400)
            let report = try await BackfillRunner(source: source, mode: .store(ingestor, policy)).run(
                reader, window: window, progress: BackfillProgress())
            await store.close()
            return report
        } catch {
            await store.close()
            throw error
        }
    }

    static func iso(_ d: Date) -> String { BackfillWindow.iso(d) }

    /// The start of the hour two days ago: every test deploy happens in the hours after it.
    static let hour: Date = {
        let t = Date().addingTimeInterval(-2 * 86400).timeIntervalSince1970
        return Date(timeIntervalSince1970: (t / 3600).rounded(.down) * 3600)
    }()

    static func at(_ minutes: Double) -> Date { hour.addingTimeInterval(minutes * 60) }

    static func ghDeployment(_ id: Int, _ environment: String, created: Date) -> JSONValue {
        .object([
            "id": .number(Double(id)), "sha": .string("a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d"),
            "ref": .string("main"), "task": .string("deploy"), "environment": .string(environment),
            "creator": .object(["login": .string("octocat")]), "created_at": .string(iso(created)),
            "updated_at": .string(iso(created)),
        ])
    }

    static func ghStatus(_ id: Int, _ state: String, _ environment: String, at: Date) -> JSONValue {
        .object([
            "id": .number(Double(id)), "state": .string(state), "environment": .string(environment),
            "creator": .object(["login": .string("deployer")]), "description": .string(""),
            "target_url": .string("https://ci.example.com/\(id)"), "created_at": .string(iso(at)),
            "updated_at": .string(iso(at)),
        ])
    }

    /// The `deployment_status` webhook GitHub sends live for a status.
    static func liveStatus(_ deployment: JSONValue, _ status: JSONValue) -> [UInt8] {
        Array(
            JSONValue.object([
                "action": .string("created"), "deployment_status": status, "deployment": deployment,
                "repository": .object([
                    "name": .string("octo-repo"), "full_name": .string("octo-org/octo-repo"),
                    "html_url": .string("https://github.example.com/octo-org/octo-repo"),
                ]),
                "sender": .object(["login": .string("deployer")]),
            ]).json.utf8)
    }

    /// Six deployments, newest first: two statuses (in progress, success) on one, none on another, one to staging,
    /// one created long before the window.
    static func seedGitHub(_ api: FakeProviderAPI) -> (deployments: [Int: JSONValue], statuses: [Int: JSONValue]) {
        let d101 = ghDeployment(101, "production", created: at(5))
        let d102 = ghDeployment(102, "production", created: at(20))
        let d103 = ghDeployment(103, "production", created: at(125))
        let d104 = ghDeployment(104, "production", created: at(180))
        let d105 = ghDeployment(105, "staging", created: at(240))
        let d106 = ghDeployment(106, "production", created: Date().addingTimeInterval(-100 * 86400))
        let s1011 = ghStatus(1011, "in_progress", "production", at: at(6))
        let s1012 = ghStatus(1012, "success", "production", at: at(10))
        let s1022 = ghStatus(1022, "success", "production", at: at(25))
        let s1032 = ghStatus(1032, "failure", "production", at: at(130))
        let s1052 = ghStatus(1052, "success", "staging", at: at(245))
        let s1062 = ghStatus(1062, "success", "production", at: Date().addingTimeInterval(-100 * 86400))
        api.state.withLock {
            $0.deployments = [d105, d104, d103, d102, d101, d106]
            $0.statuses = [101: [s1012, s1011], 102: [s1022], 103: [s1032], 104: [], 105: [s1052], 106: [s1062]]
        }
        return (
            [101: d101, 102: d102, 103: d103, 104: d104, 105: d105, 106: d106],
            [1011: s1011, 1012: s1012, 1022: s1022, 1032: s1032, 1052: s1052, 1062: s1062]
        )
    }

    static func window(environment: String? = nil) -> BackfillWindow {
        BackfillWindow(
            since: Date().addingTimeInterval(-10 * 86400), until: Date().addingTimeInterval(60),
            environment: environment)
    }

    @Test(
        "GitHub: statuses become events at their hours, the hourly sum counts a live webhook and a backfill once each, a second run and a later webhook add nothing"
    )
    func github() async throws {
        let api = FakeProviderAPI()
        try await api.start()
        let h = try await Self.harness()
        let (deployments, statuses) = Self.seedGitHub(api)

        // A live webhook of one status arrives before the backfill.
        let live = try await h.postGitHub("github", body: Self.liveStatus(deployments[102]!, statuses[1022]!))
        #expect(live.status == 202)

        // GitHub's rate limit is used up when the second page is asked for: the backfill waits for the reset.
        let reset = Int(Date().timeIntervalSince1970) + 30
        api.force("page=2", 403, [("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "\(reset)")])
        let clock = RecordingClock()
        let said = Mutex<[String]>([])
        let reader = try GitHubReader(
            api: ProviderAPI(
                provider: .github, baseURL: api.githubURL, token: Secret("gh-token"), clock: clock,
                say: { text in said.withLock { $0.append(text) } }),
            repository: "octo-org/octo-repo", kind: .deployments)
        let first = try await Self.backfill(h, source: "github", reader, window: Self.window())
        #expect(first.unmapped.isEmpty)
        #expect(first.counts.stored == 3)  // 1012, 1032, 1052
        #expect(first.counts.duplicates == 1)  // 1022, seen live
        #expect(first.counts.ignored == 1)  // 1011, in progress
        #expect(first.counts.withoutStatus == 1)  // 104
        #expect(first.counts.totalPages == 3)
        let waits = clock.seconds
        #expect(waits.count == 1 && (25...32).contains(waits.first ?? 0), "waits: \(waits)")
        #expect(said.withLock { $0.contains { $0.contains("rate limit") && $0.contains("waiting") } })
        // GitHub Enterprise's base URL is kept, and the deployment from 100 days ago is never asked about.
        #expect(api.requests.allSatisfy { $0.hasPrefix("/api/v3/repos/octo-org/octo-repo") })
        #expect(!api.requests.contains { $0.contains("/deployments/106/") })

        let hourText = CloudthreadTime.hour(Self.hour)
        let laterHour = CloudthreadTime.hour(Self.at(130))
        let success = ["repository": "octo-repo", "environment": "production", "result": "success"]
        let failure = ["repository": "octo-repo", "environment": "production", "result": "failure"]
        await h.eventually("four deploy events and the hourly sums") {
            h.fake.events.count == 4
                && h.fake.value(metric: "deployments", dimensions: success, timestamp: hourText) == 2
                && h.fake.value(metric: "deployments", dimensions: failure, timestamp: laterHour) == 1
        }
        let stamps = h.fake.events.compactMap { $0["timestamp"]?.stringValue }.sorted()
        #expect(
            stamps == [hourText, hourText, laterHour, CloudthreadTime.hour(Self.at(245))].sorted())

        // Run again: nothing new. Then the live webhook of a backfilled status: a duplicate.
        let second = try await Self.backfill(h, source: "github", reader, window: Self.window())
        #expect(second.counts.stored == 0)
        #expect(second.counts.duplicates == 4)
        let late = try await h.postGitHub("github", body: Self.liveStatus(deployments[105]!, statuses[1052]!))
        #expect(late.status == 200)
        #expect(late.body?["outcome"] == .string("duplicate"))
        try await Task.sleep(for: .milliseconds(500))
        #expect(h.fake.events.count == 4)
        #expect(h.fake.value(metric: "deployments", dimensions: success, timestamp: hourText) == 2)

        // The deliveries say where they came from.
        let keys = try await h.bridge.store.deliveries(limit: 10, source: "github").compactMap(\.deliveryKey)
        #expect(keys.contains("backfill:github:1012"))
        await h.finish()
        await api.stop()
    }

    @Test(
        "GitHub: --environment asks GitHub for that environment only; workflow runs map through the deploy-workflow rule"
    )
    func githubEnvironmentAndRuns() async throws {
        let api = FakeProviderAPI()
        try await api.start()
        let h = try await Self.harness()
        _ = Self.seedGitHub(api)
        let report = try await Self.backfill(
            h, source: "github", try Self.githubReader(api), window: Self.window(environment: "staging"))
        #expect(report.counts.stored == 1)
        #expect(report.counts.deploymentsRead == 1)
        #expect(api.requests.contains { $0.contains("/deployments?") && $0.contains("environment=staging") })

        let run: (Int, String, Int) -> JSONValue = { id, name, attempt in
            .object([
                "id": .number(Double(id)), "name": .string(name), "run_number": .number(7),
                "run_attempt": .number(Double(attempt)), "status": .string("completed"),
                "conclusion": .string("success"), "head_branch": .string("main"), "workflow_id": .number(9),
                "path": .string(".github/workflows/x.yml"),
                "html_url": .string("https://github.example.com/octo-org/octo-repo/actions/runs/\(id)"),
                "created_at": .string(Self.iso(Self.at(50))), "updated_at": .string(Self.iso(Self.at(55))),
                "actor": .object(["login": .string("octocat")]),
            ])
        }
        api.state.withLock { $0.runs = [run(301, "Deploy production", 2), run(302, "CI", 1)] }
        let runs = try await Self.backfill(
            h, source: "github", try Self.githubReader(api, kind: .workflowRuns), window: Self.window())
        #expect(runs.counts.stored == 1)
        #expect(runs.counts.ignored == 1)
        #expect(api.requests.contains { $0.contains("/actions/runs?") && $0.contains("status=completed") })
        let keys = try await h.bridge.store.deliveries(limit: 10, source: "github").compactMap(\.deliveryKey)
        #expect(keys.contains("backfill:github-run:301-2"))
        await h.eventually("the staging deploy and the workflow deploy") { h.fake.events.count == 2 }
        await h.finish()
        await api.stop()
    }

    @Test("A refused token stops the backfill with the scopes it needs (exit code 2)")
    func refusedTokens() async throws {
        let api = FakeProviderAPI()
        try await api.start()
        let window = Self.window()
        let github = try GitHubReader(
            api: ProviderAPI(
                provider: .github, baseURL: api.githubURL, token: Secret("wrong"), clock: RecordingClock()),
            repository: "octo-org/octo-repo", kind: .deployments)
        do {
            try await github.read(window, progress: BackfillProgress()) { _ in }
            Issue.record("a refused token must throw")
        } catch let error as BackfillError {
            #expect(error.reason == .authentication)
            #expect(error.exitCode == 2)
            #expect(error.detail.contains("401") && error.detail.contains("repo_deployment"))
            #expect(!error.detail.contains("wrong"))
        }
        let gitlab = try GitLabReader(
            api: ProviderAPI(
                provider: .gitlab, baseURL: api.gitlabURL + "/api/v4", token: Secret("wrong"), clock: RecordingClock()),
            project: "group/app")
        do {
            try await gitlab.read(window, progress: BackfillProgress()) { _ in }
            Issue.record("a refused token must throw")
        } catch let error as BackfillError {
            #expect(error.exitCode == 2)
            #expect(error.detail.contains("read_api"))
        }
        #expect(throws: BackfillError.self) {
            try GitHubReader(api: github.api, repository: "no-slash", kind: .deployments)
        }
        await api.stop()
    }

    static func glDeployment(_ id: Int, _ status: String, _ environment: String, finished: Date) -> JSONValue {
        .object([
            "id": .number(Double(id)), "iid": .number(Double(id - 200)), "ref": .string("main"),
            "sha": .string("279484c09fbe69ededfced8c1bb6e6d24616b468"), "status": .string(status),
            "created_at": .string(iso(finished.addingTimeInterval(-120))), "updated_at": .string(iso(finished)),
            "user": .object(["id": .number(1), "name": .string("User One"), "username": .string("user1")]),
            "environment": .object(["id": .number(5), "name": .string(environment)]),
            "deployable": .object([
                "id": .number(Double(id + 600)), "status": .string(status), "finished_at": .string(iso(finished)),
                "web_url": .string("https://gitlab.example.com/group/app/-/jobs/\(id + 600)"),
                "commit": .object(["title": .string("Add a file")]),
            ]),
        ])
    }

    @Test("GitLab: deployments become events, a 429 is waited out, the project path is URL-encoded, nothing twice")
    func gitlab() async throws {
        let api = FakeProviderAPI()
        try await api.start()
        let h = try await Self.harness()
        let d201 = Self.glDeployment(201, "success", "production", finished: Self.at(10))
        api.state.withLock {
            $0.gitlabDeployments = [
                d201, Self.glDeployment(202, "running", "production", finished: Self.at(15)),
                Self.glDeployment(203, "failed", "production", finished: Self.at(70)),
                Self.glDeployment(204, "success", "staging", finished: Self.at(80)),
            ]
        }
        api.force("page=2", 429, [("Retry-After", "7"), ("RateLimit-Remaining", "0")])
        let clock = RecordingClock()
        let reader = try GitLabReader(
            api: ProviderAPI(
                provider: .gitlab, baseURL: api.gitlabURL + "/api/v4", token: Secret("gl-token"), clock: clock),
            project: "group/app")
        let first = try await Self.backfill(h, source: "gitlab", reader, window: Self.window())
        #expect(first.unmapped.isEmpty)
        #expect(first.counts.stored == 3)
        #expect(first.counts.ignored == 1)
        #expect(clock.seconds == [7])
        #expect(api.requests.contains { $0.hasPrefix("/gitlab/api/v4/projects/group%2Fapp/deployments?") })
        let dims = ["service": "app", "environment": "production", "result": "success"]
        await h.eventually("three deploy events") {
            h.fake.events.count == 3
                && h.fake.value(metric: "deployments", dimensions: dims, timestamp: CloudthreadTime.hour(Self.hour))
                    == 1
        }
        let second = try await Self.backfill(h, source: "gitlab", reader, window: Self.window())
        #expect(second.counts.stored == 0)
        #expect(second.counts.duplicates == 3)

        // GitLab's live hook for deployment 201 (as GitLab sends it) is a duplicate.
        let liveBody = GitLabReader.payload(
            d201.objectValue!, project: .object(["name": .string("app"), "path_with_namespace": .string("group/app")]),
            webURL: "https://gitlab.example.com/group/app", environment: "production")
        let live = try await h.post(
            "/hooks/gitlab",
            headers: [
                ("Content-Type", "application/json"), ("X-Gitlab-Event", "Deployment Hook"),
                ("X-Gitlab-Token", BridgeHarness.secret),
            ], body: Array(liveBody.json.utf8))
        #expect(live.status == 200)
        try await Task.sleep(for: .milliseconds(500))
        #expect(h.fake.events.count == 3)
        await h.finish()
        await api.stop()
    }

    /// Two successful deploys in one hour `days` ago, on two deployments.
    static func seedOld(_ api: FakeProviderAPI, days: Double) -> Date {
        let t = Date().addingTimeInterval(-days * 86400).timeIntervalSince1970
        let old = Date(timeIntervalSince1970: (t / 3600).rounded(.down) * 3600)
        api.state.withLock {
            $0.deployments = [
                ghDeployment(402, "production", created: old.addingTimeInterval(20 * 60)),
                ghDeployment(401, "production", created: old.addingTimeInterval(5 * 60)),
            ]
            $0.statuses = [
                401: [ghStatus(4012, "success", "production", at: old.addingTimeInterval(10 * 60))],
                402: [ghStatus(4022, "success", "production", at: old.addingTimeInterval(30 * 60))],
            ]
        }
        return old
    }

    static func oldWindow() -> BackfillWindow {
        BackfillWindow(
            since: Date().addingTimeInterval(-90 * 86400), until: Date().addingTimeInterval(60), environment: nil)
    }

    @Test("An hour older than the aggregates kept is sent whole when the bridge never received that source then")
    func oldHoursOnANewBridge() async throws {
        let api = FakeProviderAPI()
        try await api.start()
        let h = try await Self.harness(retentionDays: 30)  // aggregates kept 35 days
        let old = Self.seedOld(api, days: 60)
        let reader = try Self.githubReader(api)
        let report = try await Self.backfill(h, source: "github", reader, window: Self.oldWindow())
        #expect(report.counts.stored == 2)
        #expect(report.notes.isEmpty, "\(report.notes)")
        let dims = ["repository": "octo-repo", "environment": "production", "result": "success"]
        await h.eventually("the old hour's full sum") {
            h.fake.value(metric: "deployments", dimensions: dims, timestamp: CloudthreadTime.hour(old)) == 2
                && h.fake.events.count == 2
        }
        await h.finish()
        await api.stop()
    }

    @Test("A bridge that received the source longer ago than its dedupe keys are kept skips deploys older than them")
    func oldDeploysOnAnOldBridge() async throws {
        let api = FakeProviderAPI()
        try await api.start()
        let h = try await Self.harness(retentionDays: 30)
        // A live delivery 29.5 days ago: webhooks of this source may have been stored (and their keys pruned) before.
        _ = try await h.bridge.store.record(
            NewDelivery(
                source: "github", deliveryKey: "live-1", receivedAt: Date().addingTimeInterval(-29.5 * 86400),
                status: .ignored, explanation: Explanation(source: "github")))
        _ = Self.seedOld(api, days: 45)
        let reader = try Self.githubReader(api)
        let report = try await Self.backfill(h, source: "github", reader, window: Self.oldWindow())
        #expect(report.counts.stored == 0)
        #expect(report.counts.tooOld == 2)
        #expect(
            BackfillPolicy.decide(firstReceived: nil, now: Self.hour, dedupeWindow: 30 * 86400)
                == BackfillPolicy(skipBefore: nil, fullHoursBefore: Self.hour))
        await h.finish()
        await api.stop()
    }
}

extension BackfillTests {
    @Test(
        "300 GitHub deployments and 300 GitLab deployments over 80 days: one delivery each, their events and hourly sums, nothing on a second run"
    )
    func threeHundredDeployments() async throws {
        let api = FakeProviderAPI()
        try await api.start()
        let h = try await Self.harness()
        let now = Date()
        // One deploy every 6.4 hours, newest first: some hours get none, none gets two.
        let times = (0..<300).map { now.addingTimeInterval(-Double($0 + 1) * 6.4 * 3600) }
        api.state.withLock {
            $0.pageSize = 100
            $0.deployments = times.enumerated().map { i, t in Self.ghDeployment(10_000 + i, "production", created: t) }
            for (i, t) in times.enumerated() {
                $0.statuses[10_000 + i] = [
                    Self.ghStatus(20_000 + i, "success", "production", at: t.addingTimeInterval(60))
                ]
            }
            $0.gitlabDeployments = times.reversed().enumerated().map { i, t in
                Self.glDeployment(30_000 + i, "success", "production", finished: t)
            }
        }
        let window = BackfillWindow(since: now.addingTimeInterval(-90 * 86400), until: now, environment: nil)
        let gh = try Self.githubReader(api)
        let gl = try GitLabReader(
            api: ProviderAPI(
                provider: .gitlab, baseURL: api.gitlabURL + "/api/v4", token: Secret("gl-token"),
                clock: RecordingClock()),
            project: "group/app")
        let github = try await Self.backfill(h, source: "github", gh, window: window)
        let gitlab = try await Self.backfill(h, source: "gitlab", gl, window: window)
        #expect(github.counts.stored == 300)
        #expect(gitlab.counts.stored == 300)
        #expect(github.counts.totalPages == 3)
        await h.eventually("600 events and every hour's sum", timeout: .seconds(60)) {
            h.fake.events.count == 600 && h.fake.points.values.reduce(0, +) == 600
        }
        // Each event at its status's hour.
        let hours = Set(h.fake.events.compactMap { $0["timestamp"]?.stringValue })
        #expect(
            hours
                == Set(times.map { CloudthreadTime.hour($0.addingTimeInterval(60)) }).union(
                    times.map { CloudthreadTime.hour($0) }))
        #expect(try await Self.backfill(h, source: "github", gh, window: window).counts.stored == 0)
        #expect(try await Self.backfill(h, source: "gitlab", gl, window: window).counts.stored == 0)
        try await Task.sleep(for: .milliseconds(300))
        #expect(h.fake.events.count == 600)
        await h.finish()
        await api.stop()
    }
}

/// The real binary: the summary, exit codes 0, 1 and 2, a second run, and the dry run.
@Suite("backfill command", .serialized)
struct BackfillCommandTests {
    @Test func exitCodesAndSummary() async throws {
        let api = FakeProviderAPI()
        try await api.start()
        _ = BackfillTests.seedGitHub(api)
        let data = NSTemporaryDirectory() + "ctb-backfill-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: data) }
        let env = [
            "GITHUB_TOKEN": "gh-token", "GITHUB_API_URL": api.githubURL, "CLOUDTHREAD_STREAM_TOKEN": "stream-token-1",
            "LOG_FORMAT": "text", "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin",
        ]
        let args = [
            "backfill", "--source", "github", "--repo", "octo-org/octo-repo", "--since", "10d",
            "--mappings", "mappings/github.yaml", "--data-dir", data,
        ]
        let dry = try await runCLI(args + ["--dry-run"], environment: env)
        #expect(dry.status == 0, "\(dry.output)")
        #expect(dry.output.contains("== backfill:github:1012"))
        #expect(!FileManager.default.fileExists(atPath: data + "/bridge.sqlite"))

        let first = try await runCLI(args, environment: env)
        #expect(first.status == 0, "\(first.output)")
        #expect(
            first.output.contains("4 stored (8 records queued for Cloudthread), 0 already stored"), "\(first.output)")
        #expect(first.output.contains("1 deployments without a status"))
        let second = try await runCLI(args, environment: env)
        #expect(second.status == 0)
        #expect(
            second.output.contains("0 stored (0 records queued for Cloudthread), 4 already stored"), "\(second.output)")
        // `deliveries --id N` shows where a delivery came from (the list is newest first: 4 is the last stored).
        let shown = try await runCLI(["deliveries", "--data-dir", data, "--id", "4"], environment: env)
        #expect(shown.output.contains("\"deliveryKey\" : \"backfill:github:"), "\(shown.output)")

        // A status whose time cannot be read: a rule matches and rejects every output, so exit 1 with the list.
        api.state.withLock {
            $0.statuses[104] = [
                .object([
                    "id": .number(1042), "state": .string("success"), "environment": .string("production"),
                    "created_at": .string(BackfillTests.iso(BackfillTests.at(190))), "updated_at": .string("soon"),
                ])
            ]
        }
        let third = try await runCLI(args, environment: env)
        #expect(third.status == 1, "\(third.output)")
        #expect(third.output.contains("1 could not be mapped"))
        #expect(third.output.contains("backfill:github:1042 (deployment 104 status 1042 (production, success))"))

        // A renamed source whose rule file uses the github preset is read from GitHub too.
        let renamed = data + "-mappings"
        try FileManager.default.createDirectory(atPath: renamed, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: renamed) }
        try BackfillTests.shipped("github.yaml").replacingOccurrences(
            of: "source: github\n", with: "source: github-prod\n"
        )
        .write(toFile: renamed + "/github-prod.yaml", atomically: true, encoding: .utf8)
        let prod = try await runCLI(
            [
                "backfill", "--source", "github-prod", "--repo", "octo-org/octo-repo", "--since", "10d", "--dry-run",
                "--mappings", renamed,
            ], environment: env)
        #expect(prod.status == 0, "\(prod.output)")
        #expect(prod.output.contains("== backfill:github:1052"))
        let notGitHub = try await runCLI(
            ["backfill", "--source", "alertmanager", "--repo", "octo-org/octo-repo", "--since", "10d", "--dry-run"],
            environment: env)
        #expect(notGitHub.status == 2)
        #expect(notGitHub.output.contains("does not use the github or gitlab preset"))

        var wrong = env
        wrong["GITHUB_TOKEN"] = "not-the-token"
        let refused = try await runCLI(args, environment: wrong)
        #expect(refused.status == 2)
        #expect(refused.output.contains("repo_deployment"))
        #expect(!refused.output.contains("not-the-token"))
        await api.stop()
    }
}
