import Foundation
import GRDB
import Logging
import ServiceLifecycle

/// How hard a store pushes each commit to disk.
package enum Durability: String, Sendable {
    /// `synchronous=FULL`: a commit survives power loss once it returns.
    case full
    /// `synchronous=NORMAL` in WAL: a commit survives a process crash; the last ones may be lost on power loss.
    case normal
}

/// Opens a service's SQLite store: a `DatabasePool` in WAL mode for the process's lifetime, with the
/// migrations applied before anything else touches it.
package enum StoreFactory {
    package static func open(
        folder: String, file: String = "store.sqlite", migrator: DatabaseMigrator, durability: Durability = .full
    ) throws -> DatabasePool {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.maximumReaderCount = 4
        let synchronous = durability == .full ? "FULL" : "NORMAL"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            // Pages through memory mapping and a larger cache: fewer read syscalls on the hot tables.
            try db.execute(sql: "PRAGMA mmap_size = 268435456")
            try db.execute(sql: "PRAGMA cache_size = -16384")
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            // The `Checkpointer` moves the WAL into the database off the request path; this bound only
            // applies when it falls behind (or does not run, as in tests that build a store alone).
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(StoreFactory.fallbackCheckpointPages)")
        }
        let pool = try DatabasePool(path: (folder as NSString).appendingPathComponent(file), configuration: configuration)
        try migrator.migrate(pool)
        return pool
    }

    /// WAL pages (4 KiB) after which a commit checkpoints by itself.
    package static let fallbackCheckpointPages = 8192

    /// A store in a fresh temporary folder (tests).
    package static func temporary(migrator: DatabaseMigrator, durability: Durability = .full) throws -> DatabasePool {
        let folder = NSTemporaryDirectory() + "store-" + UUID().uuidString
        return try open(folder: folder, migrator: migrator, durability: durability)
    }
}

/// Copies committed pages from the WAL into the database file in the background, on a connection of
/// its own, so that no request's commit waits for a checkpoint and its fsync. A passive checkpoint never
/// blocks writers or readers; the WAL is reused from its start once it has been copied.
package final class Checkpointer: Service, Sendable {
    private let path: String
    private let interval: Duration
    private let logger: Logger

    package init(store: DatabasePool, interval: Duration = .milliseconds(250), logger: Logger) {
        self.path = store.path
        self.interval = interval
        self.logger = logger
    }

    package func run() async {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.label = "checkpointer"
        configuration.prepareDatabase { db in
            // The database file is synced after each checkpoint, as the pool's own checkpoints would.
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
        }
        // Without its connection the store still works: commits then checkpoint by themselves.
        let connection: DatabaseQueue?
        do {
            connection = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            logger.warning("store.checkpointer_unavailable", metadata: ["error": "\(error)", "path": "\(path)"])
            connection = nil
        }
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                guard let connection else { continue }
                do {
                    _ = try await connection.writeWithoutTransaction { db in try db.checkpoint(.passive) }
                } catch {
                    self.logger.warning("store.checkpoint_failed", metadata: ["error": "\(error)", "path": "\(self.path)"])
                }
            }
        }
    }
}
