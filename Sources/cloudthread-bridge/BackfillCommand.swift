import ArgumentParser
import BridgeBackfill
import BridgeCore
import BridgeDelivery
import BridgeMapping
import BridgeServer
import BridgeStore
import Foundation
import Logging
import Synchronization

struct Backfill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Read past deploys from GitHub or GitLab and store them through a source's rules, as its webhooks.",
        discussion: """
            GitHub (a source whose rule file uses the github preset): --repo OWNER/NAME, token GITHUB_TOKEN, API \
            GITHUB_API_URL (GitHub Enterprise: https://HOST/api/v3). GitLab (gitlab or gitlab-signing preset): \
            --project GROUP/NAME, token GITLAB_TOKEN, GITLAB_URL (default https://gitlab.com). Each status (each \
            workflow run, each GitLab deployment) is stored once, under backfill:github:<status id> (and so on); a \
            second run, or a later live webhook of the same deploy, stores nothing. Exit codes: 0 done, 1 some \
            deployments could not be mapped (listed), 2 a usage or authentication error. See docs/backfill.md.
            """)

    @Option(help: "The source (rule file) to map through; its rule file must use the github or gitlab preset.")
    var source: String
    @Option(help: "GitHub: the repository, OWNER/NAME.") var repo: String?
    @Option(help: "GitLab: the project, GROUP/NAME (subgroups allowed).") var project: String?
    @Option(help: "Only deployments to this environment.") var environment: String?
    @Option(help: "Start: a duration back from now (90d, 36h, 2w) or a date (2026-09-01, or RFC 3339).")
    var since: String
    @Option(help: "End (excluded): a date or a duration back from now (default: now).") var until: String?
    @Option(
        help:
            "GitHub: what to read, 'deployments' (deployment statuses) or 'workflow-runs' (completed Actions runs, for teams that deploy from Actions without deployments)."
    )
    var kind: String = "deployments"
    @Flag(help: "Print what would be stored, like try, and store nothing.") var dryRun = false
    @OptionGroup var mappings: MappingsOption
    @OptionGroup var data: DataDirOption

    func fail(_ message: String, code: Int32) -> ExitCode {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        return ExitCode(code)
    }

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        BridgeLogging.bootstrap(environment: env)
        let logger = Logger(label: "cloudthread-bridge.backfill")
        let now = Date()
        guard let start = BackfillTime.parse(since, now: now) else {
            throw fail("--since '\(since)' is neither a duration (90d, 36h, 2w) nor a date (2026-09-01)", code: 2)
        }
        let end: Date
        if let until {
            guard let e = BackfillTime.parse(until, now: now) else {
                throw fail("--until '\(until)' is neither a duration (7d) nor a date (2026-11-01)", code: 2)
            }
            end = e
        } else {
            end = now
        }
        guard start < end else { throw fail("--since must be before --until", code: 2) }

        let loaded = RuleLoader(environment: env).load(path: mappings.path)
        for d in loaded.diagnostics where d.severity == .error { FileHandle.standardError.write(Data("\(d)\n".utf8)) }
        if loaded.diagnostics.hasErrors { throw fail("the rule files have errors (above)", code: 2) }
        guard let definition = loaded.sources.first(where: { $0.name == source }) else {
            throw fail(
                "no source '\(source)' in \(mappings.path) (sources: "
                    + "\(loaded.sources.map(\.name).sorted().joined(separator: ", ")))", code: 2)
        }

        let onTerminal = isatty(STDERR_FILENO) == 1
        let line = ProgressLine(enabled: onTerminal)
        let say: @Sendable (String) -> Void = { text in
            if onTerminal { line.message(text) } else { logger.notice("\(text)") }
        }
        let reader: any BackfillReader
        do {
            reader = try makeReader(definition, env: env, say: say)
        } catch let error as BackfillError {
            throw fail(error.detail, code: error.exitCode)
        }
        let window = BackfillWindow(since: start, until: end, environment: environment)
        let target = repo ?? project ?? ""
        let progress = BackfillProgress { counts in line.update(counts) }
        line.start()

        let report: BackfillRunner.Report
        do {
            if dryRun {
                let mapper = Mapper(defaultStreamToken: env["CLOUDTHREAD_STREAM_TOKEN"].map(Secret.init), dryRun: true)
                let runner = BackfillRunner(
                    source: source, mode: .dryRun(definition, mapper, print: { text in print(text) }))
                report = try await runner.run(reader, window: window, progress: progress, now: now)
            } else {
                report = try await store(
                    definition, loaded: loaded, reader: reader, window: window, progress: progress,
                    env: env, logger: logger, onTerminal: onTerminal, now: now)
            }
        } catch let error as BackfillError {
            line.finish()
            throw fail(
                error.detail
                    + (error.reason == .authentication || error.reason == .usage
                        ? "" : "; what was stored so far stays, run the same command again to continue"),
                code: error.exitCode)
        }
        line.finish()
        print(summary(report, target: target, start: window.since, end: window.until))
        if !report.unmapped.isEmpty { throw ExitCode(1) }
    }

    func makeReader(
        _ definition: SourceDefinition, env: [String: String], say: @escaping @Sendable (String) -> Void
    ) throws -> any BackfillReader {
        let preset = definition.preset ?? ""
        func value(_ name: String) -> String? { env[name].flatMap { $0.isEmpty ? nil : $0 } }
        switch preset {
        case "github":
            guard let repo else {
                throw BackfillError(.usage, "source '\(source)' uses the github preset: give --repo OWNER/NAME")
            }
            if project != nil { throw BackfillError(.usage, "--project is for GitLab sources; use --repo") }
            guard let kind = GitHubReader.Kind(rawValue: kind) else {
                throw BackfillError(.usage, "--kind must be deployments or workflow-runs, not '\(kind)'")
            }
            if kind == .workflowRuns, environment != nil {
                throw BackfillError(
                    .usage, "--environment filters deployments; workflow runs have no environment (leave it out)")
            }
            guard let token = value("GITHUB_TOKEN") else {
                throw BackfillError(
                    .authentication,
                    "GITHUB_TOKEN is not set: give it a token with the repo_deployment scope (repo for a private "
                        + "repository; Actions read for workflow runs)")
            }
            let api = ProviderAPI(
                provider: .github, baseURL: value("GITHUB_API_URL") ?? "https://api.github.com", token: Secret(token),
                say: say)
            return try GitHubReader(api: api, repository: repo, kind: kind)
        case "gitlab", "gitlab-signing":
            guard let project else {
                throw BackfillError(.usage, "source '\(source)' uses the \(preset) preset: give --project GROUP/NAME")
            }
            if repo != nil { throw BackfillError(.usage, "--repo is for GitHub sources; use --project") }
            if kind != "deployments" { throw BackfillError(.usage, "--kind is for GitHub sources") }
            guard let token = value("GITLAB_TOKEN") else {
                throw BackfillError(
                    .authentication, "GITLAB_TOKEN is not set: give it a token with the read_api scope")
            }
            var base = value("GITLAB_URL") ?? "https://gitlab.com"
            while base.hasSuffix("/") { base.removeLast() }
            if !base.hasSuffix("/api/v4") { base += "/api/v4" }
            let api = ProviderAPI(provider: .gitlab, baseURL: base, token: Secret(token), say: say)
            return try GitLabReader(api: api, project: project)
        default:
            throw BackfillError(
                .usage,
                "source '\(source)' does not use the github or gitlab preset (its rule file says "
                    + "\(definition.preset.map { "preset: \($0)" } ?? "no preset")); backfill reads GitHub and GitLab")
        }
    }

    func store(
        _ definition: SourceDefinition, loaded: RuleLoader.Result, reader: any BackfillReader, window: BackfillWindow,
        progress: BackfillProgress, env: [String: String], logger: Logger, onTerminal: Bool, now: Date
    ) async throws -> BackfillRunner.Report {
        let configuration = try data.configuration(env)
        if configuration.streamToken == nil && definition.streamTokens.isEmpty {
            logger.warning(
                """
                CLOUDTHREAD_STREAM_TOKEN is not set: metrics of rules without their own stream_token are not stored \
                (run backfill with the bridge's settings)
                """)
        }
        var storeLogger = logger
        storeLogger.logLevel = .warning
        let store = try await configuration.openStore(logger: storeLogger)
        let ingestor = Ingestor(
            rules: RuleSet(sources: loaded.sources, files: loaded.files), store: store,
            mapper: Mapper(defaultStreamToken: configuration.streamToken, dryRun: false), metrics: NoMetrics(),
            logger: storeLogger, aggregateRetention: configuration.aggregateRetention,
            dedupeWindow: configuration.retentionDays * 86400)
        let policy: BackfillPolicy
        do {
            let first = try await (store as? any SourceHistoryStore)?.firstReceived(source: source)
            policy = BackfillPolicy.decide(
                firstReceived: first, now: now, dedupeWindow: configuration.retentionDays * 86400)
        } catch {
            await store.close()
            throw BackfillError(.unavailable, "the store cannot be read: \(error)")
        }
        if let skip = policy.skipBefore, skip > window.since {
            let text =
                "this bridge has received \(source) webhooks for longer than its dedupe keys are kept "
                + "(BRIDGE_RETENTION_DAYS): deploys before \(BackfillTime.iso(skip)) are skipped, since one of "
                + "them may have been stored live and its key pruned since"
            logger.notice("\(text)")
        }
        let runner = BackfillRunner(source: source, mode: .store(ingestor, policy)) { text in
            if !onTerminal { logger.info("\(text)") }
        }
        do {
            let report = try await runner.run(reader, window: window, progress: progress, now: now)
            await store.close()
            return report
        } catch {
            await store.close()
            throw error
        }
    }

    func summary(_ r: BackfillRunner.Report, target: String, start: Date, end: Date) -> String {
        let c = r.counts
        let what = kind == "workflow-runs" ? "workflow runs" : "deployments"
        var out =
            "\(dryRun ? "dry run: " : "")\(source) \(target) from \(BackfillTime.iso(start)) to \(BackfillTime.iso(end)): "
            + "\(c.deploymentsRead) \(what) read, \(c.built) deliveries built; "
            + (dryRun
                ? "\(c.stored) would be stored (\(c.recordsQueued) records), \(c.ignored) matched no rule"
                : "\(c.stored) stored (\(c.recordsQueued) records queued for Cloudthread), \(c.duplicates) already "
                    + "stored, \(c.ignored) matched no rule (not stored)")
        if c.withoutStatus > 0 { out += ", \(c.withoutStatus) deployments without a status" }
        if c.tooOld > 0 { out += ", \(c.tooOld) skipped as older than the dedupe keys kept" }
        out += ".\n"
        if !r.notes.isEmpty {
            out += "\(r.notes.count) stored deliveries left outputs out:\n"
            for n in r.notes.prefix(20) { out += "  \(n)\n" }
            if r.notes.count > 20 { out += "  … and \(r.notes.count - 20) more\n" }
        }
        if !r.unmapped.isEmpty {
            out += "\(r.unmapped.count) could not be mapped (not stored):\n"
            for u in r.unmapped { out += "  \(u.key) (\(u.label)): \(u.reasons.joined(separator: "; "))\n" }
        }
        if !dryRun && c.stored > 0 {
            out += "A running bridge sends the stored records within its next poll; otherwise `serve` sends them.\n"
        }
        return out
    }
}

