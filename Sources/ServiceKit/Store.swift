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
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let path = (folder as NSString).appendingPathComponent(file)
        try restrictToOwner(folder: folder, path: path)
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
        let pool = try DatabasePool(path: path, configuration: configuration)
        try migrator.migrate(pool)
        return pool
    }

    /// Makes the store readable by its owner only: the folder 0700, the database file 0600 — created
    /// empty with that mode before SQLite opens it, because SQLite gives its `-wal` and `-shm` files the
    /// database file's mode — and any files an earlier version left with a wider mode narrowed.
    private static func restrictToOwner(folder: String, path: String) throws {
        guard chmod(folder, 0o700) == 0 else { throw ConfigurationError("cannot restrict \(folder) to its owner (errno \(errno))") }
        if !FileManager.default.fileExists(atPath: path) {
            let descriptor = Foundation.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            if descriptor >= 0 { close(descriptor) } else if errno != EEXIST {
                throw ConfigurationError("cannot create \(path) (errno \(errno))")
            }
        }
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
            guard chmod(file, 0o600) == 0 else { throw ConfigurationError("cannot restrict \(file) to its owner (errno \(errno))") }
        }
    }

    /// A store in a fresh temporary folder (tests).
    package static func temporary(migrator: DatabaseMigrator, durability: Durability = .full) throws -> DatabasePool {
        let folder = NSTemporaryDirectory() + "store-" + UUID().uuidString
        return try open(folder: folder, migrator: migrator, durability: durability)
    }
}
