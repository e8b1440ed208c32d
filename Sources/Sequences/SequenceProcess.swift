import ArgumentParser
import Basics
import Foundation
import GRDB
import Logging
import Metrics
import ServiceKit
import ServiceLifecycle
import Wire

/// sequence-service's own settings (flags and environment variables).
///
/// `SECRETS_KEY` (environment only, so the key never shows in a process list): base64 of 32 bytes that
/// encrypt tenants' tokens and secrets at rest. When unset, the key is read from (or generated into, mode
/// 0600, with a warning) `--secrets-key-file`, by default `<data-dir>/../keys/sequence-service.key`: outside
/// the data folder, so the store's volume does not carry its own key.
package struct SequenceOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("ingest-address"), help: "ingest-service host:port (env INGEST_ADDRESS).")
    package var ingestAddress: String = Env.string("INGEST_ADDRESS") ?? "127.0.0.1:7101"

    @Option(name: .customLong("rules-address"), help: "rules-service host:port (env RULES_ADDRESS).")
    package var rulesAddress: String = Env.string("RULES_ADDRESS") ?? "127.0.0.1:7102"

    @Flag(name: .customLong("egress-allow-private"), inversion: .prefixedNo,
          help: "Let outbound requests (Kommo, Chats API, AI, webhooks) reach private, loopback and other special-purpose addresses (env EGRESS_ALLOW_PRIVATE; off in production).")
    package var egressAllowPrivate: Bool?

    @Option(name: .customLong("egress-allowed-hosts"),
            help: "Comma-separated hosts that may serve as Kommo and Chats API base URLs besides *.kommo.com, *.amocrm.ru and *.amocrm.com, over http or https (env EGRESS_ALLOWED_HOSTS).")
    package var egressAllowedHosts: String = Env.string("EGRESS_ALLOWED_HOSTS") ?? ""

    @Option(name: .customLong("secrets-key-file"),
            help: "File holding the key that seals secrets at rest when SECRETS_KEY is unset (env SECRETS_KEY_FILE; default <data-dir>/../keys/sequence-service.key).")
    package var secretsKeyFile: String? = Env.string("SECRETS_KEY_FILE")

    @Option(name: .customLong("kommo-max-batch"),
            help: "Items per Kommo batch request: tasks, notes, lead updates, lead reads (env KOMMO_MAX_BATCH; 1…250, default 50).")
    package var kommoMaxBatch: Int?

    @Option(name: .customLong("kommo-collect-ms"),
            help: "A batch waits this long after the latest item joined before it is sent (env KOMMO_COLLECT_MS; 0…1000, default 250).")
    package var kommoCollectMillis: Int?

    @Option(name: .customLong("kommo-lead-cache-seconds"),
            help: "How long a lead read from Kommo serves templates unless a webhook about the lead comes first (env KOMMO_LEAD_CACHE_SECONDS; 0…86400, default 900).")
    package var kommoLeadCacheSeconds: Int?

    @Option(name: .customLong("kommo-client-id"), help: "The Kommo public integration's id, for connecting accounts through OAuth (env KOMMO_CLIENT_ID; its secret: env KOMMO_CLIENT_SECRET only).")
    package var kommoClientID: String = Env.string("KOMMO_CLIENT_ID") ?? ""

    @Option(name: .customLong("kommo-redirect-uri"), help: "The redirect URI registered with the Kommo integration: the gateway's /oauth/kommo/callback (env KOMMO_REDIRECT_URI).")
    package var kommoRedirectURI: String = Env.string("KOMMO_REDIRECT_URI") ?? ""

    @Option(name: .customLong("kommo-referer-scheme"), help: "How the account host Kommo's redirect names is reached: https, or http only for a local Kommo emulator (env KOMMO_REFERER_SCHEME; default https).")
    package var kommoRefererScheme: String?

    @Option(name: .customLong("kommo-catalog-refresh-s"), help: "How often each connected account's catalog is read again, in seconds (env KOMMO_CATALOG_REFRESH_S; default 3600).")
    package var kommoCatalogRefreshSeconds: Int?

    package init() {}

    /// The Kommo budget settings, each checked against its range.
    func budget(environment: [String: String]) throws(ConfigurationError) -> KommoBudgetSettings {
        func setting(_ value: Int?, _ flag: String, _ key: String, _ range: ClosedRange<Int>, _ fallback: Int) throws(ConfigurationError) -> Int {
            let configured: Int?
            if let value { configured = value } else { configured = try Env.integer(key, in: environment) }
            let chosen = configured ?? fallback
            guard range.contains(chosen) else {
                throw ConfigurationError("--\(flag) (\(key)) must be \(range.lowerBound)…\(range.upperBound), got \(chosen)")
            }
            return chosen
        }
        let defaults = KommoBudgetSettings()
        return KommoBudgetSettings(
            maxBatch: try setting(kommoMaxBatch, "kommo-max-batch", "KOMMO_MAX_BATCH", 1...250, defaults.maxBatch),
            collectWindow: .milliseconds(try setting(kommoCollectMillis, "kommo-collect-ms", "KOMMO_COLLECT_MS", 0...1000,
                                                     Int(defaults.collectWindow.millis))),
            leadCacheTTL: .seconds(try setting(kommoLeadCacheSeconds, "kommo-lead-cache-seconds", "KOMMO_LEAD_CACHE_SECONDS", 0...86_400,
                                               Int(defaults.leadCacheTTL.millis / 1000))))
    }

    /// The configuration: a flag wins, then its environment variable, then the default. A variable that
    /// does not read as its setting's type stops startup.
    package func configuration(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> SequenceConfiguration {
        let egressAllowPrivate = try self.egressAllowPrivate ?? Env.flag("EGRESS_ALLOW_PRIVATE", in: environment) ?? false
        let catalogRefresh = try kommoCatalogRefreshSeconds ?? Env.integer("KOMMO_CATALOG_REFRESH_S", in: environment) ?? 3600
        guard (60...(7 * 86_400)).contains(catalogRefresh) else {
            throw ValidationError("--kommo-catalog-refresh-s must be between 60 and 604800")
        }
        let refererScheme = kommoRefererScheme ?? Env.string("KOMMO_REFERER_SCHEME", in: environment) ?? "https"
        guard ["https", "http"].contains(refererScheme) else {
            throw ValidationError("--kommo-referer-scheme (KOMMO_REFERER_SCHEME) must be https or http, got \(refererScheme)")
        }
        let oauth = KommoOAuthSettings(clientID: kommoClientID.isEmpty ? nil : kommoClientID,
                                       clientSecret: Env.string("KOMMO_CLIENT_SECRET", in: environment),
                                       redirectURI: kommoRedirectURI.isEmpty ? nil : kommoRedirectURI,
                                       refererScheme: refererScheme,
                                       catalogRefreshInterval: TimeInterval(catalogRefresh))
        return SequenceConfiguration(
            ingestAddress: try PeerAddress(parsing: ingestAddress, key: "--ingest-address"),
            rulesAddress: try PeerAddress(parsing: rulesAddress, key: "--rules-address"),
            egress: EgressPolicy(allowPrivateTargets: egressAllowPrivate, allowedHosts: EgressPolicy.hosts(parsing: egressAllowedHosts)),
            secretsKey: Env.string("SECRETS_KEY", in: environment), secretsKeyFile: secretsKeyFile,
            budget: try budget(environment: environment),
            kommoOAuth: oauth)
    }
}

