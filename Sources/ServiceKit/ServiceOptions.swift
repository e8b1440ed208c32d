import ArgumentParser
import Logging

/// The settings every service process has. Each one is a flag and an environment variable; the flag
/// wins. Port and data folder default per service.
package struct ServiceOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("rpc-host"), help: "Address the RPC listener binds (env RPC_HOST).")
    package var rpcHost: String = Env.string("RPC_HOST") ?? "127.0.0.1"

    @Option(name: .customLong("rpc-port"), help: "Port of the RPC listener (env RPC_PORT).")
    package var rpcPort: Int?

    @Option(name: .customLong("data-dir"), help: "Folder of this service's SQLite store (env DATA_DIR).")
    package var dataDir: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (env LOG_LEVEL).")
    package var logLevel: String = Env.string("LOG_LEVEL") ?? "info"

    @Option(name: .customLong("max-frame-bytes"), help: "Largest RPC frame accepted (env MAX_FRAME_BYTES).")
    package var maxFrameBytes: Int = Env.int("MAX_FRAME_BYTES") ?? 4 * 1024 * 1024

    @Option(name: .customLong("max-concurrent-calls"), help: "Calls served at once before RESOURCE_EXHAUSTED (env MAX_CONCURRENT_CALLS).")
    package var maxConcurrentCalls: Int = Env.int("MAX_CONCURRENT_CALLS") ?? 1024

    package init() {}

    package func validate() throws {
        if let rpcPort, !(0...65535).contains(rpcPort) { throw ValidationError("--rpc-port must be 0…65535") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: unknown level '\(logLevel)'") }
        guard maxFrameBytes >= 1024 else { throw ValidationError("--max-frame-bytes must be at least 1024") }
        guard maxConcurrentCalls >= 1 else { throw ValidationError("--max-concurrent-calls must be at least 1") }
    }

    /// The settings with this service's defaults filled in.
    package func settings(defaultPort: Int, defaultDataDir: String) -> ServiceSettings {
        ServiceSettings(rpcHost: rpcHost, rpcPort: rpcPort ?? Env.int("RPC_PORT") ?? defaultPort,
                        dataDir: dataDir ?? Env.string("DATA_DIR") ?? defaultDataDir,
                        maxFrameBytes: maxFrameBytes, maxConcurrentCalls: maxConcurrentCalls)
    }
}

/// The resolved settings of a service process.
package struct ServiceSettings: Sendable {
    package var rpcHost: String
    package var rpcPort: Int
    package var dataDir: String
    package var maxFrameBytes: Int
    package var maxConcurrentCalls: Int

    package init(rpcHost: String = "127.0.0.1", rpcPort: Int, dataDir: String,
                 maxFrameBytes: Int = 4 * 1024 * 1024, maxConcurrentCalls: Int = 1024) {
        self.rpcHost = rpcHost
        self.rpcPort = rpcPort
        self.dataDir = dataDir
        self.maxFrameBytes = maxFrameBytes
        self.maxConcurrentCalls = maxConcurrentCalls
    }
}
