import Basics
import Crypto
import Foundation
import GRDB
import ServiceKit
import Wire

/// A tenant of the deployment.
package struct TenantRecord: Sendable, Codable, Equatable {
    package var id: String
    package var name: String
    /// active or suspended
    package var status: String
    package var createdAt: Date
}

/// An API key as listed (the key itself is shown once, at creation, and stored only hashed).
package struct APIKeyRecord: Sendable, Codable, Equatable {
    package var id: String
    package var tenantID: String
    package var name: String
    package var prefix: String
    package var createdAt: Date
    package var lastUsedAt: Date?
    package var revokedAt: Date?
}

/// The gateway's store: tenants, API keys and billing state (`GatewayStore+Billing`).
package final class GatewayStore: Sendable {
    package let db: DatabasePool

    package init(db: DatabasePool) { self.db = db }

    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE tenant (
                    id TEXT PRIMARY KEY NOT NULL,
                    name TEXT NOT NULL,
                    status TEXT NOT NULL DEFAULT 'active',
                    created_at INTEGER NOT NULL
                );
                CREATE TABLE api_key (
                    id TEXT PRIMARY KEY NOT NULL,
                    tenant_id TEXT NOT NULL REFERENCES tenant(id),
                    name TEXT NOT NULL,
                    prefix TEXT NOT NULL,
                    key_hash TEXT NOT NULL UNIQUE,
                    created_at INTEGER NOT NULL,
                    last_used_at INTEGER,
                    revoked_at INTEGER
                );
                CREATE INDEX api_key_by_tenant ON api_key(tenant_id, created_at);
                CREATE TABLE idempotency (
                    tenant_id TEXT NOT NULL,
                    key TEXT NOT NULL,
                    route TEXT NOT NULL,
                    request_hash TEXT NOT NULL,
                    status INTEGER NOT NULL,
                    body BLOB NOT NULL,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, key)
                );
                """)
        }
        migrator.registerMigration("v2-kommo-oauth-state") { db in
            // Kommo OAuth install states: each is used once (the callback that presents it marks it used,
            // so a replay is told so) and expires; the key that signs them never leaves this store.
            try db.execute(sql: """
                CREATE TABLE kommo_oauth_state (
                    nonce TEXT PRIMARY KEY NOT NULL,
                    tenant_id TEXT NOT NULL,
                    expires_at INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    used_at INTEGER
                );
                CREATE TABLE gateway_key (
                    name TEXT PRIMARY KEY NOT NULL,
                    value BLOB NOT NULL
                );
                """)
        }
        registerBillingMigration(&migrator)
        return migrator
    }

    /// How a secret (API key, webhook secret) is stored: its SHA-256 as hex.
    static func hash(_ text: String) -> String { SHA256.hex(of: text) }

    private static func tenant(_ row: Row) -> TenantRecord {
        TenantRecord(id: row["id"], name: row["name"], status: row["status"], createdAt: Date(unixMicros: row["created_at"]))
    }

    private static func key(_ row: Row) -> APIKeyRecord {
        APIKeyRecord(id: row["id"], tenantID: row["tenant_id"], name: row["name"], prefix: row["prefix"],
                     createdAt: Date(unixMicros: row["created_at"]), lastUsedAt: (row["last_used_at"] as Int64?).map(Date.init(unixMicros:)),
                     revokedAt: (row["revoked_at"] as Int64?).map(Date.init(unixMicros:)))
    }

    // MARK: - Tenants

    package func createTenant(name: String, now: Date) async throws -> TenantRecord {
        let tenant = TenantRecord(id: RandomID.make("tn_", hexDigits: 16), name: name, status: "active", createdAt: now)
        try await db.write { db in
            try db.execute(sql: "INSERT INTO tenant (id, name, status, created_at) VALUES (?, ?, 'active', ?)",
                           arguments: [tenant.id, tenant.name, now.unixMicros])
        }
        return tenant
    }

    package func tenants(limit: Int, after: String?) async throws -> [TenantRecord] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tenant WHERE id > ? ORDER BY id LIMIT ?", arguments: [after ?? "", limit]).map(Self.tenant)
        }
    }

    package func tenant(id: String) async throws -> TenantRecord? {
        try await db.read { db in try Row.fetchOne(db, sql: "SELECT * FROM tenant WHERE id = ?", arguments: [id]).map(Self.tenant) }
    }

    package func setTenantStatus(id: String, status: String) async throws -> TenantRecord? {
        try await db.write { db in
            try db.execute(sql: "UPDATE tenant SET status = ? WHERE id = ?", arguments: [status, id])
            return try Row.fetchOne(db, sql: "SELECT * FROM tenant WHERE id = ?", arguments: [id]).map(Self.tenant)
        }
    }

    /// Ids of every suspended tenant, for the push of their state to the services at start.
    package func suspendedTenantIDs() async throws -> [String] {
        try await db.read { db in try String.fetchAll(db, sql: "SELECT id FROM tenant WHERE status = 'suspended' ORDER BY id") }
    }

    package func tenantCount() async throws -> Int {
        try await db.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM tenant") ?? 0 }
    }

    // MARK: - API keys

    /// Creates a key; returns the record and the key itself, which is never retrievable again. With a
    /// `limit`, a tenant already holding that many live keys gets RESOURCE_EXHAUSTED naming the quota
    /// (counted in the same transaction, so concurrent creates cannot pass it).
    package func createKey(tenantID: String, name: String, now: Date, limit: Int? = nil) async throws -> (APIKeyRecord, String) {
        let secret = RandomID.make("ka_", hexDigits: 40)
        let record = APIKeyRecord(id: RandomID.make("key_", hexDigits: 16), tenantID: tenantID, name: name,
                                  prefix: String(secret.prefix(10)), createdAt: now, lastUsedAt: nil, revokedAt: nil)
        try await db.write { db in
            if let limit {
                let live = try Int.fetchOne(db, sql: "SELECT count(*) FROM api_key WHERE tenant_id = ? AND revoked_at IS NULL",
                                            arguments: [tenantID]) ?? 0
                if live >= limit {
                    throw RPCError(.resourceExhausted, "quota max_api_keys exceeded: a tenant may hold \(limit) live API keys; revoke one first")
                }
            }
            try db.execute(sql: """
                INSERT INTO api_key (id, tenant_id, name, prefix, key_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [record.id, tenantID, name, record.prefix, Self.hash(secret), now.unixMicros])
        }
        return (record, secret)
    }

    package func keys(tenantID: String) async throws -> [APIKeyRecord] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_key WHERE tenant_id = ? ORDER BY created_at DESC", arguments: [tenantID]).map(Self.key)
        }
    }

    package func revokeKey(tenantID: String, id: String, now: Date) async throws -> APIKeyRecord? {
        try await db.write { db in
            try db.execute(sql: "UPDATE api_key SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? AND tenant_id = ?",
                           arguments: [now.unixMicros, id, tenantID])
            return try Row.fetchOne(db, sql: "SELECT * FROM api_key WHERE id = ? AND tenant_id = ?", arguments: [id, tenantID]).map(Self.key)
        }
    }

    /// The tenant a presented key belongs to, when the key is live and the tenant active.
    /// Last use is written at most once a minute per key, so reads do not become writes.
    package func authenticate(key: String, now: Date) async throws -> (tenant: TenantRecord, key: APIKeyRecord)? {
        let hash = Self.hash(key)
        let found = try await db.read { db -> (TenantRecord, APIKeyRecord)? in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM api_key WHERE key_hash = ?", arguments: [hash]) else { return nil }
            let key = Self.key(row)
            guard let tenant = try Row.fetchOne(db, sql: "SELECT * FROM tenant WHERE id = ?", arguments: [key.tenantID]).map(Self.tenant) else { return nil }
            return (tenant, key)
        }
        guard let (tenant, key) = found, key.revokedAt == nil, tenant.status == "active" else { return nil }
        if key.lastUsedAt.map({ now.timeIntervalSince($0) > 60 }) ?? true {
            try await db.write { db in
                try db.execute(sql: "UPDATE api_key SET last_used_at = ? WHERE id = ?", arguments: [now.unixMicros, key.id])
            }
        }
        return (tenant, key)
    }
}

// MARK: - Idempotency keys

extension GatewayStore {
    /// A stored answer to an earlier POST with the same `Idempotency-Key`.
    package struct StoredAnswer: Sendable {
        package var requestHash: String
        package var status: Int
        package var body: Data
    }

    package func storedAnswer(tenantID: String, key: String) async throws -> StoredAnswer? {
        try await db.read { db in
            try Row.fetchOne(db, sql: "SELECT request_hash, status, body FROM idempotency WHERE tenant_id = ? AND key = ?", arguments: [tenantID, key])
                .map { StoredAnswer(requestHash: $0["request_hash"], status: $0["status"], body: $0["body"]) }
        }
    }

    package func storeAnswer(tenantID: String, key: String, route: String, requestHash: String, status: Int, body: Data, now: Date) async throws {
        try await db.write { db in
            try db.execute(sql: """
                INSERT OR IGNORE INTO idempotency (tenant_id, key, route, request_hash, status, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [tenantID, key, route, requestHash, status, body, now.unixMicros])
            // Keys are kept for a day.
            try db.execute(sql: "DELETE FROM idempotency WHERE created_at < ?", arguments: [now.addingTimeInterval(-86_400).unixMicros])
        }
    }
}
