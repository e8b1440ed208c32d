import Crypto
import Foundation
import GRDB
import Ingest
import ServiceKit
import Testing
import TestSupport

/// Webhook source secrets are kept as a hash and a sealed copy only, and every file of a store and its
/// key is readable by its owner alone.
@Suite struct SecretsAtRestTests {
    let box = SecretBox(key: SymmetricKey(size: .bits256))

    private func fileBytes(_ folder: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        for name in ["store.sqlite", "store.sqlite-wal"] {
            let path = (folder as NSString).appendingPathComponent(name)
            if let data = FileManager.default.contents(atPath: path) { bytes += Array(data) }
        }
        return bytes
    }

    private func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
        let needle = Array(needle.utf8)
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { start in haystack[start..<(start + needle.count)].elementsEqual(needle) }
    }

    private func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test func sourceSecretsAreNotStoredInPlainText() async throws {
        let folder = temporaryFolder("ingest-secrets")
        let db = try StoreFactory.open(folder: folder, migrator: IngestStore.migrator(box: box))
        let store = IngestStore(db: db, box: box)
        let first = try await store.ensureSource(tenantID: "t_one", now: 1_000)
        let rotated = try #require(try await store.rotateSource(tenantID: "t_one", graceSeconds: 60, now: 2_000))
        let other = try await store.ensureSource(tenantID: "t_two", now: 1_000)

        // Both secrets of t_one still authenticate (the old one within its grace period), by hash.
        #expect(try await store.resolve(secret: rotated.secret, now: 3_000)?.tenantID == "t_one")
        #expect(try await store.resolve(secret: first.secret, now: 3_000)?.tenantID == "t_one")
        #expect(try await store.resolve(secret: first.secret, now: 2_000 + 61_000_000) == nil)
        #expect(try await store.resolve(secret: "whk_" + String(repeating: "0", count: 48), now: 3_000) == nil)
        // The URL can still be shown: the sealed copy opens.
        #expect(try await store.source(tenantID: "t_one")?.secret == rotated.secret)
        #expect(try await store.source(tenantID: "t_two")?.secret == other.secret)

        let bytes = try fileBytes(folder)
        #expect(!bytes.isEmpty)
        for secret in [first.secret, rotated.secret, other.secret] {
            #expect(!contains(bytes, secret), "a source secret is readable in the store's files")
        }
        // The plain columns are gone from the schema.
        let columns = try await db.read { db in try db.columns(in: "webhook_source").map(\.name) }
        #expect(!columns.contains("secret") && !columns.contains("previous_secret"))
    }

    @Test func aSealedCopyDoesNotOpenWithAnotherKey() async throws {
        let folder = temporaryFolder("ingest-secrets-key")
        let db = try StoreFactory.open(folder: folder, migrator: IngestStore.migrator(box: box))
        _ = try await IngestStore(db: db, box: box).ensureSource(tenantID: "t_one", now: 1_000)
        let stranger = IngestStore(db: db, box: SecretBox(key: SymmetricKey(size: .bits256)))
        await #expect(throws: SecretBoxError.self) { _ = try await stranger.source(tenantID: "t_one") }
    }

    @Test func plainSecretsOfAnEarlierVersionAreSealedByTheMigration() async throws {
        let folder = temporaryFolder("ingest-secrets-migration")
        let path = (folder as NSString).appendingPathComponent("store.sqlite")
        let legacySecret = "whk_" + String(repeating: "ab", count: 24)
        let previousSecret = "whk_" + String(repeating: "cd", count: 24)
        do {
            let pool = try StoreFactory.open(folder: folder, migrator: DatabaseMigrator())
            try IngestStore.migrator(box: box).migrate(pool, upTo: "v2: pending events in order")
            try await pool.write { db in
                try db.execute(sql: """
                    INSERT INTO webhook_source (tenant_id, secret, secret_hash, previous_secret, previous_hash, previous_expires_at, created_at)
                    VALUES ('t_old', ?, ?, ?, ?, ?, 1)
                    """, arguments: [legacySecret, IngestStore.hash(legacySecret), previousSecret, IngestStore.hash(previousSecret), Int64.max])
            }
            try pool.close()
        }
        let db = try StoreFactory.open(folder: folder, migrator: IngestStore.migrator(box: box))
        let store = IngestStore(db: db, box: box)
        #expect(try await store.resolve(secret: legacySecret, now: 5)?.tenantID == "t_old")
        #expect(try await store.resolve(secret: previousSecret, now: 5)?.tenantID == "t_old")
        #expect(try await store.source(tenantID: "t_old")?.secret == legacySecret)
        try await db.writeWithoutTransaction { db in _ = try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        let bytes = Array(FileManager.default.contents(atPath: path) ?? Data())
        #expect(!contains(bytes, legacySecret) && !contains(bytes, previousSecret))
    }

    @Test func storeFilesAndKeysAreReadableByTheirOwnerOnly() async throws {
        let root = temporaryFolder("ingest-modes")
        let folder = (root as NSString).appendingPathComponent("ingest")
        let db = try StoreFactory.open(folder: folder, migrator: IngestStore.migrator(box: box))
        _ = try await IngestStore(db: db, box: box).ensureSource(tenantID: "t_one", now: 1)
        let store = (folder as NSString).appendingPathComponent("store.sqlite")
        for file in [store, store + "-wal", store + "-shm"] {
            #expect(FileManager.default.fileExists(atPath: file))
            #expect(try mode(file) == 0o600, "\(file)")
        }
        #expect(try mode(folder) == 0o700)

        let keyFile = SecretBox.defaultKeyFile(dataDir: folder, service: "ingest-service")
        #expect(!keyFile.hasPrefix(folder + "/"), "the key must not live in the data folder it protects")
        _ = try SecretBox.load(environmentValue: nil, keyFile: keyFile, logger: quietLogger)
        #expect(try mode(keyFile) == 0o600)
        #expect(try mode((keyFile as NSString).deletingLastPathComponent) == 0o700)
        // The same key opens on the next start.
        let again = try SecretBox.load(environmentValue: nil, keyFile: keyFile, logger: quietLogger)
        let sealed = try SecretBox.load(environmentValue: nil, keyFile: keyFile, logger: quietLogger).seal([1, 2, 3], context: "x")
        #expect(try again.unseal(sealed, context: "x") == [1, 2, 3])
    }

    @Test func anEarlierKeyInsideTheDataFolderIsMovedOut() throws {
        let root = temporaryFolder("sequence-key-move")
        let folder = (root as NSString).appendingPathComponent("sequence")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let legacy = (folder as NSString).appendingPathComponent("secrets.key")
        let key = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
        FileManager.default.createFile(atPath: legacy, contents: Data((key + "\n").utf8), attributes: [.posixPermissions: 0o644])
        let sealed = try SecretBox.load(environmentValue: key, keyFile: "/nonexistent/unused.key", logger: quietLogger)
            .seal([7], context: "c")
        let keyFile = SecretBox.defaultKeyFile(dataDir: folder, service: "sequence-service")
        let box = try SecretBox.load(environmentValue: nil, keyFile: keyFile, legacyKeyFile: legacy, logger: quietLogger)
        #expect(try box.unseal(sealed, context: "c") == [7])
        #expect(!FileManager.default.fileExists(atPath: legacy))
        #expect(try mode(keyFile) == 0o600)
    }
}
