import ArgumentParser
import Logging
import Sequences
import ServiceKit

/// sequence-service: sequences, enrollments, the durable schedule and every side effect.
@main
struct SequenceServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sequence-service", abstract: "Owns time and side effects: sequences, schedule, executors.")

    @OptionGroup var service: ServiceOptions
    @OptionGroup var sequences: SequenceOptions

    func run() async throws {
        LogSetup.bootstrap(process: "sequence-service", level: service.logLevel)
        let logger = Logger(label: "sequence-service")
        let settings = try service.settings(identity: "sequence-service", defaultPort: 7103, defaultDataDir: ".data/sequence", logger: logger)
        let process = try await SequenceProcess.build(settings: settings, configuration: try sequences.configuration(), logger: logger)
        logger.info("sequence.listening", metadata: ["rpc.port": "\(process.port)", "data.dir": "\(settings.dataDir)"])
        try await process.run(logger: logger)
    }
}
