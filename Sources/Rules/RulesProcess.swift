import GRDB
import Logging
import ServiceKit
import Wire

/// The composition root of rules-service: its store, the `Rules` and `Health` RPC services and the
/// listener.
package enum RulesProcess {
    /// Builds the process; migrations run here, before the listener starts.
    package static func build(settings: ServiceSettings, logger: Logger, clock: any WallClock = SystemClock()) async throws -> ServiceProcess {
        // WAL with synchronous=NORMAL: a commit survives a process crash; a power loss may drop the last
        // decisions, which ingest then asks for again (its outbox is synchronous=FULL), and the actions'
        // idempotency keys keep anything from being carried out twice.
        let db = try StoreFactory.open(folder: settings.dataDir, migrator: RulesStore.migrator, durability: .normal)
        let store = RulesStore(db: db)
        let counters = EvaluationCounters()
        let metrics = RulesMetrics()
        let server = RulesServer(store: store, clock: clock, counters: counters, quotas: settings.quotas, metrics: metrics)
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
