import GRDB
import Logging
import ServiceKit
import Wire

/// The composition root of rules-service.
package enum RulesProcess {
    package static func build(settings: ServiceSettings, logger: Logger) async throws -> ServiceProcess {
        let store = try StoreFactory.open(folder: settings.dataDir, migrator: RulesStore.migrator)
        let health = HealthServer(service: "rules-service", store: store)
        let server = try await RPCServer(configuration: RPCServerConfiguration(settings: settings),
                                         routes: health.routes, logger: logger)
        return ServiceProcess(name: "rules-service", store: store, server: server, workers: [])
    }
}

/// rules-service's store.
package enum RulesStore {
    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-meta") { db in
            try db.execute(sql: "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)")
        }
        return migrator
    }
}
