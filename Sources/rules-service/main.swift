import ArgumentParser
import Rules
import ServiceKit

/// rules-service: agents, rules and sales scripts; decides what each event causes.
@main
struct RulesServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules-service", abstract: "Owns agents, rules and scripts; evaluates events.")

    @OptionGroup var service: ServiceOptions
    @OptionGroup var rules: RulesOptions

    func run() async throws {
        try await service.run("rules-service", defaultPort: 7102, defaultDataDir: ".data/rules") { settings, logger in
            try await RulesProcess.build(settings: settings, configuration: try rules.configuration(), logger: logger)
        }
    }
}
