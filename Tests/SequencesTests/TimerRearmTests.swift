import TestSupport
import Foundation
import GRDB
import Sequences
import ServiceKit
import Testing
import Wire

/// Timers in the durable schedule: arming one again replaces the pending one of the same key, and only it.
@Suite struct TimerRearmTests {
    private func timer(_ key: String, due: Int64) -> PB.PlannedTimer {
        var timer = PB.PlannedTimer()
        timer.key = key
        timer.leadId = 77
        timer.ruleId = "rule-1"
        timer.agentId = "agent-1"
        timer.dueAtMicros = due
        timer.anchor = "last_inbound"
        return timer
    }

    @Test func rearmingReplacesOnlyThePendingTimerOfTheSameKey() async throws {
        let store = SequenceStore(db: try StoreFactory.temporary(migrator: SequenceStore.migrator))
        _ = try await store.schedule(tenantID: "acme", actions: [], timers: [timer("rule-1:77", due: 1_000), timer("Rule-1:77", due: 1_000),
                                                                             timer("rule-1:777", due: 1_000)], now: 1)
        _ = try await store.schedule(tenantID: "globex", actions: [], timers: [timer("rule-1:77", due: 1_000)], now: 1)
        _ = try await store.schedule(tenantID: "acme", actions: [], timers: [timer("rule-1:77", due: 2_000)], now: 2)
        let rows = try await store.db.read { db in
            try Row.fetchAll(db, sql: "SELECT tenant_id, idempotency_key, status FROM action ORDER BY id")
                .map { "\($0["tenant_id"] as String) \($0["idempotency_key"] as String) \($0["status"] as String)" }
        }
        #expect(rows == [
            "acme timer:acme:rule-1:77@1000 cancelled",
            "acme timer:acme:Rule-1:77@1000 pending",
            "acme timer:acme:rule-1:777@1000 pending",
            "globex timer:globex:rule-1:77@1000 pending",
            "acme timer:acme:rule-1:77@2000 pending",
        ])
    }
}
