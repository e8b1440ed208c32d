import ArgumentParser
import Logging

/// The settings every process has, the gateway included: where its store lives, how much it logs, and
/// how its RPC is secured. Each is a flag and an environment variable; the flag wins.
package struct ProcessOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("data-dir"), help: "Folder of this process's SQLite store (env DATA_DIR).")
    package var dataDir: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (env LOG_LEVEL).")
    package var logLevel: String = Env.string("LOG_LEVEL") ?? "info"

    @OptionGroup package var security: RPCSecurityOptions

    package init() {}

    package func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level: unknown level '\(logLevel)'") }
    }

    /// The data folder: the flag, else `DATA_DIR`, else this process's default.
    package func dataDir(default defaultDataDir: String) -> String {
        dataDir ?? Env.string("DATA_DIR") ?? defaultDataDir
    }

    /// Bootstraps logging once for the process named `process` and returns its logger.
    package func bootstrapLogging(process: String) -> Logger {
        LogSetup.bootstrap(process: process, level: logLevel)
        return Logger(label: process)
    }
}
