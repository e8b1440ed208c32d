import ArgumentParser
import Foundation
import Logging
import Metrics
import NIOCore
import Wire

/// The settings every service process has. Each one is a flag and an environment variable; the flag
/// wins. Port and data folder default per service.
package struct ServiceOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("rpc-host"), help: "Address the RPC listener binds (env RPC_HOST).")
    package var rpcHost: String = Env.string("RPC_HOST") ?? "127.0.0.1"

    @Option(name: .customLong("rpc-port"), help: "Port of the RPC listener (env RPC_PORT).")
    package var rpcPort: Int?

    @OptionGroup package var process: ProcessOptions

    @Option(name: .customLong("max-frame-bytes"), help: "Largest RPC frame accepted (env MAX_FRAME_BYTES; default 4194304).")
    package var maxFrameBytes: Int?

    @Option(name: .customLong("max-concurrent-calls"), help: "Calls served at once before RESOURCE_EXHAUSTED (env MAX_CONCURRENT_CALLS; default 1024).")
    package var maxConcurrentCalls: Int?

    @Option(name: .customLong("rpc-frame-deadline-seconds"), help: "A frame (and the TLS handshake) must arrive whole within this time of its first byte (env RPC_FRAME_DEADLINE_SECONDS; default 10).")
    package var frameDeadlineSeconds: Int?

    @Option(name: .customLong("max-rpc-connections"), help: "RPC connections open at once; more are closed on accept (env MAX_RPC_CONNECTIONS; default 1024).")
    package var maxConnections: Int?

    @Option(name: .customLong("max-partial-frame-bytes"), help: "Bytes held in partial RPC frames across all connections (env MAX_PARTIAL_FRAME_BYTES; default 67108864).")
    package var maxPartialFrameBytes: Int?

    @Option(name: .customLong("quota-agents"), help: "Agents one tenant may hold (env QUOTA_AGENTS; default 100).")
    package var quotaAgents: Int?

    @Option(name: .customLong("quota-rules"), help: "Rules one tenant may hold (env QUOTA_RULES; default 2000).")
    package var quotaRules: Int?

    @Option(name: .customLong("quota-scripts"), help: "Sales scripts one tenant may hold (env QUOTA_SCRIPTS; default 1000).")
    package var quotaScripts: Int?

    @Option(name: .customLong("quota-sequences"), help: "Sequences one tenant may hold (env QUOTA_SEQUENCES; default 500).")
    package var quotaSequences: Int?

    package init() {}

    package func validate() throws {
        if let rpcPort, !(0...65535).contains(rpcPort) { throw ValidationError("--rpc-port must be 0…65535") }
    }

    /// The settings with this service's defaults filled in: a flag wins, then its environment variable,
    /// then the default. A variable that does not read as its setting's type stops startup.
    package func settings(identity: String, defaultPort: Int, defaultDataDir: String, logger: Logger,
                          environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServiceSettings {
        func resolve(_ flag: Int?, _ key: String, _ fallback: Int) throws -> Int {
            try flag ?? Env.integer(key, in: environment) ?? fallback
        }
        let rpcPort = try resolve(self.rpcPort, "RPC_PORT", defaultPort)
        let maxFrameBytes = try resolve(self.maxFrameBytes, "MAX_FRAME_BYTES", 4 * 1024 * 1024)
        let maxConcurrentCalls = try resolve(self.maxConcurrentCalls, "MAX_CONCURRENT_CALLS", 1024)
        let frameDeadlineSeconds = try resolve(self.frameDeadlineSeconds, "RPC_FRAME_DEADLINE_SECONDS", 10)
        let maxConnections = try resolve(self.maxConnections, "MAX_RPC_CONNECTIONS", 1024)
        let maxPartialFrameBytes = try resolve(self.maxPartialFrameBytes, "MAX_PARTIAL_FRAME_BYTES", 64 * 1024 * 1024)
        let quotas = TenantQuotas(
            agents: try resolve(quotaAgents, "QUOTA_AGENTS", TenantQuotas().agents),
            rules: try resolve(quotaRules, "QUOTA_RULES", TenantQuotas().rules),
            scripts: try resolve(quotaScripts, "QUOTA_SCRIPTS", TenantQuotas().scripts),
            sequences: try resolve(quotaSequences, "QUOTA_SEQUENCES", TenantQuotas().sequences))
        guard (0...65535).contains(rpcPort) else { throw ConfigurationError("--rpc-port (RPC_PORT) must be 0…65535") }
        guard maxFrameBytes >= 1024 else { throw ConfigurationError("--max-frame-bytes (MAX_FRAME_BYTES) must be at least 1024") }
        guard maxConcurrentCalls >= 1 else { throw ConfigurationError("--max-concurrent-calls (MAX_CONCURRENT_CALLS) must be at least 1") }
        guard frameDeadlineSeconds >= 1 else {
            throw ConfigurationError("--rpc-frame-deadline-seconds (RPC_FRAME_DEADLINE_SECONDS) must be at least 1")
        }
        guard maxConnections >= 1 else { throw ConfigurationError("--max-rpc-connections (MAX_RPC_CONNECTIONS) must be at least 1") }
        guard maxPartialFrameBytes >= maxFrameBytes else {
            throw ConfigurationError("--max-partial-frame-bytes (MAX_PARTIAL_FRAME_BYTES) must be at least --max-frame-bytes")
        }
        for (name, value) in [("agents", quotas.agents), ("rules", quotas.rules), ("scripts", quotas.scripts),
                              ("sequences", quotas.sequences)] where value < 1 {
            throw ConfigurationError("--quota-\(name) (QUOTA_\(name.uppercased())) must be at least 1")
        }
        return ServiceSettings(rpcHost: rpcHost, rpcPort: rpcPort,
                               dataDir: process.dataDir(default: defaultDataDir),
                               security: try process.security.security(identity: identity, logger: logger, environment: environment),
                               maxFrameBytes: maxFrameBytes, maxConcurrentCalls: maxConcurrentCalls,
                               frameDeadline: .seconds(Int64(frameDeadlineSeconds)), maxConnections: maxConnections,
                               maxPartialFrameBytes: maxPartialFrameBytes, quotas: quotas)
    }
}