/// The resolved configuration of sequence-service.
package struct SequenceConfiguration: Sendable {
    package var ingestAddress: PeerAddress
    package var rulesAddress: PeerAddress
    /// Where outbound requests may go (operator settings only).
    package var egress: EgressPolicy
    /// Base64 of the 32-byte key sealing secrets at rest; `nil`: the key file.
    package var secretsKey: String?
    /// The key file used when `secretsKey` is `nil`; `nil`: `<data-dir>/../keys/sequence-service.key`.
    package var secretsKeyFile: String?
    /// Batches, the lead cache and paused accounts of Kommo calls.
    package var budget: KommoBudgetSettings
    /// The Kommo public integration connecting accounts through OAuth, and how connections are kept up.
    package var kommoOAuth: KommoOAuthSettings

    package init(ingestAddress: PeerAddress = PeerAddress(host: "127.0.0.1", port: 7101),
                 rulesAddress: PeerAddress = PeerAddress(host: "127.0.0.1", port: 7102),
                 egress: EgressPolicy = EgressPolicy(), secretsKey: String? = nil, secretsKeyFile: String? = nil,
                 budget: KommoBudgetSettings = KommoBudgetSettings(),
                 kommoOAuth: KommoOAuthSettings = KommoOAuthSettings()) {
        self.budget = budget
        self.ingestAddress = ingestAddress
        self.rulesAddress = rulesAddress
        self.egress = egress
        self.secretsKey = secretsKey
        self.secretsKeyFile = secretsKeyFile
        self.kommoOAuth = kommoOAuth
    }
}

