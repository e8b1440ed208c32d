import ArgumentParser
import Gateway
import Hummingbird
import Prometheus
import ServiceKit

/// gateway: the REST API, the inbound webhooks, the admin UI, health and metrics.
@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateway", abstract: "The only HTTP surface: REST API, webhooks, admin UI, health, metrics.")

    @OptionGroup var options: GatewayOptions

    func run() async throws {
        let logger = options.process.bootstrapLogging(process: "gateway")
        let configuration = try options.configuration()
        let registry = PrometheusCollectorRegistry()
        let app = try await GatewayApp.build(configuration: configuration, logger: logger, metrics: registry)
        try await app.runService()
    }
}
