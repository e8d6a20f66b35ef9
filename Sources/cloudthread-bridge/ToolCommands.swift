import ArgumentParser
import BridgeCI
import BridgeCore
import BridgeDelivery
import BridgeMapping
import BridgeServer
import BridgeStore
import BridgeStoreSQLite
import BridgeVerification
import Foundation
import Logging

/// Finds a source's verification scheme: from its rule file, or from a preset name.
func scheme(source: String?, preset: String?, mappings: MappingsOption) throws -> (VerificationScheme, String) {
    if let preset {
        guard let p = VerificationPreset.named(preset) else {
            throw ValidationError(
                "unknown preset '\(preset)' (presets: \(VerificationPreset.names.joined(separator: ", ")))")
        }
        return (p.scheme, preset)
    }
    guard let source else { throw ValidationError("give --source (a rule file's source) or --preset") }
    let loaded = RuleLoader(environment: ProcessInfo.processInfo.environment).load(path: mappings.path)
    if let def = loaded.sources.first(where: { $0.name == source }), let v = def.verifier {
        return (v.scheme, source)
    }
    if let p = VerificationPreset.named(source) { return (p.scheme, source) }
    throw ValidationError("no source '\(source)' in \(mappings.path) and no preset of that name")
}

func secretFromEnvironment(_ variable: String) throws -> Secret {
    guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else {
        throw ValidationError("the secret variable \(variable) is not set")
    }
    return Secret(value)
}

struct Sign: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the headers a source expects for a body (for tools that cannot sign).")

    @Option(help: "The source whose scheme to use (its rule file), or use --preset.") var source: String?
    @Option(help: "A verification preset name instead of a source.") var preset: String?
    @Option(help: "The body file ('-' for standard input).") var body: String
    @Option(help: "Environment variable holding the secret (default <SOURCE>_WEBHOOK_SECRET).") var secretEnv: String?
    @Option(help: "Basic-auth user, for basic sources.") var user: String?
    @Option(help: "Output: 'headers' (Name: value lines) or 'curl' (-H arguments).") var format: String = "headers"
    @OptionGroup var mappings: MappingsOption

    func run() async throws {
        var (s, name) = try scheme(source: source, preset: preset, mappings: mappings)
        if case .basic = s {
            s = .basic(user: user ?? ProcessInfo.processInfo.environment["\(envName(name))_WEBHOOK_USER"] ?? "")
        }
        let secret = try secretFromEnvironment(secretEnv ?? "\(envName(name))_WEBHOOK_SECRET")
        let headers = try Signer(scheme: s, secret: secret).headers(for: try readBody(body))
        for (n, v) in headers {
            print(format == "curl" ? "-H '\(n): \(v)'" : "\(n): \(v)")
        }
    }
}

func envName(_ source: String) -> String { source.uppercased().replacingOccurrences(of: "-", with: "_") }

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build, sign and post a deploy or incident webhook to a running bridge (for CI steps).",
        discussion:
            "Defaults come from the CI system's variables (GitHub Actions, GitLab CI, Jenkins, CircleCI, Buildkite). The secret is read from CI_WEBHOOK_SECRET (or --secret-env)."
    )

    @Option(help: "Bridge base URL (env BRIDGE_URL, default http://localhost:8080).") var url: String?
    @Option(help: "Source to post to (default ci).") var source: String = "ci"
    @Option(help: "deploy, rollback or incident.") var kind: String = "deploy"
    @Option(help: "Service name (default: from the CI variables).") var service: String?
    @Option(help: "Environment, e.g. production.") var environment: String?
    @Option(help: "Version or release.") var version: String?
    @Option(help: "success, failure, started, triggered, resolved, ...") var status: String = "success"
    @Option(help: "Incident severity.") var severity: String?
    @Option(help: "Free text for the chart annotation.") var description: String?
    @Option(name: .customLong("link"), help: "Link to the run, deploy or incident (default: the CI run URL).") var link:
        String?
    @Option(help: "Environment variable holding the secret (default CI_WEBHOOK_SECRET).") var secretEnv: String?
    @Option(help: "Verification preset of the target source (default: the ci preset).") var preset: String = "ci"
    @Flag(help: "Print the request instead of sending it.") var dryRun = false

    func validate() throws {
        guard ["deploy", "rollback", "incident"].contains(kind) else {
            throw ValidationError("--kind must be deploy, rollback or incident")
        }
    }

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        var webhook = CIWebhook.fromCIEnvironment(env)
        webhook.kind = kind
        webhook.status = status
        if let service { webhook.service = service }
        if let environment { webhook.environment = environment }
        if let version { webhook.version = version }
        if let severity { webhook.severity = severity }
        if let description { webhook.description = description }
        if let link { webhook.url = link }
        guard webhook.service != nil else {
            throw ValidationError("no service: pass --service (no CI variables name one)")
        }
        guard let p = VerificationPreset.named(preset) else { throw ValidationError("unknown preset '\(preset)'") }
        let secret = try secretFromEnvironment(secretEnv ?? "CI_WEBHOOK_SECRET")
        let body = webhook.body
        var headers: [(name: String, value: String)] = [
            ("Content-Type", "application/json"), ("User-Agent", "cloudthread-bridge-send"),
        ]
        headers += try Signer(scheme: p.scheme, secret: secret).headers(for: body)
        let base = (url ?? env["BRIDGE_URL"] ?? "http://localhost:8080").trimmingCharacters(
            in: CharacterSet(charactersIn: "/"))
        let target = "\(base)/hooks/\(source)"
        if dryRun {
            print("POST \(target)")
            for (n, v) in headers { print("\(n): \(v)") }
            print(String(decoding: body, as: UTF8.self))
            return
        }
        let answer: BridgePoster.Answer
        do {
            answer = try await BridgePoster.post(url: target, headers: headers, body: body)
        } catch {
            FileHandle.standardError.write(Data("error: cannot reach the bridge at \(target): \(error)\n".utf8))
            throw ExitCode(2)
        }
        if (200..<300).contains(answer.status) {
            print(
                "sent \(kind) for \(webhook.service ?? ""): HTTP \(answer.status) \(answer.body.trimmingCharacters(in: .whitespacesAndNewlines))"
            )
        } else {
            FileHandle.standardError.write(
                Data(
                    "error: the bridge refused the webhook: HTTP \(answer.status) \(answer.body.trimmingCharacters(in: .whitespacesAndNewlines))\n"
                        .utf8))
            throw ExitCode(1)
        }
    }
}

