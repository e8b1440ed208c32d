import Logging
import ServiceLifecycle
import UnixSignals

/// Runs a process's services in one `ServiceGroup`, in the order given (stores and workers first, the
/// listener last, so the listener stops first), and shuts them down gracefully on SIGTERM or SIGINT.
package enum ProcessRunner {
    /// How long in-flight work may take to finish after a shutdown signal.
    package static let gracefulShutdownLimit: Duration = .seconds(10)

    package static func run(services: [any Service], logger: Logger) async throws {
        var configuration = ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = gracefulShutdownLimit
        try await ServiceGroup(configuration: configuration).run()
    }
}
