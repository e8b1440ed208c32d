import ArgumentParser
import Ingest
import Logging
import ServiceKit

/// ingest-service: Kommo webhooks in, normalized events, durable dispatch, history and replay.
@main
struct IngestServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest-service", abstract: "Receives every event and carries it through its journey.")

    @OptionGroup var service: ServiceOptions
    @OptionGroup var ingest: IngestOptions

    func run() async throws {
        LogSetup.bootstrap(process: "ingest-service", level: service.logLevel)
        let logger = Logger(label: "ingest-service")
        let settings = try service.settings(identity: "ingest-service", defaultPort: 7101, defaultDataDir: ".data/ingest", logger: logger)
        let process = try await IngestProcess.build(settings: settings, configuration: try ingest.configuration(), logger: logger)
        logger.info("ingest.listening", metadata: ["rpc.port": "\(process.port)", "data.dir": "\(settings.dataDir)"])
        try await process.run(logger: logger)
    }
}
