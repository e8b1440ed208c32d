import ArgumentParser
import Foundation
import GRDB
import Logging
import RuleEngine
import ServiceKit
import Wire

/// rules-service's own settings (flags and environment variables).
package struct RulesOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("cascade-max-depth"),
            help: "The deepest chain of our own writes rules still fire on: an event echoing a longer chain within the window fires no rule (env CASCADE_MAX_DEPTH; 0…20, default 3).")
    package var cascadeMaxDepth: Int?

    @Option(name: .customLong("cascade-window-seconds"),
            help: "The window a chain's depth counts in (env CASCADE_WINDOW_SECONDS; 60…86400, default 3600).")
    package var cascadeWindowSeconds: Int?

    package init() {}

    /// The configuration: a flag wins, then its environment variable, then the default. A value out of
    /// range, or a variable that is not a whole number, stops startup.
    package func configuration(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RulesConfiguration {
        let depth = try cascadeMaxDepth ?? Env.integer("CASCADE_MAX_DEPTH", in: environment) ?? RuleEngine.Options.defaultCascadeMaxDepth
        let window = try cascadeWindowSeconds ?? Env.integer("CASCADE_WINDOW_SECONDS", in: environment)
            ?? Int(RuleEngine.Options.defaultCascadeWindow)
        return try RulesConfiguration(cascadeMaxDepth: depth, cascadeWindowSeconds: window)
    }
}

/// The resolved configuration of rules-service.
package struct RulesConfiguration: Sendable, Hashable {
    /// See ``RuleEngine/Options/cascadeMaxDepth``.
    package var cascadeMaxDepth: Int
    /// See ``RuleEngine/Options/cascadeWindow``.
    package var cascadeWindowSeconds: Int

    /// The depths accepted: 0 lets no rule fire on an echo of our writes at all.
    package static let cascadeMaxDepths = 0...20
    /// The windows accepted: a minute to a day.
    package static let cascadeWindows = 60...86_400

    /// Checks the values; out of range is a `ConfigurationError` naming the setting.
    package init(cascadeMaxDepth: Int = RuleEngine.Options.defaultCascadeMaxDepth,
                 cascadeWindowSeconds: Int = Int(RuleEngine.Options.defaultCascadeWindow)) throws(ConfigurationError) {
        guard Self.cascadeMaxDepths.contains(cascadeMaxDepth) else {
            throw ConfigurationError("--cascade-max-depth (CASCADE_MAX_DEPTH) must be \(Self.cascadeMaxDepths.lowerBound)…\(Self.cascadeMaxDepths.upperBound), got \(cascadeMaxDepth)")
        }
        guard Self.cascadeWindows.contains(cascadeWindowSeconds) else {
            throw ConfigurationError("--cascade-window-seconds (CASCADE_WINDOW_SECONDS) must be \(Self.cascadeWindows.lowerBound)…\(Self.cascadeWindows.upperBound), got \(cascadeWindowSeconds)")
        }
        self.init(valid: cascadeMaxDepth, cascadeWindowSeconds)
    }

    private init(valid depth: Int, _ window: Int) {
        cascadeMaxDepth = depth
        cascadeWindowSeconds = window
    }

    /// The defaults.
    package static let standard = RulesConfiguration(valid: RuleEngine.Options.defaultCascadeMaxDepth,
                                                     Int(RuleEngine.Options.defaultCascadeWindow))

    /// The engine's tunables with these settings.
    var engineOptions: RuleEngine.Options {
        RuleEngine.Options(cascadeMaxDepth: cascadeMaxDepth, cascadeWindow: TimeInterval(cascadeWindowSeconds))
    }
}

/// The composition root of rules-service: its store, the `Rules` and `Health` RPC services and the
/// listener.
package enum RulesProcess {
    /// Builds the process; migrations run here, before the listener starts.
    package static func build(settings: ServiceSettings, configuration: RulesConfiguration = .standard, logger: Logger,
                              clock: any WallClock = SystemClock()) async throws -> ServiceProcess {
        // WAL with synchronous=NORMAL: a commit survives a process crash; a power loss may drop the last
        // decisions, which ingest then asks for again (its outbox is synchronous=FULL), and the actions'
        // idempotency keys keep anything from being carried out twice.
        let db = try StoreFactory.open(folder: settings.dataDir, migrator: RulesStore.migrator, durability: .normal)
        let store = RulesStore(db: db)
        let counters = EvaluationCounters()
        let metrics = RulesMetrics()
        let server = RulesServer(store: store, clock: clock, counters: counters, engine: RuleEngine(options: configuration.engineOptions),
                                 quotas: settings.quotas, metrics: metrics)
        let health = HealthServer(service: "rules-service", store: db, recorded: settings.metrics) {
            let snapshot = counters.snapshot
            var samples: [PB.Metric] = [
                .sample("rules_evaluations_total", Double(snapshot.evaluations), help: "Events evaluated (repeats and dry runs excluded)"),
                .sample("rules_evaluation_repeats_total", Double(snapshot.repeats), help: "Evaluations answered from a stored decision"),
                .sample("rules_dry_runs_total", Double(snapshot.dryRuns), help: "Dry-run evaluations"),
                .sample("rules_fired_total", Double(snapshot.fired), help: "Rule firings"),
            ]
            do {
                let totals = try await store.totals()
                samples.append(.sample("rules_agents", Double(totals.agents), kind: .gauge, help: "Agents stored"))
                samples.append(.sample("rules_rules", Double(totals.rules), kind: .gauge, help: "Rules stored"))
                samples.append(.sample("rules_rules_enabled", Double(totals.enabledRules), kind: .gauge, help: "Enabled rules"))
            } catch {
                // No gauges rather than false zeros; the failure is logged and counted.
                metrics.failed(.totals, error: error, logger: logger)
            }
            return samples
        }
        let rpc = try await RPCServer(configuration: RPCServerConfiguration(settings: settings),
                                      routes: health.routes + server.routes, security: settings.security, logger: logger,
                                      stats: health.rpcStats)
        return ServiceProcess(name: "rules-service", store: db, server: rpc, workers: [])
    }
}
