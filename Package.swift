// swift-tools-version:6.1
import PackageDescription

// MARK: - Shared settings

/// One set of settings for every Swift target: Swift 6 language mode with strict concurrency.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let nio: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOPosix", package: "swift-nio"),
]
let log: Target.Dependency = .product(name: "Logging", package: "swift-log")
let lifecycle: Target.Dependency = .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let grdb: Target.Dependency = .product(name: "GRDB", package: "GRDB.swift")
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")

/// A thin executable: parses its configuration and calls its library's composition root.
func executable(_ name: String, library: String) -> Target {
    .executableTarget(
        name: name,
        dependencies: [.target(name: library), "ServiceKit", argumentParser, log, lifecycle],
        path: "Sources/\(name)",
        swiftSettings: swiftSettings
    )
}

let package = Package(
    name: "kommo-agents",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ingest-service", targets: ["ingest-service"]),
        .executable(name: "rules-service", targets: ["rules-service"]),
        .executable(name: "sequence-service", targets: ["sequence-service"]),
        .executable(name: "gateway", targets: ["gateway"]),
        .executable(name: "bench", targets: ["bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // MARK: - Wire: protobuf-c runtime, generated C, Swift mapping, framing and RPC

        .systemLibrary(
            name: "CProtobufC",
            path: "Sources/CProtobufC",
            pkgConfig: "libprotobuf-c",
            providers: [.apt(["libprotobuf-c-dev"])]
        ),
        .target(
            name: "CWire",
            dependencies: ["CProtobufC"],
            path: "Sources/CWire"
        ),
        .target(
            name: "Wire",
            dependencies: ["CWire", "CProtobufC", log, lifecycle,
                           .product(name: "NIOSSL", package: "swift-nio-ssl"),
                           .product(name: "NIOTLS", package: "swift-nio")] + nio,
            path: "Sources/Wire",
            swiftSettings: swiftSettings
        ),

        // MARK: - What every service process needs

        .target(
            name: "ServiceKit",
            dependencies: ["Wire", "Domain", log, lifecycle, grdb, argumentParser,
                           .product(name: "Metrics", package: "swift-metrics"),
                           .product(name: "Crypto", package: "swift-crypto")] + nio,
            path: "Sources/ServiceKit",
            swiftSettings: swiftSettings
        ),

        // MARK: - Shared domain vocabulary

        // RE2 behind a small C face: message-text patterns match in linear time.
        .target(
            name: "CRE2",
            path: "Sources/CRE2",
            linkerSettings: [.linkedLibrary("re2"), .linkedLibrary("stdc++")]
        ),
        .target(
            name: "Domain",
            dependencies: ["CRE2"],
            path: "Sources/Domain",
            swiftSettings: swiftSettings
        ),

        // MARK: - Services

        .target(
            name: "Ingest",
            dependencies: ["Wire", "ServiceKit", "Domain", log, lifecycle, grdb,
                           .product(name: "Crypto", package: "swift-crypto")] + nio,
            path: "Sources/Ingest",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Rules",
            dependencies: ["Wire", "ServiceKit", "Domain", log, lifecycle, grdb] + nio,
            path: "Sources/Rules",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Sequences",
            dependencies: ["Wire", "ServiceKit", "Domain", log, lifecycle, grdb,
                           .product(name: "Metrics", package: "swift-metrics"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "Crypto", package: "swift-crypto")] + nio,
            path: "Sources/Sequences",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Gateway",
            dependencies: ["Wire", "ServiceKit", "Domain", log, lifecycle, grdb,
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "Prometheus", package: "swift-prometheus")] + nio,
            path: "Sources/Gateway",
            resources: [.copy("Admin")],
            swiftSettings: swiftSettings
        ),

        // MARK: - Executables

        executable("ingest-service", library: "Ingest"),
        executable("rules-service", library: "Rules"),
        executable("sequence-service", library: "Sequences"),
        .executableTarget(
            name: "gateway",
            dependencies: ["Gateway", "ServiceKit", argumentParser, log, lifecycle,
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "Hummingbird", package: "hummingbird")],
            path: "Sources/gateway",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "bench",
            dependencies: ["Wire", "ServiceKit", "Domain", "Sequences", argumentParser, log, grdb,
                           .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client")] + nio,
            path: "Sources/bench",
            swiftSettings: swiftSettings
        ),

        // MARK: - Tests

        .target(
            name: "TestSupport",
            dependencies: ["Sequences", log, lifecycle,
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "Crypto", package: "swift-crypto")] + nio,
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),

        .testTarget(
            name: "WireTests",
            dependencies: ["TestSupport", "Wire", "ServiceKit", .product(name: "NIOSSL", package: "swift-nio-ssl")] + nio,
            path: "Tests/WireTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DomainTests",
            dependencies: ["Domain"],
            path: "Tests/DomainTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IngestTests",
            dependencies: ["TestSupport", "Ingest", "Domain", "Wire", "ServiceKit", grdb,
                           .product(name: "Crypto", package: "swift-crypto")] + nio,
            path: "Tests/IngestTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RulesTests",
            dependencies: ["TestSupport", "Rules", "Domain", "Wire", "ServiceKit"] + nio,
            path: "Tests/RulesTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SequencesTests",
            dependencies: ["TestSupport", "Sequences", "Domain", "Wire", "ServiceKit",
                           .product(name: "Metrics", package: "swift-metrics"),
                           .product(name: "MetricsTestKit", package: "swift-metrics"),
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client"),
                           .product(name: "Crypto", package: "swift-crypto")] + nio,
            path: "Tests/SequencesTests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SystemTests",
            dependencies: ["TestSupport", "Wire", "ServiceKit", "Ingest", "Rules", "Sequences", "Gateway",
                           .product(name: "HummingbirdTesting", package: "hummingbird"),
                           .product(name: "AsyncHTTPClient", package: "async-http-client")] + nio,
            path: "Tests/SystemTests",
            swiftSettings: swiftSettings
        ),
    ],
    cxxLanguageStandard: .cxx17
)
