import Foundation
import GRDB

/// A tenant's integrations row: the document without its secrets, and the sealed secrets.
package struct IntegrationRecord: Sendable {
    package var tenantID: String
    /// The document without write-only members.
    package var settingsJSON: String
    /// ``SecretBox``-sealed JSON object of the write-only members, keyed by dotted path.
    package var secrets: [UInt8]
    package var version: Int64
    package var createdAt: Int64
    package var updatedAt: Int64

    package init(tenantID: String, settingsJSON: String, secrets: [UInt8], version: Int64, createdAt: Int64, updatedAt: Int64) {
        self.tenantID = tenantID
        self.settingsJSON = settingsJSON
        self.secrets = secrets
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    init(row: Row) {
        tenantID = row["tenant_id"]
        settingsJSON = row["settings_json"]
        secrets = Array(row["secrets"] as Data)
        version = row["version"]
        createdAt = row["created_at"]
        updatedAt = row["updated_at"]
    }
}

extension SequenceStore {
    /// The tenant's integrations row, or `nil` when the tenant never saved any.
    package func integration(tenantID: String) async throws -> IntegrationRecord? {
        try await db.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM integration WHERE tenant_id = ?", arguments: [tenantID]).map(IntegrationRecord.init(row:))
        }
    }

    /// Reads the row, lets `change` compute the new one, and stores it, in one transaction so that two
    /// concurrent patches cannot lose each other's members. Errors thrown by `change` roll back and
    /// propagate unchanged.
    package func updateIntegration(
        tenantID: String, _ change: @escaping @Sendable (IntegrationRecord?) throws -> IntegrationRecord
    ) async throws -> IntegrationRecord {
        try await db.write { db in
            let current = try Row.fetchOne(db, sql: "SELECT * FROM integration WHERE tenant_id = ?", arguments: [tenantID])
                .map(IntegrationRecord.init(row:))
            let next = try change(current)
            try db.execute(sql: """
                INSERT INTO integration (tenant_id, settings_json, secrets, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (tenant_id) DO UPDATE SET settings_json = excluded.settings_json, secrets = excluded.secrets,
                    version = excluded.version, updated_at = excluded.updated_at
                """, arguments: [tenantID, next.settingsJSON, Data(next.secrets), next.version, next.createdAt, next.updatedAt])
            return next
        }
    }
}
