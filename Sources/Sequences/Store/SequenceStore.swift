import Foundation
import GRDB
import ServiceKit
import Wire

/// A scheduled row: an action from a rule, a sequence step, or a timer, due at a time.
package struct ScheduledAction: Sendable {
    package var id: Int64
    package var tenantID: String
    package var idempotencyKey: String
    /// action, timer
    package var kind: String
    package var actionType: String
    package var actionJSON: String
    package var leadID: Int64?
    package var ruleID: String
    package var agentID: String
    package var eventID: String
    package var dueAt: Int64
    package var attempts: Int
}

/// One attempt of an action, as the action log shows it.
package struct ActionLogEntry: Sendable, Codable {
    package var actionID: Int64
    package var tenantID: String
    package var leadID: Int64?
    package var at: Int64
    package var actionType: String
    package var operation: String
    package var target: String
    package var requestSummary: String
    package var httpStatus: Int?
    package var latencyMillis: Double
    package var outcome: String
    package var detail: String
}

/// sequence-service's store: the durable schedule, the action log, the conversation log, and the
/// events already seen. Pending work lives here, not in memory.
package final class SequenceStore: Sendable {
    package let db: DatabasePool
    private let batch: BatchWriter

    package init(db: DatabasePool) {
        self.db = db
        self.batch = BatchWriter(writer: db)
    }

    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE action (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    tenant_id TEXT NOT NULL,
                    idempotency_key TEXT NOT NULL UNIQUE,
                    kind TEXT NOT NULL,
                    action_type TEXT NOT NULL,
                    action_json TEXT NOT NULL DEFAULT '{}',
                    lead_id INTEGER,
                    rule_id TEXT NOT NULL DEFAULT '',
                    agent_id TEXT NOT NULL DEFAULT '',
                    event_id TEXT NOT NULL DEFAULT '',
                    due_at INTEGER NOT NULL,
                    -- pending, running, succeeded, failed, skipped, cancelled
                    status TEXT NOT NULL DEFAULT 'pending',
                    lease_until INTEGER NOT NULL DEFAULT 0,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    last_error TEXT NOT NULL DEFAULT '',
                    created_at INTEGER NOT NULL,
                    finished_at INTEGER
                );
                CREATE INDEX action_due ON action(due_at) WHERE status = 'pending';
                CREATE INDEX action_running ON action(lease_until) WHERE status = 'running';
                CREATE INDEX action_by_lead ON action(tenant_id, lead_id, id);
                CREATE TABLE action_log (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    action_id INTEGER NOT NULL,
                    tenant_id TEXT NOT NULL,
                    lead_id INTEGER,
                    at INTEGER NOT NULL,
                    action_type TEXT NOT NULL,
                    operation TEXT NOT NULL,
                    target TEXT NOT NULL DEFAULT '',
                    request_summary TEXT NOT NULL DEFAULT '',
                    http_status INTEGER,
                    latency_ms REAL NOT NULL DEFAULT 0,
                    outcome TEXT NOT NULL,
                    detail TEXT NOT NULL DEFAULT ''
                );
                CREATE INDEX action_log_by_lead ON action_log(tenant_id, lead_id, id);
                CREATE TABLE conversation (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    tenant_id TEXT NOT NULL,
                    lead_id INTEGER NOT NULL,
                    direction TEXT NOT NULL,
                    text TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    ref TEXT NOT NULL UNIQUE
                );
                CREATE INDEX conversation_by_lead ON conversation(tenant_id, lead_id, at);
                CREATE TABLE seen_event (
                    event_id TEXT PRIMARY KEY NOT NULL,
                    tenant_id TEXT NOT NULL,
                    at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE usage (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    tenant_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    units INTEGER NOT NULL,
                    at INTEGER NOT NULL,
                    ref TEXT NOT NULL UNIQUE
                );
                """)
        }
        return migrator
    }

    // MARK: - Scheduling

    /// Stores a decision's actions and timers. Actions are idempotent by key; a timer replaces the
    /// pending timer with the same key (re-arming). Returns (accepted, duplicates).
    package func schedule(tenantID: String, actions: [PB.PlannedAction], timers: [PB.PlannedTimer], now: Int64) async throws -> (Int, Int) {
        try await batch.write { db in
            var accepted = 0
            for action in actions {
                try db.execute(sql: """
                    INSERT OR IGNORE INTO action (tenant_id, idempotency_key, kind, action_type, action_json, lead_id, rule_id, agent_id, event_id, due_at, created_at)
                    VALUES (?, ?, 'action', ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [tenantID, action.idempotencyKey, action.actionType, action.actionJson.isEmpty ? "{}" : action.actionJson,
                                     action.leadId == 0 ? nil : action.leadId, action.ruleId, action.agentId, action.eventId, now, now])
                accepted += db.changesCount
            }
            for timer in timers {
                // Re-arming replaces the earlier pending timer of the same rule and lead.
                try db.execute(sql: "UPDATE action SET status = 'cancelled', finished_at = ? WHERE idempotency_key LIKE ? AND kind = 'timer' AND status = 'pending'",
                               arguments: [now, "timer:\(tenantID):\(timer.key)@%"])
                try db.execute(sql: """
                    INSERT OR IGNORE INTO action (tenant_id, idempotency_key, kind, action_type, action_json, lead_id, rule_id, agent_id, due_at, created_at)
                    VALUES (?, ?, 'timer', 'timer', ?, ?, ?, ?, ?, ?)
                    """, arguments: [tenantID, "timer:\(tenantID):\(timer.key)@\(timer.dueAtMicros)", #"{"anchor":"\#(timer.anchor)"}"#,
                                     timer.leadId, timer.ruleId, timer.agentId, timer.dueAtMicros, now])
                accepted += db.changesCount
            }
            return (accepted, actions.count + timers.count - accepted)
        }
    }

    /// Claims due work with a lease. Rows whose lease expired (their worker died) are claimed again.
    package func claimDue(now: Int64, lease: Int64, limit: Int) async throws -> [ScheduledAction] {
        try await db.write { db in
            let rows = try Row.fetchAll(db, sql: """
                UPDATE action SET status = 'running', lease_until = ?, attempts = attempts + 1
                WHERE id IN (
                    SELECT id FROM action WHERE status = 'pending' AND due_at <= ?
                    UNION ALL
                    SELECT id FROM action WHERE status = 'running' AND lease_until < ?
                    LIMIT ?)
                RETURNING *
                """, arguments: [now + lease, now, now, limit])
            return rows.map { row in
                ScheduledAction(id: row["id"], tenantID: row["tenant_id"], idempotencyKey: row["idempotency_key"], kind: row["kind"],
                                actionType: row["action_type"], actionJSON: row["action_json"], leadID: row["lead_id"],
                                ruleID: row["rule_id"], agentID: row["agent_id"], eventID: row["event_id"], dueAt: row["due_at"],
                                attempts: row["attempts"])
            }.sorted { $0.dueAt < $1.dueAt }
        }
    }

    /// Finishes an action and logs the attempt in one transaction.
    package func finish(_ action: ScheduledAction, status: String, log: ActionLogEntry?, retryAt: Int64?, now: Int64) async throws {
        try await db.write { db in
            if let retryAt {
                try db.execute(sql: "UPDATE action SET status = 'pending', due_at = ?, lease_until = 0, last_error = ? WHERE id = ?",
                               arguments: [retryAt, log?.detail ?? "", action.id])
            } else {
                try db.execute(sql: "UPDATE action SET status = ?, finished_at = ?, last_error = ? WHERE id = ?",
                               arguments: [status, now, status == "succeeded" ? "" : (log?.detail ?? ""), action.id])
            }
            if let log {
                try db.execute(sql: """
                    INSERT INTO action_log (action_id, tenant_id, lead_id, at, action_type, operation, target, request_summary, http_status, latency_ms, outcome, detail)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [log.actionID, log.tenantID, log.leadID, log.at, log.actionType, log.operation, log.target,
                                     log.requestSummary, log.httpStatus, log.latencyMillis, log.outcome, log.detail])
            }
        }
    }

    // MARK: - Events

    /// Records an event once: returns false when it was seen before (a retry of OnEvent).
    package func firstSight(of event: PB.Event, now: Int64) async throws -> Bool {
        try await batch.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO seen_event (event_id, tenant_id, at) VALUES (?, ?, ?)",
                           arguments: [event.id, event.tenantId, now])
            guard db.changesCount == 1 else { return false }
            if event.type == "message_received", event.leadId != 0, let message = event.message {
                try db.execute(sql: "INSERT OR IGNORE INTO conversation (tenant_id, lead_id, direction, text, at, ref) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [event.tenantId, event.leadId, message.direction.isEmpty ? "incoming" : message.direction,
                                           message.text, event.occurredAtMicros, "event:" + event.id])
            }
            return true
        }
    }

    // MARK: - Reading

    package func actionLog(tenantID: String, leadID: Int64?, limit: Int, before: Int64?) async throws -> [(Int64, ActionLogEntry)] {
        try await db.read { db in
            var sql = "SELECT * FROM action_log WHERE tenant_id = ?"
            var arguments: StatementArguments = [tenantID]
            if let leadID { sql += " AND lead_id = ?"; arguments += [leadID] }
            if let before { sql += " AND id < ?"; arguments += [before] }
            sql += " ORDER BY id DESC LIMIT \(limit)"
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                (row["id"], ActionLogEntry(actionID: row["action_id"], tenantID: row["tenant_id"], leadID: row["lead_id"], at: row["at"],
                                           actionType: row["action_type"], operation: row["operation"], target: row["target"],
                                           requestSummary: row["request_summary"], httpStatus: row["http_status"],
                                           latencyMillis: row["latency_ms"], outcome: row["outcome"], detail: row["detail"]))
            }
        }
    }

    package func counts() async throws -> [String: Int] {
        try await db.read { db in
            var result: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT status, count(*) AS n FROM action GROUP BY status") {
                result[row["status"]] = row["n"]
            }
            return result
        }
    }

    /// Lateness of the oldest due action not yet started, in microseconds.
    package func oldestDue(now: Int64) async throws -> Int64 {
        try await db.read { db in
            let due = try Int64.fetchOne(db, sql: "SELECT min(due_at) FROM action WHERE status = 'pending' AND due_at <= ?", arguments: [now])
            return due.map { now - $0 } ?? 0
        }
    }
}
