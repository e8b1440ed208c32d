import Domain
import Foundation
import GRDB
import ServiceKit
import Wire

/// A scheduled row: an action from a rule, a sequence step, or a timer, due at a time.
package struct ScheduledAction: Sendable {
    package var id: Int64
    package var tenantID: String
    package var idempotencyKey: String
    /// action, timer, step (a sequence step: key `step:<enrollment id>:<step id>`)
    package var kind: String
    /// The action's type (`timer` for timers), as the action log shows it.
    package var actionType: String
    /// What to do, as the rule or sequence step wrote it; nil for timers, and for a row whose stored
    /// document does not decode (`actionProblem` says why; the run fails with it).
    package var action: Action?
    package var actionProblem: String? = nil
    package var leadID: Int64?
    package var ruleID: String
    package var agentID: String
    package var eventID: String
    package var dueAt: Int64
    package var attempts: Int
    /// An earlier attempt started its side effect and was interrupted before its outcome was recorded
    /// (a crash, or a lease that ran out): it may have happened, so this run repeats it under the same key.
    package var inDoubt: Bool = false
    /// A manager's reply held this row before (see `held_at`): it runs now because the pause ended.
    package var wasHeld: Bool = false
}

/// An action a rule decided on, as the schedule takes it.
package struct PlannedActionRecord: Sendable, Hashable {
    /// The rules' key (event id, replay scope, rule id, action index): the row is stored once per key.
    package var idempotencyKey: String
    package var ruleID: String
    package var agentID: String
    package var eventID: String
    package var leadID: Int64?
    package var action: Action

    package init(idempotencyKey: String, ruleID: String, agentID: String, eventID: String, leadID: Int64?, action: Action) {
        self.idempotencyKey = idempotencyKey; self.ruleID = ruleID; self.agentID = agentID
        self.eventID = eventID; self.leadID = leadID; self.action = action
    }
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

    package init(actionID: Int64, tenantID: String, leadID: Int64?, at: Int64, actionType: String, operation: String, target: String,
                 requestSummary: String, httpStatus: Int?, latencyMillis: Double, outcome: String, detail: String) {
        self.actionID = actionID; self.tenantID = tenantID; self.leadID = leadID; self.at = at; self.actionType = actionType
        self.operation = operation; self.target = target; self.requestSummary = requestSummary; self.httpStatus = httpStatus
        self.latencyMillis = latencyMillis; self.outcome = outcome; self.detail = detail
    }
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
        migrator.registerMigration("v2-integrations") { db in
            // settings_json holds the document without its write-only members; those are sealed together
            // in `secrets` (see SecretBox), bound to the tenant id.
            try db.execute(sql: """
                CREATE TABLE integration (
                    tenant_id TEXT PRIMARY KEY NOT NULL,
                    settings_json TEXT NOT NULL,
                    secrets BLOB NOT NULL,
                    version INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v3-lead-values") { db in
            // The latest template values events carried per lead, for rendering when Kommo cannot be read.
            try db.execute(sql: """
                CREATE TABLE lead_values (
                    tenant_id TEXT NOT NULL,
                    lead_id INTEGER NOT NULL,
                    values_json TEXT NOT NULL,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, lead_id)
                ) WITHOUT ROWID;
                CREATE INDEX action_log_by_tenant ON action_log(tenant_id, id);
                """)
        }
        migrator.registerMigration("v4-sequences") { db in
            // A sequence's editable parts live in definition_json; the columns are what queries select on.
            // At most one live (active or paused) enrollment per sequence and lead: the partial unique index
            // makes a second lead_created, a retried OnEvent or a racing manual enroll a no-op.
            try db.execute(sql: """
                CREATE TABLE sequence (
                    tenant_id TEXT NOT NULL,
                    id TEXT NOT NULL,
                    agent_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    trigger_type TEXT NOT NULL,
                    definition_json TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, id)
                ) WITHOUT ROWID;
                CREATE INDEX sequence_by_agent ON sequence(tenant_id, agent_id, id);
                CREATE INDEX sequence_by_trigger ON sequence(tenant_id, trigger_type) WHERE status = 'active';
                CREATE TABLE enrollment (
                    id TEXT PRIMARY KEY NOT NULL,
                    tenant_id TEXT NOT NULL,
                    sequence_id TEXT NOT NULL,
                    agent_id TEXT NOT NULL,
                    lead_id INTEGER NOT NULL,
                    -- active, paused, completed, exited, failed
                    state TEXT NOT NULL,
                    reason TEXT NOT NULL DEFAULT '',
                    -- the step that runs next; NULL once the enrollment is over
                    current_step_id TEXT,
                    steps_done INTEGER NOT NULL DEFAULT 0,
                    -- when the previous step ran (or the lead enrolled): delays count from here
                    last_step_at INTEGER NOT NULL,
                    next_due_at INTEGER,
                    -- lead_created, stage_changed, manual, rule
                    source TEXT NOT NULL,
                    event_id TEXT NOT NULL DEFAULT '',
                    enrolled_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    finished_at INTEGER
                );
                CREATE INDEX enrollment_by_sequence ON enrollment(tenant_id, sequence_id, enrolled_at, id);
                CREATE INDEX enrollment_by_lead ON enrollment(tenant_id, lead_id, state);
                CREATE UNIQUE INDEX enrollment_one_live ON enrollment(tenant_id, sequence_id, lead_id) WHERE state IN ('active', 'paused');
                CREATE INDEX action_by_enrollment ON action(event_id) WHERE kind = 'step';
                """)
        }
        migrator.registerMigration("v5-attempt-started") { db in
            // Set just before an attempt's side effect and cleared when its outcome is recorded: a row
            // claimed again with it still set was interrupted mid-attempt, and its side effect may have
            // happened (in doubt); a row claimed without it never got that far.
            try db.execute(sql: "ALTER TABLE action ADD COLUMN started_at INTEGER")
            // Usage is read per tenant over a period.
            try db.execute(sql: "CREATE INDEX usage_by_tenant ON usage(tenant_id, at)")
        }
        migrator.registerMigration("v6-suspended-tenants") { db in
            // The gateway's word on which tenants are suspended, kept so that a restart does not run
            // a suspended tenant's actions. Their rows stay pending and are not claimed meanwhile.
            try db.execute(sql: """
                CREATE TABLE tenant_state (
                    tenant_id TEXT PRIMARY KEY NOT NULL,
                    suspended INTEGER NOT NULL,
                    changed_at INTEGER NOT NULL
                ) WITHOUT ROWID
                """)
        }
        migrator.registerMigration("v7-action-document") { db in
            // The action a row runs is the domain action's own JSON document (what users write in a
            // rule or a sequence step), with its `type` inside; timers have none. It replaces the
            // previous JSON column, whose `type` could be missing (the row's `action_type` stood in).
            try db.execute(sql: "ALTER TABLE action ADD COLUMN action TEXT")
            try db.execute(sql: """
                UPDATE action SET action = CASE
                    WHEN json_valid(action_json) AND json_type(action_json) = 'object'
                        THEN json_set(action_json, '$.type', coalesce(json_extract(action_json, '$.type'), action_type))
                    ELSE action_json END
                WHERE kind != 'timer'
                """)
            try db.execute(sql: "ALTER TABLE action DROP COLUMN action_json")
        }
        migrator.registerMigration("v8-human-replies") { db in
            // Who wrote an outgoing message (manager, bot, integration; '' for ours and for the lead's),
            // and for one of ours the outgoing_message event that echoed it back, so an echo is matched once.
            try db.execute(sql: "ALTER TABLE conversation ADD COLUMN author TEXT NOT NULL DEFAULT ''")
            try db.execute(sql: "ALTER TABLE conversation ADD COLUMN echo_event_id TEXT")
            // When a manager's reply first held the row: a held row is 'held' (until resumed) or 'pending'
            // at the time the pause ends.
            try db.execute(sql: "ALTER TABLE action ADD COLUMN held_at INTEGER")
            // A manager's latest message to the lead, and the manual resume after it, if any.
            try db.execute(sql: """
                CREATE TABLE lead_human_reply (
                    tenant_id TEXT NOT NULL,
                    lead_id INTEGER NOT NULL,
                    replied_at INTEGER NOT NULL,
                    manager TEXT NOT NULL DEFAULT '',
                    event_id TEXT NOT NULL,
                    resumed_at INTEGER,
                    PRIMARY KEY (tenant_id, lead_id)
                ) WITHOUT ROWID
                """)
            // Chats API channel webhooks find their tenant by the channel's scope id.
            try db.execute(sql: "CREATE INDEX integration_by_chats_scope ON integration(json_extract(settings_json, '$.messages.chats_api.scope_id'))")
        }
        migrator.registerMigration("v9-kommo-connection") { db in
            // A Kommo account connected through OAuth: which account, when its tokens expire (the tokens
            // themselves are sealed in the integration row), our webhook registered there (sealed: its URL
            // carries the tenant's webhook secret), the last renewal failure, and the account's catalog.
            try db.execute(sql: """
                CREATE TABLE kommo_connection (
                    tenant_id TEXT PRIMARY KEY NOT NULL,
                    account_id INTEGER NOT NULL,
                    subdomain TEXT NOT NULL,
                    name TEXT NOT NULL,
                    base_url TEXT NOT NULL,
                    connected_at INTEGER NOT NULL,
                    access_expires_at INTEGER NOT NULL,
                    refresh_issued_at INTEGER NOT NULL,
                    webhook_sealed BLOB,
                    renewal_failed_at INTEGER,
                    renewal_error TEXT,
                    catalog_json TEXT,
                    catalog_refreshed_at INTEGER,
                    catalog_error TEXT
                ) WITHOUT ROWID;
                CREATE INDEX kommo_connection_by_account ON kommo_connection(account_id);
                """)
        }
        registerKommoBudgetMigration(&migrator)
        registerTenantPlanMigration(&migrator)
        registerKommoCatalogMigration(&migrator)
        registerEnrollmentLimitMigration(&migrator)
        registerAnalyticsMigration(&migrator)
        migrator.registerMigration("perf-action-due-by-tenant") { db in
            // Due rows per tenant, for claims that take tenants in turn.
            try db.execute(sql: "CREATE INDEX action_due_by_tenant ON action(tenant_id, due_at, id) WHERE status = 'pending'")
        }
        return migrator
    }

    // MARK: - Suspension

    /// Records whether a tenant is suspended: while it is, none of its due actions are claimed.
    package func setTenantState(tenantID: String, suspended: Bool, now: Int64) async throws {
        try await db.write { db in
            try db.execute(sql: """
                INSERT INTO tenant_state (tenant_id, suspended, changed_at) VALUES (?, ?, ?)
                ON CONFLICT (tenant_id) DO UPDATE SET suspended = excluded.suspended, changed_at = excluded.changed_at
                """, arguments: [tenantID, suspended, now])
        }
    }

    // MARK: - Scheduling

    /// Stores a decision's actions and timers. Actions are idempotent by key; a timer replaces the
    /// pending timer with the same key (re-arming). Returns (accepted, duplicates).
    package func schedule(tenantID: String, actions: [PlannedActionRecord], timers: [PB.PlannedTimer], now: Int64) async throws -> (Int, Int) {
        let documents = try actions.map { try Self.document($0.action) }
        return try await batch.write { db in
            var accepted = 0
            for (action, document) in zip(actions, documents) {
                try db.execute(sql: """
                    INSERT OR IGNORE INTO action (tenant_id, idempotency_key, kind, action_type, action, lead_id, rule_id, agent_id, event_id, due_at, created_at)
                    VALUES (?, ?, 'action', ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [tenantID, action.idempotencyKey, action.action.type.rawValue, document,
                                     action.leadID, action.ruleID, action.agentID, action.eventID, now, now])
                accepted += db.changesCount
            }
            for timer in timers {
                // Re-arming replaces the earlier pending timer of the same rule and lead.
                // A key range rather than LIKE: LIKE ignores case and so cannot use the key's index, and
                // would scan every pending row (a million of them cost seconds per timer).
                let prefix = "timer:\(tenantID):\(timer.key)@"
                try db.execute(sql: "UPDATE action SET status = 'cancelled', finished_at = ? WHERE idempotency_key >= ? AND idempotency_key < ? AND kind = 'timer' AND status = 'pending'",
                               arguments: [now, prefix, prefix + "~"])
                try db.execute(sql: """
                    INSERT OR IGNORE INTO action (tenant_id, idempotency_key, kind, action_type, lead_id, rule_id, agent_id, due_at, created_at)
                    VALUES (?, ?, 'timer', 'timer', ?, ?, ?, ?, ?)
                    """, arguments: [tenantID, "timer:\(tenantID):\(timer.key)@\(timer.dueAtMicros)",
                                     timer.leadId, timer.ruleId, timer.agentId, timer.dueAtMicros, now])
                accepted += db.changesCount
            }
            return (accepted, actions.count + timers.count - accepted)
        }
    }

    /// Claims due work with a lease. Rows whose lease expired (their worker died) are claimed again.
    package func claimDue(now: Int64, lease: Int64, limit: Int) async throws -> [ScheduledAction] {
        try await claimDue(now: now, lease: lease, limit: limit, tenantCap: .max, inFlight: [:], after: "").actions
    }

    /// What one claim took: the rows, tenants in turn, and the tenant the next claim starts after.
    package struct Claim: Sendable {
        package var actions: [ScheduledAction]
        package var lastTenant: String
    }

    /// Claims due work with a lease, fairly across tenants: tenants are visited in turn starting after
    /// `cursor`, each one's due rows oldest first, and the claim takes one row of every tenant before a
    /// second of any, so one tenant's burst does not stand in front of another's single action. A tenant
    /// never holds more than `tenantCap` claimed rows (counting `inFlight`, its rows claimed and not yet
    /// finished). Rows whose lease expired (their worker died) are claimed again first.
    package func claimDue(now: Int64, lease: Int64, limit: Int, tenantCap: Int, inFlight: [String: Int], after cursor: String) async throws -> Claim {
        try await db.write { db in
            let suspended = Set(try String.fetchAll(db, sql: "SELECT tenant_id FROM tenant_state WHERE suspended = 1"))
            var chosen = try Row.fetchAll(db, sql: "SELECT id, tenant_id FROM action WHERE status = 'running' AND lease_until < ? LIMIT ?",
                                          arguments: [now, limit])
                .filter { !suspended.contains($0["tenant_id"]) }.map { $0["id"] as Int64 }
            var queues: [[Int64]] = []
            var lastTenant = cursor
            var current = cursor
            var wrapped = cursor.isEmpty
            // Nothing due (the usual poll): no tenant to visit.
            let anyDue = try Bool.fetchOne(db, sql: "SELECT 1 FROM action INDEXED BY action_due WHERE status = 'pending' AND due_at <= ? LIMIT 1",
                                           arguments: [now]) ?? false
            // Tenants whose rows are all due later cost a visit each: at most `visitLimit` per claim, and
            // the next claim goes on after the last one visited, so every tenant is reached within a few.
            var visits = 0
            // Each non-empty tenant gives at least one row, so `limit` of them are enough for one claim.
            while anyDue && chosen.count + queues.count < limit {
                if visits >= Self.visitLimit {
                    lastTenant = current
                    break
                }
                visits += 1
                guard let tenant = try String.fetchOne(db, sql: """
                    SELECT tenant_id FROM action INDEXED BY action_due_by_tenant WHERE status = 'pending' AND tenant_id > ?
                    ORDER BY tenant_id LIMIT 1
                    """, arguments: [current]) else {
                    if wrapped { break }
                    wrapped = true
                    current = ""
                    continue
                }
                // After wrapping around, the tenants past the cursor were visited already.
                if wrapped && !cursor.isEmpty && tenant > cursor { break }
                current = tenant
                let room = min(limit - chosen.count, tenantCap - inFlight[tenant, default: 0])
                guard room > 0, !suspended.contains(tenant) else { continue }
                let ids = try Int64.fetchAll(db, sql: """
                    SELECT id FROM action INDEXED BY action_due_by_tenant WHERE status = 'pending' AND tenant_id = ? AND due_at <= ?
                    ORDER BY due_at, id LIMIT ?
                    """, arguments: [tenant, now, room])
                if !ids.isEmpty {
                    queues.append(ids)
                    lastTenant = tenant
                }
            }
            // Round robin over the tenants' queues; each queue keeps its tenant's rows in due order.
            var round = 0
            while chosen.count < limit, queues.contains(where: { $0.count > round }) {
                for queue in queues where queue.count > round && chosen.count < limit { chosen.append(queue[round]) }
                round += 1
            }
            guard !chosen.isEmpty else { return Claim(actions: [], lastTenant: lastTenant) }
            let rows = try Row.fetchAll(db, sql: """
                UPDATE action SET status = 'running', lease_until = ?, attempts = attempts + 1
                WHERE id IN (\(chosen.map { _ in "?" }.joined(separator: ",")))
                RETURNING *
                """, arguments: StatementArguments([now + lease] + chosen))
            let byID = Dictionary(uniqueKeysWithValues: rows.map { ($0["id"] as Int64, Self.scheduledAction($0)) })
            return Claim(actions: chosen.compactMap { byID[$0] }, lastTenant: lastTenant)
        }
    }

    /// Most tenants one claim looks at.
    static let visitLimit = 256

    /// A claimed row. A stored action that does not decode is carried with its problem rather than
    /// failing the whole claim: that one row fails, the others run.
    static func scheduledAction(_ row: Row) -> ScheduledAction {
        var scheduled = ScheduledAction(
            id: row["id"], tenantID: row["tenant_id"], idempotencyKey: row["idempotency_key"], kind: row["kind"],
            actionType: row["action_type"], action: nil, leadID: row["lead_id"], ruleID: row["rule_id"], agentID: row["agent_id"],
            eventID: row["event_id"], dueAt: row["due_at"], attempts: row["attempts"], inDoubt: (row["started_at"] as Int64?) != nil,
            wasHeld: (row["held_at"] as Int64?) != nil)
        if let document: String = row["action"] {
            do {
                scheduled.action = try RuleJSON.decode(Action.self, from: Data(document.utf8))
            } catch {
                scheduled.actionProblem = "the action does not decode: \(error)"
            }
        } else if scheduled.kind != "timer" {
            scheduled.actionProblem = "the row has no action"
        }
        return scheduled
    }

    /// The document an action row stores: the action's own JSON (its rule document shape).
    static func document(_ action: Action) throws -> String {
        String(decoding: try RuleJSON.encoder().encode(action), as: UTF8.self)
    }

    /// Records that an attempt of a claimed action is about to cause its side effect. Concurrent
    /// attempts share one commit.
    package func markStarted(_ action: ScheduledAction, now: Int64) async throws {
        try await batch.write { db in
            try db.execute(sql: "UPDATE action SET started_at = ? WHERE id = ? AND status = 'running'", arguments: [now, action.id])
        }
    }

    /// Finishes an action and logs the attempt in one transaction, which concurrent finishes share (one
    /// commit, and with `synchronous=FULL` one fsync, for all actions that end together).
    package func finish(_ action: ScheduledAction, status: String, log: ActionLogEntry?, retryAt: Int64?, now: Int64) async throws {
        try await batch.write { db in
            try Self.finishRow(db, action, status: status, log: log, retryAt: retryAt, now: now)
        }
    }

    /// The body of ``finish(_:status:log:retryAt:now:)``, shared with the sequence steps' finish.
    static func finishRow(_ db: Database, _ action: ScheduledAction, status: String, log: ActionLogEntry?, retryAt: Int64?, now: Int64) throws {
        let previous = try String.fetchOne(db, sql: "SELECT status FROM action WHERE id = ?", arguments: [action.id])
        if status == "deferred" {
            try deferRow(db, action, retryAt: retryAt ?? now, detail: log?.detail ?? "", now: now)
        } else if status == "held" {
            // Held by a manager's reply: pending again when the pause ends by itself (`retryAt`), else
            // parked until a resume releases it. Not finished either way.
            try db.execute(sql: """
                UPDATE action SET status = ?, due_at = coalesce(?, due_at), lease_until = 0, last_error = ?, started_at = NULL,
                    held_at = coalesce(held_at, ?) WHERE id = ?
                """, arguments: [retryAt == nil ? "held" : "pending", retryAt, log?.detail ?? "", now, action.id])
        } else if let retryAt {
            try db.execute(sql: "UPDATE action SET status = 'pending', due_at = ?, lease_until = 0, last_error = ?, started_at = NULL WHERE id = ?",
                           arguments: [retryAt, log?.detail ?? "", action.id])
        } else {
            try db.execute(sql: "UPDATE action SET status = ?, finished_at = ?, last_error = ?, started_at = NULL WHERE id = ?",
                           arguments: [status, now, status == "succeeded" ? "" : (log?.detail ?? ""), action.id])
            try countOutcome(db, action, status: status, previous: previous, now: now)
        }
        if let log {
            try db.execute(sql: """
                INSERT INTO action_log (action_id, tenant_id, lead_id, at, action_type, operation, target, request_summary, http_status, latency_ms, outcome, detail)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [log.actionID, log.tenantID, log.leadID, log.at, log.actionType, log.operation, log.target,
                                 log.requestSummary, log.httpStatus, log.latencyMillis, log.outcome, log.detail])
            try countAttempt(db, log)
        }
    }

    // MARK: - Events

    /// Records an event once: returns false when it was seen before (a retry of OnEvent).
    package func firstSight(of event: PB.Event, now: Int64) async throws -> Bool {
        try await batch.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO seen_event (event_id, tenant_id, at) VALUES (?, ?, ?)",
                           arguments: [event.id, event.tenantId, now])
            guard db.changesCount == 1 else { return false }
            if event.leadId != 0 {
                try Self.mergeLeadValues(db, tenantID: event.tenantId, leadID: event.leadId, values: LeadValues.entries(of: event), now: now)
            }
            if event.type == .messageReceived, event.leadId != 0, let message = event.message {
                try db.execute(sql: "INSERT OR IGNORE INTO conversation (tenant_id, lead_id, direction, text, at, ref) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [event.tenantId, event.leadId, message.direction == .outgoing ? "outgoing" : "incoming",
                                           message.text, event.occurredAtMicros, "event:" + event.id])
                if db.changesCount == 1, message.direction != .outgoing {
                    try Self.countInbound(db, tenantID: event.tenantId, leadID: event.leadId, at: event.occurredAtMicros)
                }
            }
            if event.type == .messageSent, event.leadId != 0, let message = event.message {
                try Self.recordSentMessage(db, event: event, message: message, now: now)
            }
            if event.type == .stageChanged {
                try Self.countStageChange(db, event: event, at: event.occurredAtMicros != 0 ? event.occurredAtMicros : now)
            }
            return true
        }
    }

    // MARK: - Leases

    /// Puts rows left `running` by a previous process back to `pending`. The store has one writer
    /// process, so at startup nobody else can hold their lease; waiting for it to expire would only delay
    /// work after a crash. Returns how many rows were released.
    @discardableResult
    package func releaseClaimsOfPreviousRun() async throws -> Int {
        try await db.write { db in
            try db.execute(sql: "UPDATE action SET status = 'pending', lease_until = 0 WHERE status = 'running'")
            return db.changesCount
        }
    }

    // MARK: - Conversation, usage and lead values

    /// Records a message we sent, once per `ref` (the action's idempotency key).
    package func recordOutbound(tenantID: String, leadID: Int64, text: String, at: Int64, ref: String) async throws {
        try await db.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO conversation (tenant_id, lead_id, direction, text, at, ref) VALUES (?, ?, 'outgoing', ?, ?, ?)",
                           arguments: [tenantID, leadID, text, at, ref])
            if db.changesCount == 1 { try Self.countFirstResponse(db, tenantID: tenantID, leadID: leadID, at: at, ref: ref) }
        }
    }

    /// How many AI replies (`ai_response` actions' messages) the lead was sent at or after `since`.
    package func aiReplies(tenantID: String, leadID: Int64, since: Int64) async throws -> Int {
        try await db.read { db in
            try Int.fetchOne(db, sql: """
                SELECT count(*) FROM conversation c JOIN action a ON c.ref = 'action:' || a.idempotency_key
                WHERE c.tenant_id = ? AND c.lead_id = ? AND c.direction = 'outgoing' AND c.at >= ? AND a.action_type = 'ai_response'
                """, arguments: [tenantID, leadID, since]) ?? 0
        }
    }

    /// Adds a usage row once per `ref`: a retried action is not billed twice.
    package func recordUsage(tenantID: String, kind: String, units: Int, at: Int64, ref: String, agentID: String = "") async throws {
        try await db.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO usage (tenant_id, kind, units, at, ref) VALUES (?, ?, ?, ?, ?)",
                           arguments: [tenantID, kind, units, at, ref])
            if db.changesCount == 1 {
                try AnalyticsCounters.add(db, tenantID: tenantID, at: at, key: "usage.\(kind)", agentID: agentID, value: Int64(units))
            }
        }
    }

    /// The usage ledger of a tenant in `[from, to)` (microseconds), summed per UTC day and kind, oldest
    /// day first.
    package func usage(tenantID: String, from: Int64, to: Int64) async throws -> [UsageTotal] {
        try await db.read { db in
            try Row.fetchAll(db, sql: """
                SELECT date(at / 1000000, 'unixepoch') AS day, kind, sum(units) AS units, count(*) AS entries FROM usage
                WHERE tenant_id = ? AND at >= ? AND at < ? GROUP BY day, kind ORDER BY day, kind
                """, arguments: [tenantID, from, to])
                .map { UsageTotal(day: $0["day"], kind: $0["kind"], units: $0["units"], entries: $0["entries"]) }
        }
    }

    /// The latest messages with a lead, oldest first.
    package func conversation(tenantID: String, leadID: Int64, limit: Int) async throws -> [ConversationEntry] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM conversation WHERE tenant_id = ? AND lead_id = ? ORDER BY at DESC, id DESC LIMIT ?",
                             arguments: [tenantID, leadID, limit])
                .map { ConversationEntry(id: $0["id"], leadID: $0["lead_id"], direction: $0["direction"], text: $0["text"], at: $0["at"],
                                         author: $0["author"]) }
                .reversed()
        }
    }

    /// The template values events carried for a lead (name → value).
    package func leadValues(tenantID: String, leadID: Int64) async throws -> [String: String] {
        try await db.read { db in
            guard let json = try String.fetchOne(db, sql: "SELECT values_json FROM lead_values WHERE tenant_id = ? AND lead_id = ?",
                                                 arguments: [tenantID, leadID])
            else { return [:] }
            return (try? JSONDecoder().decode([String: String].self, from: Data(json.utf8))) ?? [:]
        }
    }

    static func mergeLeadValues(_ db: Database, tenantID: String, leadID: Int64, values: [String: String], now: Int64) throws {
        guard !values.isEmpty else { return }
        let existing = try String.fetchOne(db, sql: "SELECT values_json FROM lead_values WHERE tenant_id = ? AND lead_id = ?",
                                           arguments: [tenantID, leadID])
        var merged = existing.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:]
        merged.merge(values) { _, new in new }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(merged), as: UTF8.self)
        try db.execute(sql: """
            INSERT INTO lead_values (tenant_id, lead_id, values_json, updated_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (tenant_id, lead_id) DO UPDATE SET values_json = excluded.values_json, updated_at = excluded.updated_at
            """, arguments: [tenantID, leadID, json, now])
    }

    // MARK: - Reading

    /// One page of the action log, newest first, with the scheduled action's key, rule and event.
    package func actionPage(tenantID: String, leadID: Int64?, outcome: String? = nil, actionType: String? = nil, limit: Int,
                            before: Int64?) async throws -> [ActionLogItem] {
        try await db.read { db in
            var sql = """
                SELECT l.*, a.idempotency_key, a.rule_id, a.event_id, a.agent_id, a.attempts
                FROM action_log l LEFT JOIN action a ON a.id = l.action_id
                WHERE l.tenant_id = ?
                """
            var arguments: StatementArguments = [tenantID]
            if let leadID { sql += " AND l.lead_id = ?"; arguments += [leadID] }
            if let outcome { sql += " AND l.outcome = ?"; arguments += [outcome] }
            if let actionType { sql += " AND l.action_type = ?"; arguments += [actionType] }
            if let before { sql += " AND l.id < ?"; arguments += [before] }
            sql += " ORDER BY l.id DESC LIMIT ?"
            arguments += [limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(ActionLogItem.init(row:))
        }
    }

    /// One page of a lead's timeline (attempts of actions, messages and enrollments), newest first. `before` is the
    /// position of the last item of the previous page.
    package func timeline(tenantID: String, leadID: Int64, limit: Int, before: TimelinePosition?) async throws -> [TimelineItem] {
        try await db.read { db in
            var sql = """
                SELECT * FROM (
                    SELECT 'action' AS kind, l.id, l.at, l.action_type, l.operation, l.target, l.request_summary, l.http_status,
                           l.latency_ms, l.outcome, l.detail, NULL AS direction, NULL AS text, a.idempotency_key, a.rule_id,
                           NULL AS sequence_id, NULL AS state, NULL AS finished_at, NULL AS author
                    FROM action_log l LEFT JOIN action a ON a.id = l.action_id
                    WHERE l.tenant_id = ? AND l.lead_id = ?
                    UNION ALL
                    SELECT 'message' AS kind, c.id, c.at, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, c.direction, c.text, c.ref, NULL,
                           NULL, NULL, NULL, c.author
                    FROM conversation c WHERE c.tenant_id = ? AND c.lead_id = ?
                    UNION ALL
                    SELECT 'enrollment' AS kind, e.rowid, e.enrolled_at, NULL, NULL, e.source, NULL, NULL, NULL, NULL, e.reason, NULL, NULL,
                           e.id, NULL, e.sequence_id, e.state, e.finished_at, NULL
                    FROM enrollment e WHERE e.tenant_id = ? AND e.lead_id = ?)
                """
            var arguments: StatementArguments = [tenantID, leadID, tenantID, leadID, tenantID, leadID]
            if let before {
                sql += " WHERE (at, kind, id) < (?, ?, ?)"
                arguments += [before.at, before.kind, before.id]
            }
            sql += " ORDER BY at DESC, kind DESC, id DESC LIMIT ?"
            arguments += [limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(TimelineItem.init(row:))
        }
    }

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

// MARK: - Records of the read side

/// A message with a lead, as the conversation log holds it.
package struct ConversationEntry: Sendable, Hashable {
    package var id: Int64
    package var leadID: Int64
    /// incoming, outgoing
    package var direction: String
    package var text: String
    package var at: Int64
    /// For an outgoing message someone else wrote: manager, bot or integration; empty for ours and the lead's.
    package var author: String = ""
}

/// The usage of one kind on one day: `ai_reply` (replies sent), `ai_tokens` (tokens the AI provider
/// counted, sent or not), `message_sent` (messages put into a lead's chat, AI replies included).
package struct UsageTotal: Sendable, Hashable {
    /// The UTC day, `YYYY-MM-DD`.
    package var day: String
    package var kind: String
    /// Sum of the entries' units (tokens for `ai_tokens`, else one per entry).
    package var units: Int64
    /// Entries in the ledger.
    package var entries: Int64
}

/// One attempt in the action log with what the scheduled action says about it.
package struct ActionLogItem: Sendable {
    package var id: Int64
    package var entry: ActionLogEntry
    package var idempotencyKey: String?
    package var ruleID: String?
    package var eventID: String?
    package var agentID: String?
    package var attempts: Int?

    init(row: Row) {
        id = row["id"]
        entry = ActionLogEntry(actionID: row["action_id"], tenantID: row["tenant_id"], leadID: row["lead_id"], at: row["at"],
                               actionType: row["action_type"], operation: row["operation"], target: row["target"],
                               requestSummary: row["request_summary"], httpStatus: row["http_status"],
                               latencyMillis: row["latency_ms"], outcome: row["outcome"], detail: row["detail"])
        idempotencyKey = row["idempotency_key"]
        ruleID = row["rule_id"]
        eventID = row["event_id"]
        agentID = row["agent_id"]
        attempts = row["attempts"]
    }
}

/// Where a timeline page ends: items sort by (at, kind, id) descending.
package struct TimelinePosition: Sendable, Hashable {
    package var at: Int64
    package var kind: String
    package var id: Int64

    package init(at: Int64, kind: String, id: Int64) {
        self.at = at
        self.kind = kind
        self.id = id
    }
}

/// An item of a lead's timeline: an action attempt, a message or an enrollment in a sequence.
package struct TimelineItem: Sendable {
    /// action, message, enrollment
    package var kind: String
    package var id: Int64
    package var at: Int64
    package var actionType: String?
    package var operation: String?
    package var target: String?
    package var requestSummary: String?
    package var httpStatus: Int?
    package var latencyMillis: Double?
    package var outcome: String?
    package var detail: String?
    package var direction: String?
    package var text: String?
    /// The action's idempotency key, the message's ref, or the enrollment's id.
    package var key: String?
    package var ruleID: String?
    /// An enrollment's sequence, state (active, paused, completed, exited, failed) and end.
    package var sequenceID: String?
    package var state: String?
    package var finishedAt: Int64?
    /// A message's author when someone other than the lead or us wrote it (manager, bot, integration).
    package var author: String?

    init(row: Row) {
        kind = row["kind"]
        id = row["id"]
        at = row["at"]
        actionType = row["action_type"]
        operation = row["operation"]
        target = row["target"]
        requestSummary = row["request_summary"]
        httpStatus = row["http_status"]
        latencyMillis = row["latency_ms"]
        outcome = row["outcome"]
        detail = row["detail"]
        direction = row["direction"]
        text = row["text"]
        key = row["idempotency_key"]
        ruleID = row["rule_id"]
        sequenceID = row["sequence_id"]
        state = row["state"]
        finishedAt = row["finished_at"]
        author = row["author"]
    }

    package var position: TimelinePosition { TimelinePosition(at: at, kind: kind, id: id) }
}
