import ArgumentParser
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
        try await service.run("sequence-service", defaultPort: 7103, defaultDataDir: ".data/sequence") { settings, logger in
            try await SequenceProcess.build(settings: settings, configuration: try sequences.configuration(), logger: logger)
        }
    }
}
