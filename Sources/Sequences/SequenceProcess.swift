import ArgumentParser
import GRDB
import Logging
import ServiceKit
import ServiceLifecycle
import Wire

/// sequence-service's own settings (flags and environment variables).
package struct SequenceOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("ingest-address"), help: "ingest-service host:port (env INGEST_ADDRESS).")
    package var ingestAddress: String = Env.string("INGEST_ADDRESS") ?? "127.0.0.1:7101"

    @Option(name: .customLong("rules-address"), help: "rules-service host:port (env RULES_ADDRESS).")
    package var rulesAddress: String = Env.string("RULES_ADDRESS") ?? "127.0.0.1:7102"

    package init() {}

    package func configuration() throws -> SequenceConfiguration {
        SequenceConfiguration(
            ingestAddress: try PeerAddress(parsing: ingestAddress, key: "--ingest-address"),
            rulesAddress: try PeerAddress(parsing: rulesAddress, key: "--rules-address"))
    }
}

/// The resolved configuration of sequence-service.
package struct SequenceConfiguration: Sendable {
    package var ingestAddress: PeerAddress
    package var rulesAddress: PeerAddress

    package init(ingestAddress: PeerAddress = PeerAddress(host: "127.0.0.1", port: 7101),
                 rulesAddress: PeerAddress = PeerAddress(host: "127.0.0.1", port: 7102)) {
        self.ingestAddress = ingestAddress
        self.rulesAddress = rulesAddress
    }
}

/// The composition root of sequence-service.
package enum SequenceProcess {
    package static func build(
        settings: ServiceSettings, configuration: SequenceConfiguration, logger: Logger,
        clock: any WallClock = SystemClock(), scheduler schedulerSettings: SchedulerSettings = SchedulerSettings(),
        runner: (any ActionRunner)? = nil
    ) async throws -> ServiceProcess {
        let db = try StoreFactory.open(folder: settings.dataDir, migrator: SequenceStore.migrator)
        let store = SequenceStore(db: db)
        let ingest = IngestClient(connection: RPCConnection(
            host: configuration.ingestAddress.host, port: configuration.ingestAddress.port, logger: logger))
        let scheduler = Scheduler(store: store, runner: runner ?? DefaultActionRunner(), ingest: ingest, settings: schedulerSettings,
                                  clock: clock, logger: logger)
        let server = SequenceServer(store: store, scheduler: scheduler, clock: clock)
        let health = HealthServer(service: "sequence-service", store: db) {
            var metrics: [PB.Metric] = []
            for (status, count) in ((try? await store.counts()) ?? [:]).sorted(by: { $0.key < $1.key }) {
                metrics.append(.sample("sequence_actions", Double(count), kind: "gauge", help: "Scheduled rows by status", labels: ["status": status]))
            }
            let lateness = (try? await store.oldestDue(now: clock.now().unixMicros)) ?? 0
            metrics.append(.sample("sequence_scheduler_lateness_seconds", Double(lateness) / 1e6, kind: "gauge",
                                   help: "How late the oldest due action is"))
            return metrics
        }
        let rpc = try await RPCServer(configuration: RPCServerConfiguration(settings: settings),
                                      routes: health.routes + server.routes, logger: logger)
        return ServiceProcess(name: "sequence-service", store: db, server: rpc, workers: [scheduler])
    }
}
