import Foundation
import GRDB
import ServiceKit
import Wire

/// sequence-service's analytics counters (see `AnalyticsCounters`), each bumped in the transaction that
/// records what it counts:
///
/// - `actions.<type>.<outcome>` (agent): an action's or step's final outcome, once — a row that already
///   has one is not counted again; an `in_doubt` one an operator retries or dismisses stops counting as
///   in doubt (and counts as `dismissed`, or with the retry's outcome).
/// - `kommo.calls`, `kommo.latency_ms.le_<bound>` / `.gt_5000`, `kommo.429`: every logged attempt that
///   reached an HTTP answer, except outgoing webhooks.
/// - `usage.<kind>` (agent): the usage ledger (`message_sent`, `ai_reply`, `ai_tokens`), once per entry.
/// - `messages.inbound`, `messages.manager`, `messages.replied_24h`: a lead's message, a manager's, and
///   a lead's first message within 24 h after one of ours.
/// - `response.first_seconds.le_<bound>` / `.gt_86400`: our first message after a lead wrote, bucketed by
///   the seconds since the earliest of the lead's messages it answers (bounds in `firstResponseBounds`).
/// - `handoffs.manager`: a manager's message to a lead no manager had taken over (none before, or the
///   agents resumed by hand since) — what pauses agents that pause on a human reply.
/// - `sequence.<id>.live` (agent): +1 on enrolling, -1 when the enrollment ends — a level, answered as
///   the live enrollments at the end of a range.
/// - `sequence.<id>.enrolled|completed|exited|failed`, `sequence.<id>.exit.<reason>`,
///   `sequence.<id>.step.<step>.reached|<outcome>` (agent).
/// - `leads.touched` (agent): the first action that succeeded on a lead.
/// - `outcomes.advanced|won|lost`, `outcomes.won_value` (sum of `price`), `outcomes.won_seconds` (first
///   touch to won), each also per last touch — `.rule.<id>`, `.step.<sequence>.<step>`, `.script.<id>` —
///   for leads one of our actions touched before the stage change. Last touch means the latest action
///   that succeeded on the lead before the change, attributed to its agent.
extension SequenceStore {
    static func registerAnalyticsMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("analytics-counters") { db in
            try db.execute(sql: AnalyticsCounters.schema)
            try db.execute(sql: """
                -- the first and the latest action that succeeded on a lead: who touched it, for outcomes
                CREATE TABLE analytics_lead_touch (
                    tenant_id TEXT NOT NULL,
                    lead_id INTEGER NOT NULL,
                    first_at INTEGER NOT NULL,
                    last_at INTEGER NOT NULL,
                    agent_id TEXT NOT NULL,
                    rule_id TEXT NOT NULL,
                    sequence_id TEXT NOT NULL,
                    step_id TEXT NOT NULL,
                    script_id TEXT NOT NULL,
                    PRIMARY KEY (tenant_id, lead_id)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("analytics-running-totals") { db in
            try db.execute(sql: AnalyticsCounters.runningTotalsSchema)
        }
        migrator.registerMigration("analytics-live-enrollments") { db in
            // The level of live enrollments per sequence starts from the ones live now, each counted in
            // the hour it enrolled; their running totals are rebuilt for those keys.
            try db.execute(sql: """
                INSERT INTO analytics_counter (tenant_id, hour, key, agent_id, value)
                    SELECT tenant_id, enrolled_at / 3600000000, 'sequence.' || sequence_id || '.live', agent_id, count(*)
                    FROM enrollment WHERE state IN ('active', 'paused') GROUP BY 1, 2, 3, 4;
                INSERT OR IGNORE INTO analytics_counter_key (tenant_id, key, agent_id)
                    SELECT DISTINCT tenant_id, key, agent_id FROM analytics_counter WHERE key LIKE 'sequence.%.live';
                INSERT INTO analytics_counter_running (tenant_id, key, agent_id, hour, total)
                    SELECT tenant_id, key, agent_id, hour, sum(value) OVER (PARTITION BY tenant_id, key, agent_id ORDER BY hour)
                    FROM analytics_counter WHERE key LIKE 'sequence.%.live';
                """)
        }
    }

    /// Won and lost are Kommo's fixed stages in every pipeline.
    static let wonStage: Int64 = 142
    static let lostStage: Int64 = 143

    /// The upper bounds (ms) of the Kommo latency buckets.
    package static let latencyBounds: [Int] = [50, 100, 250, 500, 1000, 2500, 5000]

    /// The tenant's counters in `[fromHour, toHour)`, optionally of one agent.
    package func analyticsCounts(tenantID: String, fromHour: Int64, toHour: Int64, agentID: String?, buckets: [Int64] = []) async throws -> [CounterSum] {
        try await analyticsCountsAndLevels(tenantID: tenantID, fromHour: fromHour, toHour: toHour, agentID: agentID, buckets: buckets).counts
    }

    /// The counters, and the levels at the end of the range (live enrollments per sequence), from one snapshot.
    package func analyticsCountsAndLevels(tenantID: String, fromHour: Int64, toHour: Int64, agentID: String?, buckets: [Int64] = []) async throws
        -> (counts: [CounterSum], levels: [CounterSum]) {
        try await db.read { db in
            (try AnalyticsCounters.counts(db, tenantID: tenantID, fromHour: fromHour, toHour: toHour, agentID: agentID, buckets: buckets),
             try AnalyticsCounters.levels(db, tenantID: tenantID, toHour: toHour, agentID: agentID))
        }
    }

    // MARK: - Inside transactions

    static func isFinal(_ status: String) -> Bool {
        !["pending", "running", "held", "deferred"].contains(status)
    }

    /// Counts an action's final outcome, when the row had none yet (`previous` is the row's status before
    /// this transaction changed it).
    static func countOutcome(_ db: Database, _ action: ScheduledAction, status: String, previous: String?, now: Int64) throws {
        guard action.kind != "timer", let previous, !isFinal(previous), isFinal(status) else { return }
        let tenantID = action.tenantID
        try AnalyticsCounters.add(db, tenantID: tenantID, at: now, key: "actions.\(action.actionType).\(status)", agentID: action.agentID)
        var sequenceID = "", stepID = ""
        if action.kind == "step", let (_, step) = parseStepKey(action.idempotencyKey) {
            sequenceID = action.ruleID
            stepID = step
            try AnalyticsCounters.add(db, tenantID: tenantID, at: now, key: "sequence.\(sequenceID).step.\(stepID).\(status)",
                                      agentID: action.agentID)
        }
        guard status == "succeeded", let leadID = action.leadID, leadID != 0 else { return }
        let ruleID = action.kind == "action" ? action.ruleID : ""
        let touched = try Bool.fetchOne(db, sql: "SELECT 1 FROM analytics_lead_touch WHERE tenant_id = ? AND lead_id = ?",
                                        arguments: [tenantID, leadID]) ?? false
        try db.execute(sql: """
            INSERT INTO analytics_lead_touch (tenant_id, lead_id, first_at, last_at, agent_id, rule_id, sequence_id, step_id, script_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (tenant_id, lead_id) DO UPDATE SET last_at = excluded.last_at, agent_id = excluded.agent_id,
                rule_id = excluded.rule_id, sequence_id = excluded.sequence_id, step_id = excluded.step_id, script_id = excluded.script_id
            """, arguments: [tenantID, leadID, now, now, action.agentID, ruleID, sequenceID, stepID, action.action?.scriptID ?? ""])
        if !touched { try AnalyticsCounters.add(db, tenantID: tenantID, at: now, key: "leads.touched", agentID: action.agentID) }
    }

    /// An operator's decision on an `in_doubt` action (inside its transaction): the action no longer
    /// counts as in doubt (in the hour it was counted); dismissed, it counts as `dismissed` now; retried,
    /// its next final outcome counts.
    static func recountInDoubt(_ db: Database, tenantID: String, row: Row, dismissed: Bool, now: Int64) throws {
        let type: String = row["action_type"], agentID: String = row["agent_id"]
        let at: Int64 = row["finished_at"] ?? now
        var keys = ["actions.\(type)."]
        if row["kind"] as String == "step", let (_, step) = parseStepKey(row["idempotency_key"]) {
            keys.append("sequence.\(row["rule_id"] as String).step.\(step).")
        }
        for key in keys {
            try AnalyticsCounters.add(db, tenantID: tenantID, at: at, key: key + "in_doubt", agentID: agentID, value: -1)
            if dismissed { try AnalyticsCounters.add(db, tenantID: tenantID, at: now, key: key + "dismissed", agentID: agentID) }
        }
    }

    /// Counts one logged attempt's Kommo call: its latency bucket and a 429.
    static func countAttempt(_ db: Database, _ log: ActionLogEntry) throws {
        guard let status = log.httpStatus, log.actionType != "webhook" else { return }
        let tenantID = log.tenantID
        try AnalyticsCounters.add(db, tenantID: tenantID, at: log.at, key: "kommo.calls")
        let millis = Int(log.latencyMillis.rounded(.up))
        let bucket = latencyBounds.first { millis <= $0 }.map { "le_\($0)" } ?? "gt_\(latencyBounds.last!)"
        try AnalyticsCounters.add(db, tenantID: tenantID, at: log.at, key: "kommo.latency_ms.\(bucket)")
        if status == 429 { try AnalyticsCounters.add(db, tenantID: tenantID, at: log.at, key: "kommo.429") }
    }

    /// Counts a lead's message (inside firstSight): inbound, and a reply when it is the lead's first
    /// message within 24 h after one of ours.
    static func countInbound(_ db: Database, tenantID: String, leadID: Int64, at: Int64) throws {
        try AnalyticsCounters.add(db, tenantID: tenantID, at: at, key: "messages.inbound")
        let day: Int64 = 24 * 3_600 * 1_000_000
        guard let ours = try Int64.fetchOne(db, sql: """
            SELECT max(at) FROM conversation WHERE tenant_id = ? AND lead_id = ? AND direction = 'outgoing'
              AND ref >= 'action:' AND ref < 'action;' AND at <= ?
            """, arguments: [tenantID, leadID, at]), at - ours <= day
        else { return }
        let earlier = try Int.fetchOne(db, sql: """
            SELECT count(*) FROM conversation WHERE tenant_id = ? AND lead_id = ? AND direction = 'incoming' AND at >= ? AND at <= ?
            """, arguments: [tenantID, leadID, ours, at]) ?? 0
        // The message itself is already in the conversation: it is the first reply when it is the only one.
        if earlier == 1 { try AnalyticsCounters.add(db, tenantID: tenantID, at: at, key: "messages.replied_24h") }
    }

    /// The upper bounds (seconds) of the first-response buckets; above the last, `gt_86400`.
    package static let firstResponseBounds: [Int64] = [10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400]

    /// Counts our first message after a lead wrote (inside recordOutbound): the seconds from the earliest
    /// of the lead's messages since our previous one, in a bucket per hour, so a median over any range is
    /// read from summed buckets without going back to the messages.
    static func countFirstResponse(_ db: Database, tenantID: String, leadID: Int64, at: Int64, ref: String) throws {
        let previous = try Int64.fetchOne(db, sql: """
            SELECT max(at) FROM conversation WHERE tenant_id = ? AND lead_id = ? AND direction = 'outgoing'
              AND ref >= 'action:' AND ref < 'action;' AND ref != ? AND at <= ?
            """, arguments: [tenantID, leadID, ref, at])
        guard let inbound = try Int64.fetchOne(db, sql: """
            SELECT min(at) FROM conversation WHERE tenant_id = ? AND lead_id = ? AND direction = 'incoming' AND at > ? AND at <= ?
            """, arguments: [tenantID, leadID, previous ?? Int64.min, at])
        else { return }
        let seconds = (at - inbound) / 1_000_000
        let bucket = firstResponseBounds.first { seconds <= $0 }.map { "le_\($0)" } ?? "gt_\(firstResponseBounds.last!)"
        try AnalyticsCounters.add(db, tenantID: tenantID, at: at, key: "response.first_seconds.\(bucket)")
    }

    /// Counts a stage change of a lead our actions touched (inside firstSight): advanced, won, lost, the
    /// won lead's price and time since the first touch, attributed to the last touch.
    static func countStageChange(_ db: Database, event: PB.Event, at: Int64) throws {
        guard event.leadId != 0, event.statusId != 0, event.statusId != event.oldStatusId,
              let touch = try Row.fetchOne(db, sql: "SELECT * FROM analytics_lead_touch WHERE tenant_id = ? AND lead_id = ? AND first_at <= ?",
                                           arguments: [event.tenantId, event.leadId, at])
        else { return }
        let tenantID = event.tenantId
        let agentID: String = touch["agent_id"]
        var suffixes = [""]
        let ruleID: String = touch["rule_id"], sequenceID: String = touch["sequence_id"], stepID: String = touch["step_id"]
        let scriptID: String = touch["script_id"]
        if !ruleID.isEmpty { suffixes.append(".rule.\(ruleID)") }
        if !sequenceID.isEmpty { suffixes.append(".step.\(sequenceID).\(stepID)") }
        if !scriptID.isEmpty { suffixes.append(".script.\(scriptID)") }
        func add(_ key: String, _ value: Int64 = 1) throws {
            for suffix in suffixes {
                try AnalyticsCounters.add(db, tenantID: tenantID, at: at, key: key + suffix, agentID: agentID, value: value)
            }
        }
        switch event.statusId {
        case wonStage:
            try add("outcomes.won")
            let price = event.fields.first { $0.key == "price" }.flatMap { Int64($0.value) } ?? 0
            try add("outcomes.won_value", price)
            let firstAt: Int64 = touch["first_at"]
            try add("outcomes.won_seconds", max(0, (at - firstAt) / 1_000_000))
        case lostStage:
            try add("outcomes.lost")
        default:
            try add("outcomes.advanced")
        }
    }

    /// Counts an enrollment's end, when it was live.
    static func countEnd(_ db: Database, enrollment: EnrollmentRecord, state: String, reason: String, now: Int64) throws {
        guard enrollment.isLive else { return }
        let key = "sequence.\(enrollment.sequenceID)"
        try AnalyticsCounters.add(db, tenantID: enrollment.tenantID, at: now, key: "\(key).live", agentID: enrollment.agentID, value: -1)
        try AnalyticsCounters.add(db, tenantID: enrollment.tenantID, at: now, key: "\(key).\(state)", agentID: enrollment.agentID)
        if state == "exited" {
            // The reason's kind: "cancelled: by hand" is `cancelled`, an exit condition's name stays whole.
            let kind = reason.split(separator: ":").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            let safe = kind.isEmpty ? "unknown" : kind.replacingOccurrences(of: " ", with: "_")
            try AnalyticsCounters.add(db, tenantID: enrollment.tenantID, at: now, key: "\(key).exit.\(safe)", agentID: enrollment.agentID)
        }
    }
}
