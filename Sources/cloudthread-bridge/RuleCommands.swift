import ArgumentParser
import BridgeCloudthread
import BridgeCore
import BridgeMapping
import BridgeServer
import BridgeVerification
import Foundation

struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate rule files and settings without starting the server.")

    @Argument(help: "A rule file or a directory of them (default: BRIDGE_MAPPINGS or ./mappings).") var path: String?

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let target = path ?? MappingsOption().path
        var diagnostics = RuleChecker(environment: env).check(path: target)
        do {
            let configuration = try BridgeConfiguration.fromEnvironment(env)
            // With an API key, team names are checked against Cloudthread's GET /teams.
            if let key = configuration.apiKey {
                let loaded = RuleLoader(environment: env).load(path: target)
                switch await TeamCheck.fetchTeams(baseURL: configuration.apiURL, apiKey: key) {
                case .success(let teams): diagnostics += RuleChecker.unknownTeams(in: loaded.sources, teams: teams)
                case .failure(let error):
                    diagnostics.append(
                        Diagnostic(
                            file: "environment", line: 0, column: 0, severity: .warning,
                            message:
                                "team names were not checked: GET \(configuration.apiURL)/teams failed, because "
                                + "\(error)."))
                }
            }
        } catch {
            diagnostics.append(
                Diagnostic(file: "environment", line: 0, column: 0, severity: .error, message: "\(error)"))
        }
        for d in diagnostics { print(d) }
        let errors = diagnostics.filter { $0.severity == .error }.count
        let warnings = diagnostics.filter { $0.severity == .warning }.count
        print("\(errors) error\(errors == 1 ? "" : "s"), \(warnings) warning\(warnings == 1 ? "" : "s")")
        if errors > 0 { throw ExitCode(1) }
    }
}

struct TestRules: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test", abstract: "Run the tests written in rule files.")

    @Argument(help: "A rule file or a directory of them (default: BRIDGE_MAPPINGS or ./mappings).") var path: String?
    @Flag(help: "Print every test, not only failures.") var verbose = false

    func run() async throws {
        let target = path ?? MappingsOption().path
        let loaded = RuleLoader(environment: ProcessInfo.processInfo.environment).load(path: target)
        for d in loaded.diagnostics where d.severity == .error { print(d) }
        if loaded.diagnostics.hasErrors {
            print("0 passed, 1 failed")
            throw ExitCode(1)
        }
        let runner = RuleTestRunner()
        var passed = 0
        var failed = 0
        for source in loaded.sources.sorted(by: { $0.name < $1.name }) {
            for result in runner.run(source) {
                if result.passed {
                    passed += 1
                    if verbose { print("PASS \(source.name): \(result.name)") }
                } else {
                    failed += 1
                    print("FAIL \(result.file):\(result.line): \(source.name): \(result.name)")
                    for f in result.failures { print("     \(f)") }
                }
            }
        }
        print("\(passed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode(1) }
    }
}

/// Reads `K: V` header arguments.
func parseHeaders(_ values: [String]) throws -> [(name: String, value: String)] {
    try values.map { h in
        guard let colon = h.firstIndex(of: ":") else {
            throw ValidationError("header '\(h)' must look like 'Name: value'")
        }
        return (
            String(h[..<colon]).trimmingCharacters(in: .whitespaces),
            String(h[h.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        )
    }
}

func readBody(_ path: String) throws -> [UInt8] {
    if path == "-" { return Array(FileHandle.standardInput.readDataToEndOfFile()) }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("cannot read body file '\(path)'")
    }
    return Array(data)
}

struct Try: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what a payload would produce, and why each rule did or did not match.")

    @Option(help: "The source (rule file) to try.") var source: String
    @Option(help: "The body file ('-' for standard input).") var body: String
    @Option(name: .customLong("header"), help: "A request header 'Name: value' (repeatable).") var headers: [String] =
        []
    @Option(name: .customLong("query"), help: "A query parameter 'name=value' (repeatable).") var query: [String] = []
    @Option(help: "The path after /hooks/<source>/, if any.") var path: String = ""
    @OptionGroup var mappings: MappingsOption

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let loaded = RuleLoader(environment: env).load(path: mappings.path)
        for d in loaded.diagnostics where d.severity == .error { print(d) }
        if loaded.diagnostics.hasErrors { throw ExitCode(1) }
        guard let definition = loaded.sources.first(where: { $0.name == source }) else {
            throw ValidationError(
                "no source '\(source)' in \(mappings.path) (sources: "
                    + "\(loaded.sources.map(\.name).sorted().joined(separator: ", ")))"
            )
        }
        var bag = HeaderBag(try parseHeaders(headers))
        if bag["Content-Type"] == nil { bag.add("Content-Type", "application/json") }
        let request = IncomingRequest(
            source: source,
            query: query.map { q in
                let kv = q.split(separator: "=", maxSplits: 1)
                return (String(kv[0]), kv.count > 1 ? String(kv[1]) : "")
            }, headers: bag, body: try readBody(body))
        let mapper = Mapper(defaultStreamToken: env["CLOUDTHREAD_STREAM_TOKEN"].map(Secret.init), dryRun: true)
        let text = TryReport(mapper: mapper).render(request, source: definition, subpath: path)
        print(text, terminator: "")
    }
}
