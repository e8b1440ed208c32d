import ArgumentParser
import GRDB
import Logging
import ServiceKit
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
    package static func build(settings: ServiceSettings, configuration: SequenceConfiguration, logger: Logger) async throws -> ServiceProcess {
        let store = try StoreFactory.open(folder: settings.dataDir, migrator: SequenceStore.migrator)
        let health = HealthServer(service: "sequence-service", store: store)
        let server = try await RPCServer(configuration: RPCServerConfiguration(settings: settings),
                                         routes: health.routes, logger: logger)
        return ServiceProcess(name: "sequence-service", store: store, server: server, workers: [])
    }
}

/// sequence-service's store.
package enum SequenceStore {
    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-meta") { db in
            try db.execute(sql: "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)")
        }
        return migrator
    }
}
