import Basics
import Foundation
import Sequences
import ServiceKit
import TestSupport
import Testing
import Wire

/// The plan's `active_enrollments`, enforced inside the enrollment's transaction: an enrollment beyond
/// it is not made and is explained in the action log, racing enrollments cannot overshoot, and the
/// limit holds across a restart.
@Suite struct EnrollmentLimitTests {
    static func definition() throws -> SequenceDefinition {
        let json: JSONValue = [
            "name": "Follow-up", "status": "active", "trigger": ["type": "lead_created"],
            "steps": [["id": "hello", "delay_seconds": 3600, "action": ["type": "add_note", "text": "Hello"]]],
        ]
        return try SequenceDefinition.parse(json, newStepID: { "step" }).get()
    }

    static func plan(_ enrollments: Int64) -> TenantPlanRecord {
        TenantPlanRecord(planID: "free", sendsBlocked: false, blockReason: "", aiRepliesPerMonth: -1, messagesPerMonth: -1,
                         activeEnrollments: enrollments)
    }

    static func enroll(_ store: SequenceStore, lead: Int64, tenant: String = "acme") async throws -> EnrollOutcome {
        try await store.enroll(tenantID: tenant, sequenceID: "seq-1", agentID: nil, leadID: lead, source: "manual", eventID: "",
                               enrollmentID: RandomID.make("enr_"), now: 100)
    }

    static func blockedLog(_ store: SequenceStore, lead: Int64) async throws -> [ActionLogEntry] {
        try await store.actionLog(tenantID: "acme", leadID: lead, limit: 50, before: nil).map(\.1)
            .filter { $0.detail.hasPrefix("blocked (plan limit): active_enrollments") }
    }

    @Test func enrollmentsBeyondThePlanAreNotMadeAreExplainedAndStayRefusedAfterARestart() async throws {
        let folder = temporaryFolder("enrollment-limit")
        do {
            let store = SequenceStore(db: try StoreFactory.open(folder: folder, migrator: SequenceStore.migrator))
            for tenant in ["acme", "globex"] {
                _ = try await store.createSequence(tenantID: tenant, agentID: "agent-1", id: "seq-1", definition: try Self.definition(), now: 10)
            }
            try await store.setTenantPlan(tenantID: "acme", plan: Self.plan(2), now: 20)

            // Eight leads at once for two slots: two are enrolled, six are refused, none beyond the plan.
            let outcomes = try await withThrowingTaskGroup(of: (Int64, EnrollOutcome).self) { group in
                for lead in Int64(1)...8 { group.addTask { (lead, try await Self.enroll(store, lead: lead)) } }
                var all: [(Int64, EnrollOutcome)] = []
                for try await outcome in group { all.append(outcome) }
                return all
            }
            let enrolled = outcomes.filter { if case .enrolled = $0.1 { true } else { false } }
            let blocked = outcomes.filter { if case .blocked = $0.1 { true } else { false } }
            #expect(enrolled.count == 2 && blocked.count == 6, "\(outcomes)")
            let refusedLead = try #require(blocked.first?.0)
            if case .blocked(let reason) = try #require(blocked.first?.1) {
                #expect(reason == "blocked (plan limit): active_enrollments: 2 of 2 live enrollments held on plan free", "\(reason)")
            }
            let log = try await Self.blockedLog(store, lead: refusedLead)
            #expect(log.count == 1)
            #expect(log.first?.outcome == "skipped" && log.first?.operation == "sequence.enroll" && log.first?.target == "seq-1")
            #expect(log.first?.detail.hasSuffix("not enrolled in Follow-up (seq-1)") == true, "\(log.first?.detail ?? "")")
            #expect(try await store.enrollments(tenantID: "acme", agentID: "agent-1", sequenceID: "seq-1", state: nil, leadID: refusedLead,
                                                limit: 10, after: nil).isEmpty, "no enrollment row for a refused lead")

            // Another tenant's plan is its own.
            guard case .enrolled = try await Self.enroll(store, lead: 1, tenant: "globex") else { Issue.record("globex is unlimited"); return }
        }

        // A restart: the limit is read from the store, not from memory.
        let store = SequenceStore(db: try StoreFactory.open(folder: folder, migrator: SequenceStore.migrator))
        guard case .blocked = try await Self.enroll(store, lead: 20) else { Issue.record("still at the limit after a restart"); return }

        // Auto-enrollment from an event is refused the same way and explained once, however often the event is retried.
        var event = PB.Event()
        event.id = "evt-lead-21"
        event.tenantId = "acme"
        event.type = .leadCreated
        event.leadId = 21
        for _ in 0..<3 {
            let applied = try await store.applyEvent(event, newEnrollmentID: { RandomID.make("enr_") }, now: 200)
            #expect(applied.enrolled.isEmpty)
        }
        let eventLog = try await Self.blockedLog(store, lead: 21)
        #expect(eventLog.count == 1, "\(eventLog)")
        #expect(eventLog.first?.requestSummary.contains("evt-lead-21") == true)

        // An enrollment that ends frees its slot.
        let live = try await store.enrollments(tenantID: "acme", agentID: "agent-1", sequenceID: "seq-1", state: "active", leadID: nil, limit: 10, after: nil)
        #expect(live.count == 2)
        _ = try await store.stopEnrollments(tenantID: "acme", leadID: try #require(live.first).leadID, sequenceID: nil, reason: "done", now: 300)
        guard case .enrolled = try await Self.enroll(store, lead: 22) else { Issue.record("a slot was freed"); return }
        guard case .blocked = try await Self.enroll(store, lead: 23) else { Issue.record("full again"); return }

        // A higher plan lets them in.
        try await store.setTenantPlan(tenantID: "acme", plan: Self.plan(-1), now: 400)
        guard case .enrolled = try await Self.enroll(store, lead: 23) else { Issue.record("unlimited now"); return }
    }
}
