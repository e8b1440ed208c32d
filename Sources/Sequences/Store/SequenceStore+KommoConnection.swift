import Foundation
import GRDB

/// A Kommo account connected through OAuth, as `kommo_connection` keeps it. Times are unix microseconds.
package struct KommoConnectionRecord: Sendable, Hashable {
    package var tenantID: String
    package var accountID: Int64
    package var subdomain: String
    package var name: String
    package var baseURL: String
    package var connectedAt: Int64
    /// When the access token stops working.
    package var accessExpiresAt: Int64
    /// When the refresh token in use was issued (Kommo's live 3 months).
    package var refreshIssuedAt: Int64
    /// Our webhook destination registered at Kommo, sealed with the tenant id.
    package var webhookSealed: [UInt8]?
    package var renewalFailedAt: Int64?
    package var renewalError: String?

    package init(tenantID: String, accountID: Int64, subdomain: String, name: String, baseURL: String, connectedAt: Int64,
                 accessExpiresAt: Int64, refreshIssuedAt: Int64, webhookSealed: [UInt8]? = nil) {
        self.tenantID = tenantID
        self.accountID = accountID
        self.subdomain = subdomain
        self.name = name
        self.baseURL = baseURL
        self.connectedAt = connectedAt
        self.accessExpiresAt = accessExpiresAt
        self.refreshIssuedAt = refreshIssuedAt
        self.webhookSealed = webhookSealed
    }

    init(row: Row) {
        tenantID = row["tenant_id"]
        accountID = row["account_id"]
        subdomain = row["subdomain"]
        name = row["name"]
        baseURL = row["base_url"]
        connectedAt = row["connected_at"]
        accessExpiresAt = row["access_expires_at"]
        refreshIssuedAt = row["refresh_issued_at"]
        webhookSealed = (row["webhook_sealed"] as Data?).map { Array($0) }
        renewalFailedAt = row["renewal_failed_at"]
        renewalError = row["renewal_error"]
    }
}

/// The catalog of the Kommo account a tenant works with, whether connected through OAuth or by a
/// pasted token, as `kommo_catalog` keeps it.
package struct KommoCatalogRecord: Sendable, Hashable {
    /// The catalog in the REST shape (without `connected`, `account` and `refreshed_at`), when read.
    package var json: String?
    package var refreshedAt: Int64?
    package var error: String?
    package var errorAt: Int64?
}

