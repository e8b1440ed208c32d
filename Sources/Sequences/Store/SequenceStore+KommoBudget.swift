import Foundation
import GRDB
import ServiceKit

// MARK: - Paused Kommo accounts, deferred and in-doubt rows

/// A Kommo account that stopped answering our calls as a whole: blocked after repeated 429s (403), or
/// unpaid (402). Kept in the store so a restart neither forgets the pause nor resets "since when".
package struct KommoAccountPause: Sendable, Hashable {
    /// The account's rate-limit key (its API base URL, lowercased).
    package var accountKey: String
    /// A tenant connected to the account: the probe reads its credentials.
    package var tenantID: String
    /// The status that paused it (403 or 402).
    package var httpStatus: Int
    /// Why, for the alert.
    package var reason: String
    /// When the account was paused (microseconds).
    package var since: Int64
    /// When the probe asks again (microseconds).
    package var nextProbeAt: Int64
    /// Probes made since the pause began.
    package var probes: Int

    package init(accountKey: String, tenantID: String, httpStatus: Int, reason: String, since: Int64, nextProbeAt: Int64, probes: Int = 0) {
        self.accountKey = accountKey
        self.tenantID = tenantID
        self.httpStatus = httpStatus
        self.reason = reason
        self.since = since
        self.nextProbeAt = nextProbeAt
        self.probes = probes
    }
}

extension SequenceStore {
    static func registerKommoBudgetMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v10-kommo-budget") { db in
            // When a paused Kommo account last deferred the row (a pending row waiting for its account).
            try db.execute(sql: "ALTER TABLE action ADD COLUMN deferred_at INTEGER")
            try db.execute(sql: """
                CREATE TABLE kommo_account_pause (
                    account_key TEXT PRIMARY KEY,
                    tenant_id TEXT NOT NULL,
                    http_status INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    since INTEGER NOT NULL,
                    next_probe_at INTEGER NOT NULL,
                    probes INTEGER NOT NULL DEFAULT 0
                ) WITHOUT ROWID
                """)
        }
    }

    /// The body of a deferred finish: pending again at `retryAt`, the claim not counted as an attempt.
    static func deferRow(_ db: Database, _ action: ScheduledAction, retryAt: Int64, detail: String, now: Int64) throws {
        try db.execute(sql: """
            UPDATE action SET status = 'pending', due_at = ?, lease_until = 0, last_error = ?, started_at = NULL,
                attempts = max(0, attempts - 1), deferred_at = ? WHERE id = ?
            """, arguments: [retryAt, detail, now, action.id])
    }

    /// Lets the rows a paused account deferred for `tenantIDs` run now. Returns how many.
    package func releaseDeferred(tenantIDs: [String], now: Int64) async throws -> Int {
        guard !tenantIDs.isEmpty else { return 0 }
        return try await db.write { db in
            var released = 0
            for tenant in tenantIDs {
                try db.execute(sql: """
                    UPDATE action SET due_at = ?, deferred_at = NULL
                    WHERE tenant_id = ? AND status = 'pending' AND deferred_at IS NOT NULL
                    """, arguments: [now, tenant])
                released += db.changesCount
            }
            return released
        }
    }

    /// Records (or updates) an account's pause; an existing pause keeps its `since`.
    package func savePause(_ pause: KommoAccountPause) async throws {
        try await db.write { db in
            try db.execute(sql: """
                INSERT INTO kommo_account_pause (account_key, tenant_id, http_status, reason, since, next_probe_at, probes)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (account_key) DO UPDATE SET http_status = excluded.http_status, reason = excluded.reason,
                    next_probe_at = excluded.next_probe_at, probes = excluded.probes
                """, arguments: [pause.accountKey, pause.tenantID, pause.httpStatus, pause.reason, pause.since,
                                 pause.nextProbeAt, pause.probes])
        }
    }

    /// Forgets an account's pause (it answered again).
    package func deletePause(accountKey: String) async throws {
        try await db.write { db in
            try db.execute(sql: "DELETE FROM kommo_account_pause WHERE account_key = ?", arguments: [accountKey])
        }
    }

    /// Every paused account.
    package func pauses() async throws -> [KommoAccountPause] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM kommo_account_pause ORDER BY since").map { row in
                KommoAccountPause(accountKey: row["account_key"], tenantID: row["tenant_id"], httpStatus: row["http_status"],
                                  reason: row["reason"], since: row["since"], nextProbeAt: row["next_probe_at"], probes: row["probes"])
            }
        }
    }

    // MARK: - In-doubt rows

    /// What an operator may do with an action left `in_doubt`.
    package enum InDoubtCommand: String, Sendable {
        /// Send it again now.
        case retry
        /// Leave it as it is: it is not sent again.
        case dismiss
    }

    /// Retries or dismisses an `in_doubt` action of the tenant, logging the decision; `nil` when the
    /// tenant has no such action, or it is not in doubt (then `status` says what it is).
    package func commandInDoubt(tenantID: String, actionID: Int64, command: InDoubtCommand,
                                now: Int64) async throws -> (changed: Bool, status: String)? {
        try await db.write { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT status, lead_id, action_type, kind, rule_id, agent_id, idempotency_key, finished_at FROM action
                WHERE id = ? AND tenant_id = ? AND kind != 'timer'
                """,
                                             arguments: [actionID, tenantID])
            else { return nil }
            let status: String = row["status"]
            guard status == "in_doubt" else { return (false, status) }
            let next: String
            switch command {
            case .retry:
                next = "pending"
                try db.execute(sql: "UPDATE action SET status = 'pending', due_at = ?, lease_until = 0, finished_at = NULL WHERE id = ?",
                               arguments: [now, actionID])
            case .dismiss:
                next = "dismissed"
                try db.execute(sql: "UPDATE action SET status = 'dismissed', finished_at = ? WHERE id = ?", arguments: [now, actionID])
            }
            try Self.recountInDoubt(db, tenantID: tenantID, row: row, dismissed: command == .dismiss, now: now)
            try db.execute(sql: """
                INSERT INTO action_log (action_id, tenant_id, lead_id, at, action_type, operation, target, request_summary, http_status, latency_ms, outcome, detail)
                VALUES (?, ?, ?, ?, ?, 'operator', '', '', NULL, 0, ?, ?)
                """, arguments: [actionID, tenantID, row["lead_id"] as Int64?, now, row["action_type"] as String,
                                 command == .retry ? "retry_requested" : "dismissed",
                                 command == .retry ? "sent again by an operator" : "dismissed by an operator: not sent again"])
            return (true, next)
        }
    }
}
