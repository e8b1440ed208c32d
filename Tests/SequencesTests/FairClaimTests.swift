import Domain
import Foundation
import Sequences
import ServiceKit
import Testing
import TestSupport

/// Claims take tenants in turn, cap each tenant, keep each lead's rows in due order, and never claim a
/// row twice.
@Suite struct FairClaimTests {
    private func action(_ key: String, lead: Int64) -> PlannedActionRecord {
        PlannedActionRecord(idempotencyKey: key, ruleID: "rule-1", agentID: "", eventID: "", leadID: lead, action: Action(type: .addNote, text: "hello"))
    }

    private func store() throws -> SequenceStore {
        SequenceStore(db: try StoreFactory.open(folder: temporaryFolder("fair-claim"), migrator: SequenceStore.migrator))
    }

    @Test func aClaimTakesOneRowOfEachTenantBeforeASecondOfAny() async throws {
        let store = try store()
        // A's 50 rows were due first; B's and C's single rows come after all of them.
        for index in 0..<50 { _ = try await store.schedule(tenantID: "a", actions: [action("a-\(index)", lead: Int64(index))], timers: [], now: Int64(10 + index)) }
        _ = try await store.schedule(tenantID: "b", actions: [action("b-0", lead: 1)], timers: [], now: 100)
        _ = try await store.schedule(tenantID: "c", actions: [action("c-0", lead: 1)], timers: [], now: 101)
        let claim = try await store.claimDue(now: 1_000, lease: 1_000_000, limit: 5, tenantCap: .max, inFlight: [:], after: "")
        #expect(claim.actions.map(\.idempotencyKey) == ["a-0", "b-0", "c-0", "a-1", "a-2"])
    }

    @Test func aTenantAtItsCapGetsNothingMoreAndTheNextClaimStartsAfterTheLastTenant() async throws {
        let store = try store()
        for tenant in ["a", "b", "c"] {
            for index in 0..<4 {
                _ = try await store.schedule(tenantID: tenant, actions: [action("\(tenant)-\(index)", lead: Int64(index))], timers: [], now: Int64(10 + index))
            }
        }
        // A already holds 3 of its cap of 3; one row each of B and C fits in this claim of 2.
        let first = try await store.claimDue(now: 1_000, lease: 1_000_000, limit: 2, tenantCap: 3, inFlight: ["a": 3], after: "")
        #expect(first.actions.map(\.idempotencyKey) == ["b-0", "c-0"])
        #expect(first.lastTenant == "c")
        // The next claim starts after C: A (now under its cap), then B.
        let second = try await store.claimDue(now: 1_000, lease: 1_000_000, limit: 2, tenantCap: 3, inFlight: ["b": 1, "c": 1], after: "c")
        #expect(second.actions.map(\.idempotencyKey) == ["a-0", "b-1"])
    }

    @Test func everyRowIsClaimedOnceAndEachLeadsRowsInDueOrder() async throws {
        let store = try store()
        // Two tenants, three leads each, rows of a lead due one after another.
        var keys: [String] = []
        for step in 0..<20 {
            for tenant in ["a", "b"] {
                let key = "\(tenant)-\(step)"
                keys.append(key)
                _ = try await store.schedule(tenantID: tenant, actions: [action(key, lead: Int64(step % 3))], timers: [], now: Int64(10 + step))
            }
        }
        var claimed: [(tenant: String, lead: Int64?, key: String)] = []
        var cursor = ""
        while true {
            let claim = try await store.claimDue(now: 1_000, lease: 1_000_000, limit: 7, tenantCap: 5, inFlight: [:], after: cursor)
            if claim.actions.isEmpty { break }
            cursor = claim.lastTenant
            claimed += claim.actions.map { ($0.tenantID, $0.leadID, $0.idempotencyKey) }
        }
        #expect(claimed.map(\.key).sorted() == keys.sorted())
        #expect(Set(claimed.map(\.key)).count == claimed.count)
        for tenant in ["a", "b"] {
            for lead in Int64(0)..<3 {
                let steps = claimed.filter { $0.tenant == tenant && $0.lead == lead }.map { Int($0.key.split(separator: "-")[1])! }
                #expect(steps == steps.sorted(), "tenant \(tenant) lead \(lead): \(steps)")
            }
        }
    }
}
