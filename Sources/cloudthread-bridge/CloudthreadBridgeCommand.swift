import ArgumentParser
import BridgeMapping
import BridgeServer
import BridgeStore
import Foundation
import Logging
import NIOCore
import NIOPosix

@main
struct CloudthreadBridgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloudthread-bridge",
        abstract: "Turns deploy and incident webhooks into Cloudthread events and custom data.",
        subcommands: [
            Serve.self, Check.self, TestRules.self, Try.self, Sign.self, Send.self, Deliveries.self, DeadLetters.self,
            Replay.self, Backfill.self, Probe.self, CostImpactCommandLine.self, Migrate.self,
        ],
        defaultSubcommand: Serve.self)
}

/// Options shared by commands that read rule files.
struct MappingsOption: ParsableArguments {
    @Option(name: .long, help: "Rule files: a directory or one file (env BRIDGE_MAPPINGS, default ./mappings).")
    var mappings: String?

    var path: String {
        mappings ?? ProcessInfo.processInfo.environment["BRIDGE_MAPPINGS"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "./mappings"
    }
}

struct DataDirOption: ParsableArguments {
    @Option(
        name: .customLong("data-dir"),
        help: "Data directory holding the SQLite database (env BRIDGE_DATA_DIR, default ./data).")
    var dataDir: String?

    @Option(
        name: .customLong("database-url"),
        help:
            "PostgreSQL store shared by replicas, postgres://user:password@host:5432/db (env BRIDGE_DATABASE_URL; no sslmode: verify-full, or prefer on a loopback host or Unix socket; unset: SQLite in the data directory)."
    )
    var databaseURL: String?

    var path: String {
        dataDir ?? ProcessInfo.processInfo.environment["BRIDGE_DATA_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "./data"
    }

    /// The flags over the environment's settings.
    func configuration(_ env: [String: String]) throws -> BridgeConfiguration {
        var configuration: BridgeConfiguration
        do {
            configuration = try BridgeConfiguration.fromEnvironment(env)
            if let databaseURL { configuration.databaseURL = try BridgeConfiguration.parseDatabaseURL(databaseURL) }
        } catch {
            throw ValidationError("\(error)")
        }
        configuration.dataDirectory = path
        return configuration
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the bridge: receive webhooks and forward them to Cloudthread.")

    @Option(help: "Address to listen on (env BRIDGE_HOST, default 0.0.0.0).") var host: String?
    @Option(help: "Port to listen on (env BRIDGE_PORT, default 8080).") var port: Int?
    @OptionGroup var mappings: MappingsOption
    @OptionGroup var data: DataDirOption

    func run() async throws {
        // Run Swift concurrency's jobs on NIO's event loops: a webhook's task then stays on the thread that reads
        // its connection instead of hopping to another pool and back (measured in docs/benchmark.md).
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        let env = ProcessInfo.processInfo.environment
        BridgeLogging.bootstrap(environment: env)
        let logger = Logger(label: "cloudthread-bridge")
        var configuration = try data.configuration(env)
        if let host { configuration.host = host }
        if let port { configuration.port = port }
        configuration.mappingsPath = mappings.path
        do {
            try configuration.validate()
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let bridge: Bridge
        do {
            let host = configuration.host
            bridge = try await Bridge(configuration: configuration, logger: logger) { port in
                logger.notice("listening on \(host):\(port)")
            }
        } catch let error as StartupError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        try await bridge.run()
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Apply the store's migrations and exit (PostgreSQL: under an advisory lock; SQLite: the data directory).")

    @OptionGroup var data: DataDirOption

    func run() async throws {
        let env = ProcessInfo.processInfo.environment
        BridgeLogging.bootstrap(environment: env)
        let logger = Logger(label: "cloudthread-bridge")
        let configuration = try data.configuration(env)
        let store = try await configuration.openStore(logger: logger)
        await store.close()
        if let url = configuration.databaseURL {
            print("migrated \(url.redacted)")
        } else {
            print("migrated \(configuration.databasePath)")
        }
    }
}