/// `--since` and `--until`: `90d`, `36h`, `2w` back from now, or a date (`2026-09-01`, RFC 3339).
enum BackfillTime {
    static func parse(_ text: String, now: Date) -> Date? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if let unit = t.last, let n = Double(t.dropLast()), n >= 0 {
            switch unit {
            case "h": return now.addingTimeInterval(-n * 3600)
            case "d": return now.addingTimeInterval(-n * 86400)
            case "w": return now.addingTimeInterval(-n * 7 * 86400)
            default: break
            }
        }
        if t.count == 10, let d = TimeParsing.parse(t + "T00:00:00Z") { return d }
        return TimeParsing.parse(t)
    }

    static func iso(_ date: Date) -> String {
        var f = Date.ISO8601FormatStyle()
        f.timeZone = TimeZone(identifier: "UTC")!
        return date.formatted(f)
    }
}

/// The progress line on a terminal (standard error): rewritten at most ten times a second; messages (rate-limit
/// waits) go above it. Off a terminal it does nothing.
final class ProgressLine: Sendable {
    struct State {
        var started = Date()
        var lastDraw = Date.distantPast
        var counts = BackfillCounts()
        var drawn = false
    }

    let enabled: Bool
    private let state = Mutex(State())

    init(enabled: Bool) { self.enabled = enabled }

