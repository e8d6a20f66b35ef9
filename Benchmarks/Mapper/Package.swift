// swift-tools-version:6.0
import PackageDescription

// The mapper's benchmark (docs/architecture.md, "How a body is read"): maps a GitHub deployment_status body through
// the shipped mappings/github.yaml rules N times, reading the body as main did before the index (the whole
// `JSONValue` tree, then the rules) and through `JSONIndex`, in one run. A package of its own, so that neither the
// bridge's build, its tests nor its image contain it; run.sh builds it in release and counts mallocs with perf.
let package = Package(
    name: "benchmark-mapper",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "cloudthread-bridge", path: "../..")
    ],
    targets: [
        .executableTarget(
            name: "mapper-benchmark",
            dependencies: [.product(name: "BridgeMapping", package: "cloudthread-bridge")]
        )
    ]
)
