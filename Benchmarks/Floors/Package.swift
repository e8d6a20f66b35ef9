// swift-tools-version:6.0
import PackageDescription

// The benchmark's floors (docs/benchmark.md, "The floors"): the least a Hummingbird 2 route and a SwiftNIO HTTP/1
// handler can do for a webhook (read the body, answer 204), built and measured by scripts/benchmark.sh in the same
// run as the bridge. A package of its own, so that neither the bridge's build, its tests nor its image contain them.
let package = Package(
    name: "benchmark-floors",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "floor-hummingbird",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")]
        ),
        .executableTarget(
            name: "floor-nio",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
    ]
)
