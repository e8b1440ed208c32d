import ArgumentParser
import Ingest
import ServiceKit

/// ingest-service: Kommo webhooks in, normalized events, durable dispatch, history and replay.
@main
struct IngestServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest-service", abstract: "Receives every event and carries it through its journey.")

    @OptionGroup var service: ServiceOptions
    @OptionGroup var ingest: IngestOptions

    func run() async throws {
        try await service.run("ingest-service", defaultPort: 7101, defaultDataDir: ".data/ingest") { settings, logger in
            try await IngestProcess.build(settings: settings, configuration: try ingest.configuration(), logger: logger)
        }
    }
}
