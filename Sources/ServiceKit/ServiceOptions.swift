import ArgumentParser
import Logging
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

    @Option(name: .customLong("max-frame-bytes"), help: "Largest RPC frame accepted (env MAX_FRAME_BYTES).")
    package var maxFrameBytes: Int = Env.int("MAX_FRAME_BYTES") ?? 4 * 1024 * 1024

    @Option(name: .customLong("max-concurrent-calls"), help: "Calls served at once before RESOURCE_EXHAUSTED (env MAX_CONCURRENT_CALLS).")
    package var maxConcurrentCalls: Int = Env.int("MAX_CONCURRENT_CALLS") ?? 1024

    @Option(name: .customLong("rpc-frame-deadline-seconds"), help: "A frame (and the TLS handshake) must arrive whole within this time of its first byte (env RPC_FRAME_DEADLINE_SECONDS).")
    package var frameDeadlineSeconds: Int = Env.int("RPC_FRAME_DEADLINE_SECONDS") ?? 10

    @Option(name: .customLong("max-rpc-connections"), help: "RPC connections open at once; more are closed on accept (env MAX_RPC_CONNECTIONS).")
    package var maxConnections: Int = Env.int("MAX_RPC_CONNECTIONS") ?? 1024

    @Option(name: .customLong("max-partial-frame-bytes"), help: "Bytes held in partial RPC frames across all connections (env MAX_PARTIAL_FRAME_BYTES).")
    package var maxPartialFrameBytes: Int = Env.int("MAX_PARTIAL_FRAME_BYTES") ?? 64 * 1024 * 1024

    @Option(name: .customLong("quota-agents"), help: "Agents one tenant may hold (env QUOTA_AGENTS).")
    package var quotaAgents: Int = Env.int("QUOTA_AGENTS") ?? TenantQuotas().agents

    @Option(name: .customLong("quota-rules"), help: "Rules one tenant may hold (env QUOTA_RULES).")
    package var quotaRules: Int = Env.int("QUOTA_RULES") ?? TenantQuotas().rules

    @Option(name: .customLong("quota-scripts"), help: "Sales scripts one tenant may hold (env QUOTA_SCRIPTS).")
    package var quotaScripts: Int = Env.int("QUOTA_SCRIPTS") ?? TenantQuotas().scripts

    @Option(name: .customLong("quota-sequences"), help: "Sequences one tenant may hold (env QUOTA_SEQUENCES).")
    package var quotaSequences: Int = Env.int("QUOTA_SEQUENCES") ?? TenantQuotas().sequences

    package init() {}

    package func validate() throws {
        if let rpcPort, !(0...65535).contains(rpcPort) { throw ValidationError("--rpc-port must be 0…65535") }
        guard maxFrameBytes >= 1024 else { throw ValidationError("--max-frame-bytes must be at least 1024") }
        guard maxConcurrentCalls >= 1 else { throw ValidationError("--max-concurrent-calls must be at least 1") }
        guard frameDeadlineSeconds >= 1 else { throw ValidationError("--rpc-frame-deadline-seconds must be at least 1") }
        guard maxConnections >= 1 else { throw ValidationError("--max-rpc-connections must be at least 1") }
        guard maxPartialFrameBytes >= maxFrameBytes else { throw ValidationError("--max-partial-frame-bytes must be at least --max-frame-bytes") }
        for (name, value) in [("agents", quotaAgents), ("rules", quotaRules), ("scripts", quotaScripts), ("sequences", quotaSequences)] where value < 1 {
            throw ValidationError("--quota-\(name) must be at least 1")
        }
    }

    /// The settings with this service's defaults filled in.
    package func settings(identity: String, defaultPort: Int, defaultDataDir: String, logger: Logger) throws -> ServiceSettings {
        ServiceSettings(rpcHost: rpcHost, rpcPort: rpcPort ?? Env.int("RPC_PORT") ?? defaultPort,
                        dataDir: process.dataDir(default: defaultDataDir),
                        security: try process.security.security(identity: identity, logger: logger),
                        maxFrameBytes: maxFrameBytes, maxConcurrentCalls: maxConcurrentCalls,
                        frameDeadline: .seconds(Int64(frameDeadlineSeconds)), maxConnections: maxConnections,
                        maxPartialFrameBytes: maxPartialFrameBytes,
                        quotas: TenantQuotas(agents: quotaAgents, rules: quotaRules, scripts: quotaScripts, sequences: quotaSequences))
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
        let settings = try settings(identity: identity, defaultPort: defaultPort, defaultDataDir: defaultDataDir, logger: logger)
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
