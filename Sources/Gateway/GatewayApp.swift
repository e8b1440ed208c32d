import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceKit
import Wire

/// The composition root of the gateway: the HTTP application with its routes and peers.
package enum GatewayApp {
    package static func build(
        configuration: GatewayConfiguration, logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) async throws -> some ApplicationProtocol {
        let peers = Peers(configuration: configuration, logger: logger)
        let router = Router(context: GatewayContext.self)
        router.add(middleware: GatewayMiddleware())
        addHealthRoutes(to: router, peers: peers)
        return Application(
            router: router,
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.httpHost, port: configuration.httpPort), serverName: "gateway"),
            onServerRunning: onServerRunning,
            logger: logger)
    }
}
