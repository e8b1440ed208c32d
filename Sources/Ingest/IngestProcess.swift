import ArgumentParser
import GRDB
import Logging
import ServiceKit
import Wire

/// ingest-service's own settings (flags and environment variables).
package struct IngestOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("rules-address"), help: "rules-service host:port (env RULES_ADDRESS).")
    package var rulesAddress: String = Env.string("RULES_ADDRESS") ?? "127.0.0.1:7102"

    @Option(name: .customLong("sequence-address"), help: "sequence-service host:port (env SEQUENCE_ADDRESS).")
    package var sequenceAddress: String = Env.string("SEQUENCE_ADDRESS") ?? "127.0.0.1:7103"

    @Option(name: .customLong("retention-days"), help: "Days raw webhook bodies are kept (env RETENTION_DAYS).")
    package var retentionDays: Int = Env.int("RETENTION_DAYS") ?? 30

    @Option(name: .customLong("durability"), help: "full (survives power loss) or normal (survives a process crash) (env DURABILITY).")
    package var durability: String = Env.string("DURABILITY") ?? "full"

    @Option(name: .customLong("dispatch-max-attempts"), help: "Attempts per destination before a dispatch is failed (env DISPATCH_MAX_ATTEMPTS).")
    package var dispatchMaxAttempts: Int = Env.int("DISPATCH_MAX_ATTEMPTS") ?? 12

    package init() {}

    package func configuration() throws -> IngestConfiguration {
        guard let durability = Durability(rawValue: durability) else {
            throw ConfigurationError("--durability: expected full or normal, got '\(durability)'")
        }
        guard retentionDays >= 1 else { throw ConfigurationError("--retention-days must be at least 1") }
        guard dispatchMaxAttempts >= 1 else { throw ConfigurationError("--dispatch-max-attempts must be at least 1") }
        return IngestConfiguration(
            rulesAddress: try PeerAddress(parsing: rulesAddress, key: "--rules-address"),
            sequenceAddress: try PeerAddress(parsing: sequenceAddress, key: "--sequence-address"),
            retentionDays: retentionDays, durability: durability, dispatchMaxAttempts: dispatchMaxAttempts)
    }
}

/// The resolved configuration of ingest-service.
package struct IngestConfiguration: Sendable {
    package var rulesAddress: PeerAddress
    package var sequenceAddress: PeerAddress
    package var retentionDays: Int
    package var durability: Durability
    package var dispatchMaxAttempts: Int

    package init(rulesAddress: PeerAddress = PeerAddress(host: "127.0.0.1", port: 7102),
                 sequenceAddress: PeerAddress = PeerAddress(host: "127.0.0.1", port: 7103),
                 retentionDays: Int = 30, durability: Durability = .full, dispatchMaxAttempts: Int = 12) {
        self.rulesAddress = rulesAddress
        self.sequenceAddress = sequenceAddress
        self.retentionDays = retentionDays
        self.durability = durability
        self.dispatchMaxAttempts = dispatchMaxAttempts
    }
}

/// The composition root of ingest-service.
package enum IngestProcess {
    package static func build(settings: ServiceSettings, configuration: IngestConfiguration, logger: Logger) async throws -> ServiceProcess {
        let store = try StoreFactory.open(folder: settings.dataDir, migrator: IngestStore.migrator, durability: configuration.durability)
        let health = HealthServer(service: "ingest-service", store: store)
        let server = try await RPCServer(configuration: RPCServerConfiguration(settings: settings),
                                         routes: health.routes, logger: logger)
        return ServiceProcess(name: "ingest-service", store: store, server: server, workers: [])
    }
}

/// ingest-service's store.
package enum IngestStore {
    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-meta") { db in
            try db.execute(sql: "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)")
        }
        return migrator
    }
}
