import Foundation
import GRDB

/// The gateway's word on a tenant's plan allowances. A negative allowance is unlimited.
package struct TenantPlanRecord: Sendable, Equatable {
    package var planID: String
    package var sendsBlocked: Bool
    package var blockReason: String
    package var aiRepliesPerMonth: Int64
    package var messagesPerMonth: Int64
    /// Live (active or paused) enrollments the tenant may hold at once.
    package var activeEnrollments: Int64

    package init(planID: String, sendsBlocked: Bool, blockReason: String, aiRepliesPerMonth: Int64, messagesPerMonth: Int64,
                 activeEnrollments: Int64 = -1) {
        self.planID = planID
        self.sendsBlocked = sendsBlocked
        self.blockReason = blockReason
        self.aiRepliesPerMonth = aiRepliesPerMonth
        self.messagesPerMonth = messagesPerMonth
        self.activeEnrollments = activeEnrollments
    }
}

extension SequenceStore {
    static func registerTenantPlanMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v9-billing-tenant-plan") { db in
            // Kept here so that a restart of this process enforces the plan before the gateway speaks again.
            try db.execute(sql: """
                CREATE TABLE tenant_plan (
                    tenant_id TEXT PRIMARY KEY NOT NULL,
                    plan_id TEXT NOT NULL,
                    sends_blocked INTEGER NOT NULL,
                    block_reason TEXT NOT NULL,
                    ai_replies_per_month INTEGER NOT NULL,
                    messages_per_month INTEGER NOT NULL,
                    changed_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX usage_by_tenant_kind ON usage(tenant_id, kind, at);
                """)
        }
    }

    static func registerEnrollmentLimitMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("limits-active-enrollments") { db in
            // -1: unlimited, which is what a tenant had before the gateway said otherwise.
            try db.execute(sql: """
                ALTER TABLE tenant_plan ADD COLUMN active_enrollments INTEGER NOT NULL DEFAULT -1;
                CREATE INDEX enrollment_live_by_tenant ON enrollment(tenant_id) WHERE state IN ('active', 'paused');
                """)
        }
    }

    package func setTenantPlan(tenantID: String, plan: TenantPlanRecord, now: Int64) async throws {
        try await db.write { db in
            try db.execute(sql: """
                INSERT INTO tenant_plan (tenant_id, plan_id, sends_blocked, block_reason, ai_replies_per_month, messages_per_month,
                    active_enrollments, changed_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (tenant_id) DO UPDATE SET plan_id = excluded.plan_id, sends_blocked = excluded.sends_blocked,
                    block_reason = excluded.block_reason, ai_replies_per_month = excluded.ai_replies_per_month,
                    messages_per_month = excluded.messages_per_month, active_enrollments = excluded.active_enrollments,
                    changed_at = excluded.changed_at
                """, arguments: [tenantID, plan.planID, plan.sendsBlocked, plan.blockReason, plan.aiRepliesPerMonth, plan.messagesPerMonth,
                                 plan.activeEnrollments, now])
        }
    }

    /// Why the plan keeps the tenant from holding one more live enrollment, or `nil` when it has room.
    /// Read inside the enrollment's transaction: the store's single writer makes count and insert one
    /// step, so two enrollments racing for the last slot cannot both take it.
    static func enrollmentLimitReason(_ db: Database, tenantID: String) throws -> String? {
        guard let row = try Row.fetchOne(db, sql: "SELECT plan_id, active_enrollments FROM tenant_plan WHERE tenant_id = ?",
                                         arguments: [tenantID]) else { return nil }
        let allowed: Int64 = row["active_enrollments"]
        guard allowed >= 0 else { return nil }
        let live = try Int64.fetchOne(db, sql: "SELECT count(*) FROM enrollment WHERE tenant_id = ? AND state IN ('active', 'paused')",
                                      arguments: [tenantID]) ?? 0
        guard live >= allowed else { return nil }
        let plan: String = row["plan_id"]
        return "\(planLimitBlocked): active_enrollments: \(live) of \(allowed) live enrollments held on plan \(plan)"
    }

    /// How a step or an enrollment stopped by the plan reads in the action log.
    package static let planLimitBlocked = "blocked (plan limit)"

    /// The tenant's plan and its units of `ai_reply` and `message_sent` since `since` (microseconds).
    package func tenantPlan(tenantID: String, usageSince since: Int64) async throws -> (plan: TenantPlanRecord, aiReplies: Int64, messages: Int64)? {
        try await db.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM tenant_plan WHERE tenant_id = ?", arguments: [tenantID]) else { return nil }
            let plan = TenantPlanRecord(planID: row["plan_id"], sendsBlocked: row["sends_blocked"], blockReason: row["block_reason"],
                                        aiRepliesPerMonth: row["ai_replies_per_month"], messagesPerMonth: row["messages_per_month"],
                                        activeEnrollments: row["active_enrollments"])
            func units(_ kind: String) throws -> Int64 {
                try Int64.fetchOne(db, sql: "SELECT coalesce(sum(units), 0) FROM usage WHERE tenant_id = ? AND kind = ? AND at >= ?",
                                   arguments: [tenantID, kind, since]) ?? 0
            }
            return (plan, try units("ai_reply"), try units("message_sent"))
        }
    }
}

extension SequenceStore {
    /// Ledger entries of a tenant after entry `after`, oldest first.
    package func usageEntries(tenantID: String, after: Int64, limit: Int) async throws -> [(id: Int64, kind: String, units: Int64, at: Int64)] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT id, kind, units, at FROM usage WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?",
                             arguments: [tenantID, after, limit]).map { ($0["id"], $0["kind"], $0["units"], $0["at"]) }
        }
    }
}
