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
let crypto: Target.Dependency = .product(name: "Crypto", package: "swift-crypto")
/// What every service library builds on.
let serviceBase: [Target.Dependency] = ["Basics", "Wire", "ServiceKit", "Domain", log, lifecycle, grdb] + nio

/// A Swift library in `Sources/<name>` with the shared settings.
func library(_ name: String, _ dependencies: [Target.Dependency], resources: [Resource]? = nil) -> Target {
    .target(name: name, dependencies: dependencies, path: "Sources/\(name)", resources: resources, swiftSettings: swiftSettings)
}

/// An executable in `Sources/<name>` with the shared settings.
func executable(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(name: name, dependencies: dependencies, path: "Sources/\(name)", swiftSettings: swiftSettings)
}

/// A thin service executable: parses its configuration and calls its library's composition root.
func executable(_ name: String, library: String) -> Target {
    executable(name, [.target(name: library), "ServiceKit", argumentParser, log, lifecycle])
}

/// A test target (or, with `support`, a library the tests share) in `Tests/<name>`.
func tests(_ name: String, _ dependencies: [Target.Dependency], support: Bool = false) -> Target {
    support
        ? .target(name: name, dependencies: dependencies, path: "Tests/\(name)", swiftSettings: swiftSettings)
        : .testTarget(name: name, dependencies: dependencies, path: "Tests/\(name)", swiftSettings: swiftSettings)
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
        // MARK: - Basics: what every module uses (JSON values, time in microseconds, backoff, ids, hashes)

        library("Basics", [crypto]),

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
        library("Wire", ["Basics", "CWire", "CProtobufC", log, lifecycle,
                         .product(name: "NIOSSL", package: "swift-nio-ssl"),
                         .product(name: "NIOTLS", package: "swift-nio")] + nio),

        // MARK: - What every service process needs

        library("ServiceKit", ["Basics", "Wire", "Domain", log, lifecycle, grdb, argumentParser,
                  .product(name: "Metrics", package: "swift-metrics"), crypto] + nio),

        // MARK: - Shared domain vocabulary

        library("Domain", ["Basics"]),

        // MARK: - The rule engine: rules, conditions, lead facts and decisions (rules-service and bench)

        // RE2 behind a small C face: message-text patterns match in linear time.
        .target(
            name: "CRE2",
            path: "Sources/CRE2",
            linkerSettings: [.linkedLibrary("re2"), .linkedLibrary("stdc++")]
        ),
        library("RuleEngine", ["Domain", "CRE2"]),

        // MARK: - Services

        library("Ingest", serviceBase + [crypto]),
        library("Rules", serviceBase + ["RuleEngine", .product(name: "Metrics", package: "swift-metrics")]),
        library("Sequences", serviceBase + [.product(name: "Metrics", package: "swift-metrics"),
                                            .product(name: "AsyncHTTPClient", package: "async-http-client"), crypto]),
        library("Gateway", serviceBase + [.product(name: "Hummingbird", package: "hummingbird"), crypto,
                                          .product(name: "Prometheus", package: "swift-prometheus"),
                                          .product(name: "AsyncHTTPClient", package: "async-http-client")],
                resources: [.copy("Admin")]),

        // MARK: - Executables

        executable("ingest-service", library: "Ingest"),
        executable("rules-service", library: "Rules"),
        executable("sequence-service", library: "Sequences"),
        executable("gateway", ["Gateway", "ServiceKit", argumentParser, log, lifecycle,
                  .product(name: "Prometheus", package: "swift-prometheus"),
                  .product(name: "Hummingbird", package: "hummingbird")]),
        // Counts each thread's heap allocations inside the bench process (`bench codec`).
        .target(name: "CAllocCount", path: "Sources/CAllocCount"),
        // TestSupport for the Kommo emulator `bench kommo` measures against.
        executable("bench", ["Basics", "Wire", "ServiceKit", "Domain", "RuleEngine", "Rules", "Sequences", "TestSupport", "CAllocCount", argumentParser, log, grdb,
                  .product(name: "NIOHTTP1", package: "swift-nio"),
                  .product(name: "AsyncHTTPClient", package: "async-http-client")] + nio),

        // MARK: - Tests

        tests("TestSupport", ["Basics", "Domain", "Sequences", log, lifecycle,
                  .product(name: "Hummingbird", package: "hummingbird"),
                  .product(name: "AsyncHTTPClient", package: "async-http-client"), crypto] + nio, support: true),

        // The Kommo emulator as a process of its own (the browser tests start it; `--port`, `/_emulator/*`).
        .executableTarget(name: "kommo-emulator", dependencies: ["TestSupport", "Basics", argumentParser, log, lifecycle,
                                                                 .product(name: "Hummingbird", package: "hummingbird")],
                          path: "Tests/kommo-emulator", swiftSettings: swiftSettings),

        tests("BasicsTests", ["Basics", crypto]),
        tests("ServiceKitTests", ["ServiceKit", "Basics", grdb]),
        tests("WireTests", ["TestSupport", "Basics", "Wire", "ServiceKit", .product(name: "NIOSSL", package: "swift-nio-ssl")] + nio),
        tests("DomainTests", ["Domain", "Basics"]),
        tests("RuleEngineTests", ["RuleEngine", "Domain"]),
        tests("IngestTests", ["TestSupport", "Basics", "Ingest", "Domain", "Wire", "ServiceKit", grdb, crypto] + nio),
        tests("RulesTests", ["TestSupport", "Basics", "Rules", "RuleEngine", "Domain", "Wire", "ServiceKit", grdb] + nio),
        tests("SequencesTests", ["TestSupport", "Basics", "Sequences", "Domain", "Wire", "ServiceKit",
                  .product(name: "Metrics", package: "swift-metrics"),
                  .product(name: "MetricsTestKit", package: "swift-metrics"),
                  .product(name: "Hummingbird", package: "hummingbird"),
                  .product(name: "AsyncHTTPClient", package: "async-http-client"), crypto] + nio),
        tests("SystemTests", ["TestSupport", "Basics", "Wire", "ServiceKit", "Ingest", "Rules", "Sequences", "Gateway",
                  .product(name: "HummingbirdTesting", package: "hummingbird"),
                  .product(name: "AsyncHTTPClient", package: "async-http-client")] + nio),
    ],
    cxxLanguageStandard: .cxx17
)
