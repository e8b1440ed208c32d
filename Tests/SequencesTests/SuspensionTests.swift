import Domain
import TestSupport
import Foundation
import Sequences
import ServiceKit
import Testing
import Wire

/// A suspended tenant's due actions are not claimed (they stay pending), also after a restart, and
/// other tenants' actions are not held up.
@Suite struct SuspensionTests {
    private func action(_ key: String) -> PlannedActionRecord {
        PlannedActionRecord(idempotencyKey: key, ruleID: "rule-1", agentID: "", eventID: "", leadID: 77, action: Action(type: .addNote, text: "hello"))
    }

    @Test func aSuspendedTenantsActionsStayPendingAcrossARestartUntilResumed() async throws {
        let folder = temporaryFolder("suspension")
        do {
            let store = SequenceStore(db: try StoreFactory.open(folder: folder, migrator: SequenceStore.migrator))
            _ = try await store.schedule(tenantID: "acme", actions: [action("a-1")], timers: [], now: 10)
            _ = try await store.schedule(tenantID: "globex", actions: [action("g-1")], timers: [], now: 10)
            try await store.setTenantState(tenantID: "acme", suspended: true, now: 11)
            let claimed = try await store.claimDue(now: 1_000, lease: 1_000_000, limit: 10)
            #expect(claimed.map(\.tenantID) == ["globex"])
        }
        // A restart: the suspension is read from the store, not from memory.
        let store = SequenceStore(db: try StoreFactory.open(folder: folder, migrator: SequenceStore.migrator))
        #expect(try await store.claimDue(now: 2_000, lease: 1_000_000, limit: 10).isEmpty)
        try await store.setTenantState(tenantID: "acme", suspended: false, now: 3_000)
        let resumed = try await store.claimDue(now: 3_000, lease: 1_000_000, limit: 10)
        #expect(resumed.map(\.idempotencyKey) == ["a-1"])
    }
}