extension SequenceStore {
    /// The tenant's OAuth connection, or `nil`.
    package func kommoConnection(tenantID: String) async throws -> KommoConnectionRecord? {
        try await db.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM kommo_connection WHERE tenant_id = ?", arguments: [tenantID])
                .map(KommoConnectionRecord.init(row:))
        }
    }

    /// The tenants connected to Kommo account `accountID`.
    package func kommoConnections(accountID: Int64) async throws -> [KommoConnectionRecord] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM kommo_connection WHERE account_id = ? ORDER BY tenant_id", arguments: [accountID])
                .map(KommoConnectionRecord.init(row:))
        }
    }

    /// Every OAuth connection (the maintenance loop walks them; one row per connected tenant).
    package func kommoConnections() async throws -> [KommoConnectionRecord] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM kommo_connection ORDER BY tenant_id").map(KommoConnectionRecord.init(row:))
        }
    }

    /// Stores a new connection, replacing the tenant's previous one (its alerts included), with the
    /// catalog read on connecting (`catalog` nil: it could not be read, for `catalogError`).
    package func saveKommoConnection(_ record: KommoConnectionRecord, catalog: String?, catalogError: String?) async throws {
        try await db.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO kommo_connection (tenant_id, account_id, subdomain, name, base_url, connected_at,
                    access_expires_at, refresh_issued_at, webhook_sealed, renewal_failed_at, renewal_error)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [record.tenantID, record.accountID, record.subdomain, record.name, record.baseURL, record.connectedAt,
                                 record.accessExpiresAt, record.refreshIssuedAt, record.webhookSealed.map { Data($0) },
                                 record.renewalFailedAt, record.renewalError])
            try db.execute(sql: "DELETE FROM kommo_catalog WHERE tenant_id = ?", arguments: [record.tenantID])
            try Self.catalogRead(db, tenantID: record.tenantID, json: catalog, at: record.connectedAt, error: catalogError)
        }
    }

    /// Records renewed tokens' times and clears a renewal alert.
    package func kommoTokensRenewed(tenantID: String, accessExpiresAt: Int64, refreshIssuedAt: Int64) async throws {
        try await db.write { db in
            try db.execute(sql: """
                UPDATE kommo_connection SET access_expires_at = ?, refresh_issued_at = ?, renewal_failed_at = NULL, renewal_error = NULL
                WHERE tenant_id = ?
                """, arguments: [accessExpiresAt, refreshIssuedAt, tenantID])
        }
    }

    /// Records a failed renewal: an alert until the next renewal succeeds or the tenant connects again.
    package func kommoRenewalFailed(tenantID: String, at time: Int64, reason: String) async throws {
        try await db.write { db in
            try db.execute(sql: "UPDATE kommo_connection SET renewal_failed_at = ?, renewal_error = ? WHERE tenant_id = ?",
                           arguments: [time, String(reason.prefix(500)), tenantID])
        }
    }

    /// The tenant's account catalog as last read, or `nil` when never read.
    package func kommoCatalog(tenantID: String) async throws -> KommoCatalogRecord? {
        try await db.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM kommo_catalog WHERE tenant_id = ?", arguments: [tenantID]).map { row in
                KommoCatalogRecord(json: row["catalog_json"], refreshedAt: row["refreshed_at"], error: row["error"], errorAt: row["error_at"])
            }
        }
    }

    /// Stores a catalog read (`json` non-nil) or why it could not be read (the previous catalog stays).
    package func kommoCatalogRead(tenantID: String, json: String?, at time: Int64, error: String?) async throws {
        try await db.write { db in try Self.catalogRead(db, tenantID: tenantID, json: json, at: time, error: error) }
    }

    private static func catalogRead(_ db: Database, tenantID: String, json: String?, at time: Int64, error: String?) throws {
        if let json {
            try db.execute(sql: """
                INSERT INTO kommo_catalog (tenant_id, catalog_json, refreshed_at, error, error_at) VALUES (?, ?, ?, NULL, NULL)
                ON CONFLICT (tenant_id) DO UPDATE SET catalog_json = excluded.catalog_json, refreshed_at = excluded.refreshed_at,
                    error = NULL, error_at = NULL
                """, arguments: [tenantID, json, time])
        } else {
            try db.execute(sql: """
                INSERT INTO kommo_catalog (tenant_id, error, error_at) VALUES (?, ?, ?)
                ON CONFLICT (tenant_id) DO UPDATE SET error = excluded.error, error_at = excluded.error_at
                """, arguments: [tenantID, error.map { String($0.prefix(500)) } ?? "unreadable", time])
        }
    }

    /// Tenants that work with Kommo through a pasted token (Kommo credentials, no OAuth connection), with
    /// when their catalog was last read or tried.
    package func pastedKommoTenants() async throws -> [(tenantID: String, lastTried: Int64?)] {
        try await db.read { db in
            try Row.fetchAll(db, sql: """
                SELECT i.tenant_id, max(coalesce(c.refreshed_at, 0), coalesce(c.error_at, 0)) AS tried
                FROM integration i LEFT JOIN kommo_catalog c ON c.tenant_id = i.tenant_id
                WHERE json_extract(i.settings_json, '$.kommo.base_url') IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM kommo_connection k WHERE k.tenant_id = i.tenant_id)
                ORDER BY i.tenant_id
                """).map { row in
                let tried: Int64 = row["tried"]
                return (row["tenant_id"], tried == 0 ? nil : tried)
            }
        }
    }

    /// Forgets the tenant's catalog (its Kommo credentials are gone).
    package func deleteKommoCatalog(tenantID: String) async throws {
        try await db.write { db in try db.execute(sql: "DELETE FROM kommo_catalog WHERE tenant_id = ?", arguments: [tenantID]) }
    }

    /// Forgets the tenant's connection and catalog; whether there was one.
    @discardableResult
    package func deleteKommoConnection(tenantID: String) async throws -> Bool {
        try await db.write { db in
            try db.execute(sql: "DELETE FROM kommo_connection WHERE tenant_id = ?", arguments: [tenantID])
            let had = db.changesCount > 0
            try db.execute(sql: "DELETE FROM kommo_catalog WHERE tenant_id = ?", arguments: [tenantID])
            return had
        }
    }

    /// The catalog belongs to the account the tenant works with, however it connected: its own table,
    /// filled from the OAuth connections' columns, which go.
    static func registerKommoCatalogMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v11-kommo-catalog") { db in
            try db.execute(sql: """
                CREATE TABLE kommo_catalog (
                    tenant_id TEXT PRIMARY KEY NOT NULL,
                    catalog_json TEXT,
                    refreshed_at INTEGER,
                    error TEXT,
                    error_at INTEGER
                ) WITHOUT ROWID;
                INSERT INTO kommo_catalog (tenant_id, catalog_json, refreshed_at, error, error_at)
                    SELECT tenant_id, catalog_json, catalog_refreshed_at, catalog_error, CASE WHEN catalog_error IS NULL THEN NULL ELSE connected_at END
                    FROM kommo_connection WHERE catalog_json IS NOT NULL OR catalog_error IS NOT NULL;
                ALTER TABLE kommo_connection DROP COLUMN catalog_json;
                ALTER TABLE kommo_connection DROP COLUMN catalog_refreshed_at;
                ALTER TABLE kommo_connection DROP COLUMN catalog_error;
                """)
        }
    }
}
