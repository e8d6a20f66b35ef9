// swift-tools-version:6.0
import PackageDescription

// CI (CI=true) treats compiler warnings in the project's own targets as errors.
let strict: [SwiftSetting] = Context.environment["CI"] == "true" ? [.unsafeFlags(["-warnings-as-errors"])] : []

// One library target per stage of a webhook's path; a target imports only targets above it in this list
// (see docs/architecture.md). The compiler enforces the direction.
let package = Package(
    name: "cloudthread-bridge",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "cloudthread-bridge", targets: ["cloudthread-bridge"]),
        .library(name: "BridgeServer", targets: ["BridgeServer"]),
        // For Benchmarks/Mapper, which needs only the rules and the mapper.
        .library(name: "BridgeMapping", targets: ["BridgeMapping"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.36.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
    ],
    targets: [
        // libcrypto shim: HMAC, CRYPTO_memcmp, EVP signature verification.
        .systemLibrary(
            name: "CLibSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // SQLite from the system (Debian libsqlite3-dev): the embedded store talks to it directly.
        .systemLibrary(
            name: "CSQLite3",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // Shared vocabulary: JSON value, time, secrets, Cloudthread records, explanations, metrics protocol.
        .target(name: "BridgeCore"),
        // Verification schemes and provider presets.
        .target(
            name: "BridgeVerification",
            dependencies: ["BridgeCore", "CLibSSL", .product(name: "JWTKit", package: "jwt-kit")]
        ),
        // Rule files: model, loader and diagnostics, conditions, templates, rule tests.
        .target(
            name: "BridgeMapping",
            dependencies: ["BridgeCore", "BridgeVerification", .product(name: "Yams", package: "Yams")]
        ),
        // Cloudthread's API: client, teams, dry run.
        .target(
            name: "BridgeCloudthread",
            dependencies: [
                "BridgeCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The stores' vocabulary, dialect-free: the protocols by role, the records they keep and the rules both
        // stores share.
        .target(name: "BridgeStore", dependencies: ["BridgeCore", "BridgeVerification"]),
        // The embedded store: one SQLite file, one writer thread, group commit.
        .target(
            name: "BridgeStoreSQLite",
            dependencies: [
                "BridgeCore", "BridgeStore", "CSQLite3",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The shared store: PostgreSQL for several replicas.
        .target(
            name: "BridgeStorePostgres",
            dependencies: [
                "BridgeCore", "BridgeVerification", "BridgeStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The ingest pipeline (HTTP-free) and the forwarder, on the store protocols only.
        .target(
            name: "BridgeDelivery",
            dependencies: [
                "BridgeCore", "BridgeVerification", "BridgeMapping", "BridgeCloudthread", "BridgeStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The HTTP edge, admin API, health, metrics, configuration and service wiring.
        .target(
            name: "BridgeServer",
            dependencies: [
                "BridgeCore", "BridgeVerification", "BridgeMapping", "BridgeCloudthread", "BridgeStore",
                "BridgeStoreSQLite", "BridgeStorePostgres", "BridgeDelivery",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ]
        ),
        // Client side for CI steps: build, sign and post a webhook (`sign`, `send`).
        .target(
            name: "BridgeCI",
            dependencies: [
                "BridgeCore", "BridgeVerification",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        // `backfill`: past deploys read from GitHub's and GitLab's APIs, rebuilt as the webhooks those providers
        // send, and stored through the ingest pipeline.
        .target(
            name: "BridgeBackfill",
            dependencies: [
                "BridgeCore", "BridgeVerification", "BridgeMapping", "BridgeStore", "BridgeDelivery",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The CLI: glue only.
        .executableTarget(
            name: "cloudthread-bridge",
            dependencies: [
                "BridgeCore", "BridgeVerification", "BridgeMapping", "BridgeCloudthread", "BridgeStore",
                "BridgeStoreSQLite", "BridgeStorePostgres", "BridgeDelivery",
                "BridgeServer", "BridgeCI", "BridgeBackfill",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "BridgeCoreTests", dependencies: ["BridgeCore"]),
        .testTarget(
            name: "BridgeVerificationTests",
            dependencies: ["BridgeCore", "BridgeVerification", .product(name: "JWTKit", package: "jwt-kit")],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "BridgeMappingTests",
            dependencies: ["BridgeCore", "BridgeVerification", "BridgeMapping"]
        ),
        .testTarget(name: "BridgeCloudthreadTests", dependencies: ["BridgeCore", "BridgeCloudthread"]),
        // Test support, not shipped: the PostgreSQL of the tests (found or started once per process) and the fixtures
        // of the store tests.
        .target(
            name: "BridgeStoreTestKit",
            dependencies: [
                "BridgeCore", "BridgeStore", "BridgeStoreSQLite", "BridgeStorePostgres",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/BridgeStoreTestKit"
        ),
        // The store contract: every test on SQLite and on PostgreSQL; SQLite's own (migrations, failures).
        .testTarget(
            name: "BridgeStoreTests",
            dependencies: [
                "BridgeCore", "BridgeCloudthread", "BridgeStore", "BridgeStoreSQLite", "BridgeStorePostgres",
                "BridgeStoreTestKit",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // PostgreSQL only: several replicas on one database, a server that cannot be reached.
        .testTarget(
            name: "BridgeStorePostgresTests",
            dependencies: [
                "BridgeCore", "BridgeStore", "BridgeStorePostgres", "BridgeStoreTestKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "BridgeDeliveryTests",
            dependencies: [
                "BridgeCore", "BridgeVerification", "BridgeMapping", "BridgeCloudthread", "BridgeStore",
                "BridgeDelivery",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Deterministic simulation of the forwarder: random fault schedules from seeds, invariants after each.
        .testTarget(
            name: "BridgeSimulationTests",
            dependencies: [
                "BridgeCore", "BridgeCloudthread", "BridgeStore", "BridgeStoreSQLite", "BridgeDelivery",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "BridgeServerTests",
            dependencies: [
                "BridgeCore", "BridgeVerification", "BridgeMapping", "BridgeCloudthread", "BridgeStore",
                "BridgeStoreSQLite", "BridgeStorePostgres", "BridgeDelivery",
                "BridgeServer", "BridgeCI", "BridgeStoreTestKit", "BridgeBackfill",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "JWTKit", package: "jwt-kit"),
            ],
            resources: [.copy("Fixtures")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + strict
}

// Fuzzing (docs/fuzzing.md, scripts/fuzz.sh): libFuzzer entry points over the parsers, the templates, the rule
// loader, the verifiers, the mapper and the regex engine. Only with BRIDGE_FUZZ=1, so `swift build` and
// `swift test` never see them; they depend only on the pure targets, so NIO and Hummingbird are not built with
// sanitizers.
if Context.environment["BRIDGE_FUZZ"] == "1" {
    let fuzzTargets: [(name: String, dependencies: [Target.Dependency])] = [
        ("FuzzJSON", ["BridgeCore"]),
        ("FuzzTemplate", ["BridgeCore", "BridgeVerification", "BridgeMapping"]),
        ("FuzzRules", ["BridgeCore", "BridgeVerification", "BridgeMapping"]),
        ("FuzzVerification", ["BridgeCore", "BridgeVerification"]),
        ("FuzzMapper", ["BridgeCore", "BridgeVerification", "BridgeMapping"]),
        ("FuzzRegex", ["BridgeMapping"]),
    ]
    for fuzz in fuzzTargets {
        package.targets.append(
            .executableTarget(
                name: fuzz.name, dependencies: fuzz.dependencies,
                path: "Fuzz/\(fuzz.name.dropFirst(4))",
                swiftSettings: [.unsafeFlags(["-parse-as-library"])] + strict))
    }
}
