import ArgumentParser
import Logging
import Rules
import ServiceKit

/// rules-service: agents, rules and sales scripts; decides what each event causes.
@main
struct RulesServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules-service", abstract: "Owns agents, rules and scripts; evaluates events.")

    @OptionGroup var service: ServiceOptions

    func run() async throws {
        LogSetup.bootstrap(process: "rules-service", level: service.logLevel)
        let logger = Logger(label: "rules-service")
        let settings = try service.settings(identity: "rules-service", defaultPort: 7102, defaultDataDir: ".data/rules", logger: logger)
        let process = try await RulesProcess.build(settings: settings, logger: logger)
        logger.info("rules.listening", metadata: ["rpc.port": "\(process.port)", "data.dir": "\(settings.dataDir)"])
        try await process.run(logger: logger)
    }
}
