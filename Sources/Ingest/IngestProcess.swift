import Foundation
import ArgumentParser
import Basics
import GRDB
import Logging
import ServiceKit
import ServiceLifecycle
import Wire

/// ingest-service's own settings (flags and environment variables).
package struct IngestOptions: ParsableArguments, Sendable {
    @OptionGroup package var rules: PeerOption<RulesPeer>
    @OptionGroup package var sequence: PeerOption<SequencePeer>

    @Option(name: .customLong("retention-days"), help: "Days raw webhook bodies are kept (env RETENTION_DAYS; default 30).")
    package var retentionDays: Int?

    @Option(name: .customLong("durability"), help: "full (survives power loss) or normal (survives a process crash) (env DURABILITY).")
    package var durability: String = Env.string("DURABILITY") ?? "full"

    @Option(name: .customLong("dispatch-max-attempts"), help: "Attempts per destination before a dispatch is failed (env DISPATCH_MAX_ATTEMPTS; default 12).")
    package var dispatchMaxAttempts: Int?

    @Option(name: .customLong("secrets-key-file"),
            help: "File holding the key that seals webhook source secrets when SECRETS_KEY is unset (env SECRETS_KEY_FILE; default <data-dir>/../keys/ingest-service.key).")
    package var secretsKeyFile: String? = Env.string("SECRETS_KEY_FILE")

    package init() {}

    /// The configuration: a flag wins, then its environment variable, then the default. A variable that
    /// does not read as its setting's type stops startup.
    package func configuration(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> IngestConfiguration {
        let retentionDays = try self.retentionDays ?? Env.integer("RETENTION_DAYS", in: environment) ?? 30
        let dispatchMaxAttempts = try self.dispatchMaxAttempts ?? Env.integer("DISPATCH_MAX_ATTEMPTS", in: environment) ?? 12
        guard let durability = Durability(rawValue: durability) else {
            throw ConfigurationError("--durability: expected full or normal, got '\(durability)'")
        }
        guard retentionDays >= 1 else { throw ConfigurationError("--retention-days (RETENTION_DAYS) must be at least 1") }
        guard dispatchMaxAttempts >= 1 else { throw ConfigurationError("--dispatch-max-attempts (DISPATCH_MAX_ATTEMPTS) must be at least 1") }
        return IngestConfiguration(
            rulesAddress: try rules.resolved(), sequenceAddress: try sequence.resolved(),
            retentionDays: retentionDays, durability: durability, dispatchMaxAttempts: dispatchMaxAttempts,
            secretsKey: Env.string("SECRETS_KEY", in: environment), secretsKeyFile: secretsKeyFile)
    }
}

/// The resolved configuration of ingest-service.
package struct IngestConfiguration: Sendable {
    package var rulesAddress: PeerAddress
    package var sequenceAddress: PeerAddress
    package var retentionDays: Int
    package var durability: Durability
    package var dispatchMaxAttempts: Int
    /// Base64 of the 32-byte key sealing the copies of webhook source secrets (`SECRETS_KEY`, environment
    /// only); `nil`: the key file.
    package var secretsKey: String?
    /// The key file used when `secretsKey` is `nil`; `nil`: `<data-dir>/../keys/ingest-service.key`.
    package var secretsKeyFile: String?

    package init(rulesAddress: PeerAddress = PeerAddress(host: "127.0.0.1", port: 7102),
                 sequenceAddress: PeerAddress = PeerAddress(host: "127.0.0.1", port: 7103),
                 retentionDays: Int = 30, durability: Durability = .full, dispatchMaxAttempts: Int = 12,
                 secretsKey: String? = nil, secretsKeyFile: String? = nil) {
        self.rulesAddress = rulesAddress
        self.sequenceAddress = sequenceAddress
        self.retentionDays = retentionDays
        self.durability = durability
        self.dispatchMaxAttempts = dispatchMaxAttempts
        self.secretsKey = secretsKey
        self.secretsKeyFile = secretsKeyFile
    }
}

/// The composition root of ingest-service.
package enum IngestProcess {
    package static func build(
        settings: ServiceSettings, configuration: IngestConfiguration, logger: Logger,
        clock: any WallClock = SystemClock(), dispatch: DispatchSettings? = nil
    ) async throws -> ServiceProcess {
        let box = try settings.secretBox(service: "ingest-service", environmentValue: configuration.secretsKey,
                                         keyFile: configuration.secretsKeyFile, logger: logger)
        let db = try StoreFactory.open(folder: settings.dataDir, migrator: IngestStore.migrator(box: box), durability: configuration.durability)
        let store = IngestStore(db: db, box: box)
        let rules = RulesClient(connection: settings.connection(
            to: configuration.rulesAddress, serverName: "rules-service", logger: logger))
        let sequences = SequencesClient(connection: settings.connection(
            to: configuration.sequenceAddress, serverName: "sequence-service", logger: logger))
        let dispatcher = Dispatcher(
            store: store, rules: rules, sequences: sequences,
            settings: dispatch ?? DispatchSettings(maxAttempts: configuration.dispatchMaxAttempts),
            clock: clock, logger: logger)
        let counters = IntakeCounters()
        let server = IngestServer(store: store, dispatcher: dispatcher, rules: rules, sequences: sequences, clock: clock, counters: counters)
        let health = HealthServer(service: "ingest-service", store: db, recorded: settings.metrics) {
            var metrics: [PB.Metric] = []
            for (key, value) in counters.snapshot.sorted(by: { $0.key < $1.key }) {
                let parts = key.split(separator: "|").map(String.init)
                if parts[0] == "queue_depth_failures" {
                    metrics.append(.sample("ingest_queue_depth_failures_total", Double(value), help: "Scrapes that could not read the dispatch queue depth"))
                } else if parts[0] == "deliveries" {
                    metrics.append(.sample("ingest_webhooks_received_total", Double(value), help: "Webhook deliveries by outcome", labels: ["status": parts[1]]))
                } else {
                    metrics.append(.sample("ingest_events_stored_total", Double(value), help: "New events stored"))
                }
            }
            for (key, value) in dispatcher.counters.snapshot.sorted(by: { $0.key < $1.key }) {
                let parts = key.split(separator: "|").map(String.init)
                metrics.append(.sample("ingest_dispatch_attempts_total", Double(value), help: "Dispatch attempts by destination and result",
                                       labels: ["destination": parts[0], "result": parts[1]]))
            }
            do {
                let pending = try await store.pendingCount()
                metrics.append(.sample("ingest_dispatch_queue_depth", Double(pending), kind: .gauge, help: "Events waiting for their journey"))
            } catch {
                // No gauge rather than a false 0; the failure is logged and counted.
                counters.countQueueDepthFailure()
                logger.warning("ingest.queue_depth_failed", metadata: ["error": "\(error)"])
            }
            return metrics
        }
        let sweeper = RetentionSweeper(store: store, retentionDays: configuration.retentionDays, clock: clock, logger: logger)
        let rpc = try await RPCServer(configuration: RPCServerConfiguration(settings: settings),
                                      routes: health.routes + server.routes, security: settings.security, logger: logger,
                                      stats: health.rpcStats)
        return ServiceProcess(name: "ingest-service", store: db, server: rpc, workers: [dispatcher, sweeper])
    }
}

/// Drops raw webhook bodies past retention, once an hour; event summaries stay.
package struct RetentionSweeper: Service {
    let store: IngestStore
    let retentionDays: Int
    let clock: any WallClock
    let logger: Logger

    package func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let cutoff = clock.now().unixMicros - Int64(retentionDays) * 86_400 * 1_000_000
            do {
                let swept = try await store.sweep(bodiesBefore: cutoff)
                if swept > 0 { logger.info("retention.swept", metadata: ["deliveries": "\(swept)"]) }
            } catch {
                logger.error("retention.failed", metadata: ["error": "\(error)"])
            }
            // Ends early only by shutdown or cancellation, which the loop condition then sees.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(3600)) }
        }
    }
}
