import GRDB
import Logging
import ServiceLifecycle
import Wire

/// A built service process: its store, its RPC listener and its background workers. `main` and the
/// integration tests both get one from the service's composition root and run `services`.
package struct ServiceProcess: Sendable {
    package let name: String
    package let store: DatabasePool
    package let server: RPCServer
    /// Workers first, the listener last: the listener is the first to stop on shutdown.
    package let services: [any Service]

    package init(name: String, store: DatabasePool, server: RPCServer, workers: [any Service]) {
        self.name = name
        self.store = store
        self.server = server
        self.services = workers + [server]
    }

    /// The bound RPC port.
    package var port: Int { server.port }

    /// Runs the process until a shutdown signal (or, in tests, until the task is cancelled).
    package func run(logger: Logger) async throws {
        try await ProcessRunner.run(services: services, logger: logger)
    }
}

extension RPCServerConfiguration {
    /// The listener settings a service process was started with.
    package init(settings: ServiceSettings) {
        self.init(host: settings.rpcHost, port: settings.rpcPort, maximumFrameSize: settings.maxFrameBytes,
                  maximumConcurrentCalls: settings.maxConcurrentCalls, frameDeadline: settings.frameDeadline,
                  maximumConnections: settings.maxConnections, maximumPartialFrameBytes: settings.maxPartialFrameBytes)
    }
}