// MARK: - Running a service

extension ServiceOptions {
    /// What every service's `main` does: bootstraps logging as `identity`, resolves the settings with
    /// this service's defaults, builds the process with its composition root `build`, and runs it until a
    /// shutdown signal.
    package func run(_ identity: String, defaultPort: Int, defaultDataDir: String,
                     build: (ServiceSettings, Logger) async throws -> ServiceProcess) async throws {
        let logger = process.bootstrapLogging(process: identity)
        var settings = try settings(identity: identity, defaultPort: defaultPort, defaultDataDir: defaultDataDir, logger: logger)
        let metrics = ProcessMetrics()
        MetricsSystem.bootstrap(metrics)
        settings.metrics = metrics
        let built = try await build(settings, logger)
        logger.info("service.listening", metadata: ["service.name": "\(identity)", "rpc.port": "\(built.port)", "data.dir": "\(settings.dataDir)"])
        try await built.run(logger: logger)
    }
}

/// The resolved settings of a service process.
package struct ServiceSettings: Sendable {
    package var rpcHost: String
    package var rpcPort: Int
    package var dataDir: String
    package var maxFrameBytes: Int
    package var maxConcurrentCalls: Int
    /// Mutual TLS with this process's credentials (or, in development only, plaintext).
    package var security: RPCSecurity
    package var frameDeadline: TimeAmount
    package var maxConnections: Int
    package var maxPartialFrameBytes: Int
    /// What one tenant may hold of the resources this service owns.
    package var quotas: TenantQuotas
    /// The process's swift-metrics backend, reported through `Health`; `nil` in tests that run several
    /// services in one process (they pass their own factories).
    package var metrics: ProcessMetrics?

    package init(rpcHost: String = "127.0.0.1", rpcPort: Int, dataDir: String, security: RPCSecurity,
                 maxFrameBytes: Int = 4 * 1024 * 1024, maxConcurrentCalls: Int = 1024,
                 frameDeadline: TimeAmount = .seconds(10), maxConnections: Int = 1024,
                 maxPartialFrameBytes: Int = 64 * 1024 * 1024, quotas: TenantQuotas = TenantQuotas()) {
        self.security = security
        self.quotas = quotas
        self.frameDeadline = frameDeadline
        self.maxConnections = maxConnections
        self.maxPartialFrameBytes = maxPartialFrameBytes
        self.rpcHost = rpcHost
        self.rpcPort = rpcPort
        self.dataDir = dataDir
        self.maxFrameBytes = maxFrameBytes
        self.maxConcurrentCalls = maxConcurrentCalls
    }
}
