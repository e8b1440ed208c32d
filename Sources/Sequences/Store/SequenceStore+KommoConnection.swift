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
    /// The catalog in the REST shape (without `connected`), when read.
    package var catalogJSON: String?
    package var catalogRefreshedAt: Int64?
    package var catalogError: String?

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
        catalogJSON = row["catalog_json"]
        catalogRefreshedAt = row["catalog_refreshed_at"]
        catalogError = row["catalog_error"]
    }
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

    /// Stores a new connection, replacing the tenant's previous one (catalog and alerts included).
    package func saveKommoConnection(_ record: KommoConnectionRecord) async throws {
        try await db.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO kommo_connection (tenant_id, account_id, subdomain, name, base_url, connected_at,
                    access_expires_at, refresh_issued_at, webhook_sealed, renewal_failed_at, renewal_error,
                    catalog_json, catalog_refreshed_at, catalog_error)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [record.tenantID, record.accountID, record.subdomain, record.name, record.baseURL, record.connectedAt,
                                 record.accessExpiresAt, record.refreshIssuedAt, record.webhookSealed.map { Data($0) },
                                 record.renewalFailedAt, record.renewalError, record.catalogJSON, record.catalogRefreshedAt,
                                 record.catalogError])
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

    /// Stores a catalog read (`json` non-nil) or why it could not be read (the previous catalog stays).
    package func kommoCatalogRead(tenantID: String, json: String?, at time: Int64, error: String?) async throws {
        try await db.write { db in
            if let json {
                try db.execute(sql: """
                    UPDATE kommo_connection SET catalog_json = ?, catalog_refreshed_at = ?, catalog_error = NULL WHERE tenant_id = ?
                    """, arguments: [json, time, tenantID])
            } else {
                try db.execute(sql: "UPDATE kommo_connection SET catalog_error = ? WHERE tenant_id = ?",
                               arguments: [error.map { String($0.prefix(500)) }, tenantID])
            }
        }
    }

    /// Forgets the tenant's connection and catalog; whether there was one.
    @discardableResult
    package func deleteKommoConnection(tenantID: String) async throws -> Bool {
        try await db.write { db in
            try db.execute(sql: "DELETE FROM kommo_connection WHERE tenant_id = ?", arguments: [tenantID])
            return db.changesCount > 0
        }
    }
}
