import Foundation
import GRDB

// MARK: - The plan's webhook allowance

/// The gateway's word on how many Kommo webhook events a tenant's UTC month may dispatch. Beyond it an
/// event is stored like any other (history shows it) with status `held` and `held_for_plan = 1`, and
/// waits; held events are released in their order as soon as the allowance has room again (a higher
/// plan, or a new month). Events of other origins (timers, manual runs, replays) are the product's own
/// and are not counted.
extension IngestStore {
    static func registerAllowanceMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("limits-webhook-allowance") { db in
            // tenant_allowance: kept here so that a restart of this process enforces the plan before the
            // gateway speaks again. tenant_month_events: events let through per UTC month ("2026-12"),
            // counted in the transaction that lets them through.
            try db.execute(sql: """
                CREATE TABLE tenant_allowance (
                    tenant_id TEXT PRIMARY KEY NOT NULL,
                    plan_id TEXT NOT NULL,
                    webhook_events_per_month INTEGER NOT NULL,
                    changed_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE TABLE tenant_month_events (
                    tenant_id TEXT NOT NULL,
                    month TEXT NOT NULL,
                    admitted INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, month)
                ) WITHOUT ROWID;
                ALTER TABLE event ADD COLUMN held_for_plan INTEGER NOT NULL DEFAULT 0;
                CREATE INDEX event_plan_held ON event(tenant_id, seq) WHERE held_for_plan = 1;
                """)
        }
    }

    /// How the pending destinations of an event held by the plan explain the wait (a prefix; the
    /// allowance and the month follow).
    static let planHeldPrefix = "held: plan limit"

    /// Records the tenant's allowance (negative: unlimited) and releases as many held events as it now
    /// allows; returns how many.
    package func setTenantAllowance(tenantID: String, planID: String, webhookEventsPerMonth: Int64, now: Int64) async throws -> Int {
        try await batch.write { db in
            try db.execute(sql: """
                INSERT INTO tenant_allowance (tenant_id, plan_id, webhook_events_per_month, changed_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (tenant_id) DO UPDATE SET plan_id = excluded.plan_id,
                    webhook_events_per_month = excluded.webhook_events_per_month, changed_at = excluded.changed_at
                """, arguments: [tenantID, planID, webhookEventsPerMonth, now])
            return try Self.releasePlanHeld(db, tenantID: tenantID, now: now)
        }
    }

    /// Decides, inside the transaction storing it, whether a new webhook event may go on its journey:
    /// `nil` when it may (and it is counted), else why it is held. Held events released first if the
    /// month now has room, so a new month lets the oldest through before the new one; while any stay
    /// held, a new event waits behind them so each lead's events keep their order.
    static func planHold(_ db: Database, tenantID: String, now: Int64) throws -> String? {
        _ = try releasePlanHeld(db, tenantID: tenantID, now: now)
        let month = monthName(now)
        let allowance = try Row.fetchOne(db, sql: "SELECT plan_id, webhook_events_per_month FROM tenant_allowance WHERE tenant_id = ?",
                                         arguments: [tenantID])
        let allowed: Int64 = allowance?["webhook_events_per_month"] ?? -1
        let admitted = try admittedCount(db, tenantID: tenantID, month: month)
        let waiting = try Bool.fetchOne(db, sql: "SELECT 1 FROM event WHERE tenant_id = ? AND held_for_plan = 1 LIMIT 1", arguments: [tenantID]) == true
        if allowed >= 0, waiting || admitted >= allowed {
            let plan: String = allowance?["plan_id"] ?? ""
            return "\(planHeldPrefix): webhook_events_per_month: \(admitted) of \(allowed) dispatched in \(month) on plan \(plan); "
                + "kept, and dispatched in order when the plan allows"
        }
        try countAdmitted(db, tenantID: tenantID, month: month, count: 1)
        return nil
    }

    /// Lets the oldest events held by the plan go on, as many as this month's allowance has room for;
    /// returns how many. A suspended tenant's released events stay held, now for the suspension.
    static func releasePlanHeld(_ db: Database, tenantID: String, now: Int64) throws -> Int {
        guard try Bool.fetchOne(db, sql: "SELECT 1 FROM event WHERE tenant_id = ? AND held_for_plan = 1 LIMIT 1", arguments: [tenantID]) == true
        else { return 0 }
        let month = monthName(now)
        let allowed = try Int64.fetchOne(db, sql: "SELECT webhook_events_per_month FROM tenant_allowance WHERE tenant_id = ?",
                                         arguments: [tenantID]) ?? -1
        let room = allowed < 0 ? Int64(Int32.max) : allowed - (try admittedCount(db, tenantID: tenantID, month: month))
        guard room > 0 else { return 0 }
        let suspended = try Bool.fetchOne(db, sql: "SELECT suspended FROM tenant_state WHERE tenant_id = ?", arguments: [tenantID]) == true
        let seqs = try Int64.fetchAll(db, sql: "SELECT seq FROM event WHERE tenant_id = ? AND held_for_plan = 1 ORDER BY seq LIMIT ?",
                                      arguments: [tenantID, room])
        for seq in seqs {
            if suspended {
                try db.execute(sql: "UPDATE event SET held_for_plan = 0 WHERE seq = ?", arguments: [seq])
                try db.execute(sql: "UPDATE dispatch SET last_error = ? WHERE event_seq = ? AND status = 'pending'", arguments: [heldReason, seq])
            } else {
                // Due now; seq order gives each lead's order back.
                try db.execute(sql: "UPDATE event SET status = 'pending', next_attempt_at = 0, held_for_plan = 0 WHERE seq = ?", arguments: [seq])
                try db.execute(sql: "UPDATE dispatch SET last_error = '' WHERE event_seq = ? AND status = 'pending'", arguments: [seq])
            }
        }
        try countAdmitted(db, tenantID: tenantID, month: month, count: Int64(seqs.count))
        return seqs.count
    }

    /// The tenant's events held by the plan now.
    package func planHeldCount(tenantID: String) async throws -> Int64 {
        try await db.read { db in
            try Int64.fetchOne(db, sql: "SELECT count(*) FROM event WHERE tenant_id = ? AND held_for_plan = 1", arguments: [tenantID]) ?? 0
        }
    }

    private static func admittedCount(_ db: Database, tenantID: String, month: String) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT admitted FROM tenant_month_events WHERE tenant_id = ? AND month = ?", arguments: [tenantID, month]) ?? 0
    }

    private static func countAdmitted(_ db: Database, tenantID: String, month: String, count: Int64) throws {
        guard count > 0 else { return }
        try db.execute(sql: """
            INSERT INTO tenant_month_events (tenant_id, month, admitted) VALUES (?, ?, ?)
            ON CONFLICT (tenant_id, month) DO UPDATE SET admitted = admitted + excluded.admitted
            """, arguments: [tenantID, month, count])
    }

    /// The UTC month of a time in microseconds, as `2026-12`.
    static func monthName(_ micros: Int64) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month], from: Date(timeIntervalSince1970: TimeInterval(micros) / 1_000_000))
        return String(format: "%04d-%02d", parts.year ?? 1970, parts.month ?? 1)
    }
}