/// Opens the store of a data directory (or of `--database-url`) for a short inspection or change. `readOnly`
/// (inspection) opens SQLite read-only: no migration, no change to records in flight, no checkpoint, safe beside a
/// running bridge; on PostgreSQL it skips the migration.
func withStore<T: Sendable>(
    _ data: DataDirOption, readOnly: Bool, _ body: @escaping @Sendable (any DeliveryStore) async throws -> T
) async throws -> T {
    var logger = Logger(label: "cloudthread-bridge")
    logger.logLevel = .error
    let configuration = try data.configuration(ProcessInfo.processInfo.environment)
    let store: any DeliveryStore
    if configuration.databaseURL != nil {
        store = try await configuration.openStore(logger: logger, migrate: !readOnly)
    } else {
        let path = configuration.databasePath
        guard FileManager.default.fileExists(atPath: path) else {
            throw ValidationError("no database at \(path) (set --data-dir or --database-url)")
        }
        store =
            readOnly
            ? try SQLiteDeliveryStore.openReadOnly(path: path, logger: logger)
            : try await SQLiteDeliveryStore.open(path: path, logger: logger)
    }
    do {
        let result = try await body(store)
        await store.close()
        return result
    } catch {
        await store.close()
        throw error
    }
}

func printJSON<T: Encodable>(_ value: T) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self))
}

struct Deliveries: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List recent deliveries and why each was accepted, ignored or refused.")

    @OptionGroup var data: DataDirOption
    @Option(help: "Only this source.") var source: String?
    @Option(help: "How many.") var limit: Int = 20
    @Option(help: "Show one delivery in full.") var id: Int64?

    func run() async throws {
        if let id {
            guard let d = try await withStore(data, readOnly: true, { try await $0.delivery(id: id) }) else {
                throw ValidationError("no delivery \(id)")
            }
            printJSON(d)
            return
        }
        let list = try await withStore(data, readOnly: true) { [source, limit] in
            try await $0.deliveries(limit: limit, source: source)
        }
        for d in list {
            let why = d.explanation.map { e in e.notes.last ?? e.summary } ?? ""
            print(
                "\(d.id)\t\(ISO8601DateFormatter().string(from: d.receivedAt))\t\(d.source)\t\(d.status) (\(d.httpStatus))\tevents=\(d.events) metrics=\(d.metrics)\t\(why)"
            )
        }
    }
}

struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters", abstract: "List records Cloudthread refused, with its reason.")

    @OptionGroup var data: DataDirOption
    @Option(help: "How many.") var limit: Int = 50

    func run() async throws {
        let list = try await withStore(data, readOnly: true) { [limit] in try await $0.deadLetters(limit: limit) }
        for d in list {
            print(
                "\(d.id)\t\(d.kind)\tdelivery=\(d.deliveryId.map(String.init) ?? "-")\tattempts=\(d.attempts)\t\(d.reason)\n\t\(d.record)"
            )
        }
        print("\(list.count) dead letter\(list.count == 1 ? "" : "s")")
    }
}

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put dead letters back in the outbox (after fixing their cause).")

    @OptionGroup var data: DataDirOption
    @Argument(help: "Dead-letter ids (default: all).") var ids: [Int64] = []

    func run() async throws {
        let n = try await withStore(data, readOnly: false) { [ids] in
            try await $0.replayDeadLetters(ids.isEmpty ? nil : ids, now: Date())
        }
        print("replayed \(n) record\(n == 1 ? "" : "s"); a running bridge sends them within its next poll")
    }
}

struct Probe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "GET a URL and exit 0 on a 2xx answer (the container's HEALTHCHECK).")

    @Argument(help: "The URL (default: http://127.0.0.1:$BRIDGE_PORT/healthz, port 8080 when unset)")
    var url: String?

    func run() async throws {
        let port = ProcessInfo.processInfo.environment["BRIDGE_PORT"].flatMap(Int.init) ?? 8080
        let url = self.url ?? "http://127.0.0.1:\(port)/healthz"
        do {
            let status = try await BridgePoster.get(url: url)
            if !(200..<300).contains(status) {
                FileHandle.standardError.write(Data("\(url): HTTP \(status)\n".utf8))
                throw ExitCode(1)
            }
        } catch let e as ExitCode {
            throw e
        } catch {
            FileHandle.standardError.write(Data("\(url): \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
