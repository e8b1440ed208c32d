import Foundation
import GRDB

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
        }
        let pool = try DatabasePool(path: (folder as NSString).appendingPathComponent(file), configuration: configuration)
        try migrator.migrate(pool)
        return pool
    }

    /// A store in a fresh temporary folder (tests).
    package static func temporary(migrator: DatabaseMigrator, durability: Durability = .full) throws -> DatabasePool {
        let folder = NSTemporaryDirectory() + "store-" + UUID().uuidString
        return try open(folder: folder, migrator: migrator, durability: durability)
    }
}