    func start() { state.withLock { $0.started = Date() } }

    func update(_ counts: BackfillCounts) {
        guard enabled else { return }
        let text: String? = state.withLock { s in
            s.counts = counts
            let now = Date()
            guard now.timeIntervalSince(s.lastDraw) >= 0.1 else { return nil }
            s.lastDraw = now
            s.drawn = true
            return Self.render(s, now: now)
        }
        if let text { FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8)) }
    }

    func message(_ text: String) {
        let redraw: String = state.withLock { Self.render($0, now: Date()) }
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)\n\(redraw)".utf8))
    }

    func finish() {
        guard enabled else { return }
        let text = state.withLock { Self.render($0, now: Date()) }
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + text + "\n").utf8))
    }

    static func render(_ s: State, now: Date) -> String {
        let c = s.counts
        var text =
            "deployments read \(c.deploymentsRead) · stored \(c.stored) · already stored \(c.duplicates)"
            + " · records queued \(c.recordsQueued)"
        if let total = c.totalPages, total > 0, c.pagesRead > 0 {
            text += " · page \(c.pagesRead)/\(total)"
            let elapsed = now.timeIntervalSince(s.started)
            let left = elapsed / Double(c.pagesRead) * Double(max(total - c.pagesRead, 0))
            text +=
                left < 60
                ? " · about \(Int(left.rounded(.up))) s left" : " · about \(Int((left / 60).rounded(.up))) min left"
        }
        return text
    }
}