/// The composition root of sequence-service.
package enum SequenceProcess {
    /// Builds the process: store (migrated), peers, executors, scheduler, RPC listener.
    ///
    /// - Parameters:
    ///   - runner: replaces the executors (tests of the scheduler alone).
    ///   - executor: retries and timeouts of the executors; where they may send comes from `configuration`.
    ///   - metrics: where the executors count runs and failed steps.
    package static func build(
        settings: ServiceSettings, configuration: SequenceConfiguration, logger: Logger,
        clock: any WallClock = SystemClock(), scheduler schedulerSettings: SchedulerSettings = SchedulerSettings(),
        runner: (any ActionRunner)? = nil, executor: ExecutorSettings = ExecutorSettings(),
        budget budgetOverride: KommoBudgetSettings? = nil, probeTick: Duration = .seconds(1),
        metrics: any MetricsFactory = MetricsSystem.factory
    ) async throws -> ServiceProcess {
        let db = try StoreFactory.open(folder: settings.dataDir, migrator: SequenceStore.migrator)
        let store = SequenceStore(db: db)
        let box = try settings.secretBox(
            service: "sequence-service", environmentValue: configuration.secretsKey, keyFile: configuration.secretsKeyFile,
            legacyKeyFile: (settings.dataDir as NSString).appendingPathComponent("secrets.key"), logger: logger)
        let egress = EgressGate(policy: configuration.egress)
        let integrations = Integrations(store: store, box: box, egress: egress)
        // This process is the store's only writer: rows a killed predecessor left running are free now.
        let released = try await store.releaseClaimsOfPreviousRun()
        if released > 0 { logger.notice("scheduler.claims_released", metadata: ["actions.count": "\(released)"]) }
        let ingest = IngestClient(connection: settings.connection(
            to: configuration.ingestAddress, serverName: "ingest-service", logger: logger))
        let rules = RulesClient(connection: settings.connection(
            to: configuration.rulesAddress, serverName: "rules-service", logger: logger))
        var kommoProbe: (@Sendable (String, Logger) async throws -> JSONValue)?
        let budget = KommoBudget(settings: budgetOverride ?? configuration.budget, store: store, clock: clock)
        var kommoClients: KommoClients?
        var connector: KommoConnector?
        let actionRunner: any ActionRunner
        if let runner {
            actionRunner = runner
        } else {
            // Every action type has exactly one executor, or the process does not start.
            let executorMetrics = ExecutorMetrics(factory: metrics)
            let registry = try ExecutorRegistry(ExecutorRegistry.executors(
                store: store, egress: egress, rules: rules, settings: executor, clock: clock, metrics: executorMetrics))
            let renewal = KommoTokenRenewal(integrations: integrations, egress: egress, clock: clock, store: store)
            let kommo = KommoClients(egress: egress, retry: executor.kommoRetry, renewal: renewal, budget: budget)
            kommoClients = kommo
            connector = KommoConnector(store: store, integrations: integrations, box: box, egress: egress, clients: kommo,
                                       renewal: renewal, clock: clock, settings: configuration.kommoOAuth)
            actionRunner = ActionExecution(registry: registry, integrations: integrations, kommo: kommo, metrics: executorMetrics)
            let check = KommoConnectionCheck(integrations: integrations, clients: kommo)
            kommoProbe = { tenantID, logger in try await check.run(tenantID: tenantID, logger: logger) }
        }
        let scheduler = Scheduler(store: store, runner: actionRunner, ingest: ingest, settings: schedulerSettings,
                                  clock: clock, logger: logger)
        let server = SequenceServer(store: store, scheduler: scheduler, integrations: integrations, clock: clock,
                                    kommoProbe: kommoProbe, quotas: settings.quotas, budget: budget, kommo: connector,
                                    pages: PageFetcher(gate: egress), embedder: KnowledgeEmbedder(gate: egress),
                                    egress: egress)
        // A store read that fails leaves its gauge out of this scrape (a missing series, not a false zero),
        // is logged, and is counted, so a store that cannot be read shows on the dashboard.
        let gaugeReadFailures = Counter(label: "sequence_metrics_read_failures_total", factory: metrics)
        let health = HealthServer(service: "sequence-service", store: db, recorded: settings.metrics) {
            var samples: [PB.Metric] = []
            do {
                for (status, count) in try await store.counts().sorted(by: { $0.key < $1.key }) {
                    samples.append(.sample("sequence_actions", Double(count), kind: .gauge, help: "Scheduled rows by status", labels: ["status": status]))
                }
            } catch {
                gaugeReadFailures.increment()
                logger.error("metrics.read_failed", metadata: ["metric.name": "sequence_actions", "error": "\(error)"])
            }
            do {
                let lateness = try await store.oldestDue(now: clock.now().unixMicros)
                samples.append(.sample("sequence_scheduler_lateness_seconds", Double(lateness) / 1e6, kind: .gauge,
                                       help: "How late the oldest due action is"))
            } catch {
                gaugeReadFailures.increment()
                logger.error("metrics.read_failed", metadata: ["metric.name": "sequence_scheduler_lateness_seconds", "error": "\(error)"])
            }
            return samples
        }
        let rpc = try await RPCServer(configuration: RPCServerConfiguration(settings: settings),
                                      routes: health.routes + server.routes, security: settings.security, logger: logger,
                                      stats: health.rpcStats)
        // The egress gate holds no connections between requests: nothing to stop after the scheduler.
        var workers: [any Service] = [scheduler]
        if let kommoClients {
            workers.append(KommoAccountProbe(budget: budget, clients: kommoClients, integrations: integrations, store: store,
                                             nudge: scheduler.nudge, clock: clock, tick: probeTick, logger: logger))
        }
        workers += connector.map { [KommoMaintenance(connector: $0, logger: logger)] } ?? []
        return ServiceProcess(name: "sequence-service", store: db, server: rpc, workers: workers)
    }
}
