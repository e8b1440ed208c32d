import Domain
import Foundation
import Sequences
import ServiceKit
import Testing
import Wire

@Suite("sequence-service analytics counters")
struct SequenceAnalyticsCountersTests {
    static let t0: Int64 = 1_764_072_000_000_000
    static let lead: Int64 = 4_410_021

    static func counters(_ store: SequenceStore, tenant: String = "t_acme", agent: String? = nil) async throws -> [String: Int64] {
        let hour = AnalyticsCounters.hour(micros: t0)
        return try await store.analyticsCounts(tenantID: tenant, fromHour: hour - 1, toHour: hour + 48, agentID: agent)
            .reduce(into: [:]) { $0[$1.key, default: 0] += $1.value }
    }

    static func log(_ action: ScheduledAction, at: Int64, status: Int, millis: Double, outcome: String) -> ActionLogEntry {
        ActionLogEntry(actionID: action.id, tenantID: action.tenantID, leadID: action.leadID, at: at, actionType: action.actionType,
                       operation: "chat.send", target: "", requestSummary: "", httpStatus: status, latencyMillis: millis,
                       outcome: outcome, detail: "")
    }

    static func event(_ id: String, type: PB.EventType, at: Int64) -> PB.Event {
        var event = PB.Event()
        event.id = id
        event.tenantId = "t_acme"
        event.type = type
        event.entityType = "lead"
        event.entityId = String(lead)
        event.leadId = lead
        event.occurredAtMicros = at
        event.receivedAtMicros = at
        return event
    }

    static func won(_ id: String, at: Int64, price: String) -> PB.Event {
        var event = event(id, type: .stageChanged, at: at)
        event.oldStatusId = 61_234_502
        event.statusId = 142
        var field = PB.KeyValue()
        field.key = "price"
        field.value = price
        event.fields = [field]
        return event
    }

    static func inbound(_ id: String, at: Int64) -> PB.Event {
        var event = event(id, type: .messageReceived, at: at)
        var message = PB.MessageFields()
        message.id = id
        message.text = "Yes, tell me more"
        message.direction = .incoming
        event.message = message
        return event
    }

    @Test("a retried action counts its outcome once and each attempt's Kommo call; outcomes go to the last touch")
    func retriedActionCountsOnce() async throws {
        let store = SequenceStore(db: try StoreFactory.temporary(migrator: SequenceStore.migrator))
        let planned = PlannedActionRecord(idempotencyKey: "evt-1:rule_1:0", ruleID: "rule_1", agentID: "agt_1", eventID: "evt-1", leadID: Self.lead,
                                          action: Action(type: .sendMessage, text: "Hi!", scriptID: "scr_1"))
        _ = try await store.schedule(tenantID: "t_acme", actions: [planned], timers: [], now: Self.t0)
        // A repeated Schedule (the dispatcher's retry) stores nothing new.
        _ = try await store.schedule(tenantID: "t_acme", actions: [planned], timers: [], now: Self.t0)

        // First attempt: Kommo answers 429 and the action is retried later.
        let first = try #require(try await store.claimDue(now: Self.t0, lease: 60_000_000, limit: 10).first)
        try await store.finish(first, status: "retry", log: Self.log(first, at: Self.t0, status: 429, millis: 120, outcome: "retry"),
                               retryAt: Self.t0 + 1_000_000, now: Self.t0)
        #expect(try await Self.counters(store) == ["kommo.calls": 1, "kommo.429": 1, "kommo.latency_ms.le_250": 1])

        // Second attempt succeeds; finishing the same row again (a repeated finish) changes nothing.
        let second = try #require(try await store.claimDue(now: Self.t0 + 1_000_000, lease: 60_000_000, limit: 10).first)
        let done = Self.t0 + 1_000_000
        try await store.finish(second, status: "succeeded", log: Self.log(second, at: done, status: 200, millis: 40, outcome: "succeeded"),
                               retryAt: nil, now: done)
        try await store.finish(second, status: "succeeded", log: nil, retryAt: nil, now: done)
        try await store.recordOutbound(tenantID: "t_acme", leadID: Self.lead, text: "Hi!", at: done, ref: "action:evt-1:rule_1:0")
        for _ in 0..<2 {
            try await store.recordUsage(tenantID: "t_acme", kind: "message_sent", units: 1, at: done, ref: "message:evt-1:rule_1:0", agentID: "agt_1")
        }

        // The lead answers twice within 24 h: two inbound messages, one reply; a redelivered event counts nothing.
        for (id, offset) in [("in-1", Int64(3_600_000_000)), ("in-1", 3_600_000_000), ("in-2", 7_200_000_000)] {
            _ = try await store.firstSight(of: Self.inbound(id, at: done + offset), now: done + offset)
        }
        // The lead is won; Kommo's retry of the same webhook is the same event.
        let wonAt = done + 86_400_000_000
        for _ in 0..<2 { _ = try await store.firstSight(of: Self.won("won-1", at: wonAt, price: "2500"), now: wonAt) }

        let secondsToWon = (wonAt - done) / 1_000_000
        #expect(try await Self.counters(store) == [
            "kommo.calls": 2, "kommo.429": 1, "kommo.latency_ms.le_250": 1, "kommo.latency_ms.le_50": 1,
            "actions.send_message.succeeded": 1, "leads.touched": 1, "usage.message_sent": 1,
            "messages.inbound": 2, "messages.replied_24h": 1,
            "outcomes.won": 1, "outcomes.won.rule.rule_1": 1, "outcomes.won.script.scr_1": 1,
            "outcomes.won_value": 2500, "outcomes.won_value.rule.rule_1": 2500, "outcomes.won_value.script.scr_1": 2500,
            "outcomes.won_seconds": secondsToWon, "outcomes.won_seconds.rule.rule_1": secondsToWon,
            "outcomes.won_seconds.script.scr_1": secondsToWon,
        ])
        // By agent: only what is attributed to the agent.
        #expect(try await Self.counters(store, agent: "agt_1")["outcomes.won_value"] == 2500)
        #expect(try await Self.counters(store, agent: "agt_1")["kommo.calls"] == nil)
        #expect(try await Self.counters(store, agent: "agt_2").isEmpty)
        #expect(try await Self.counters(store, tenant: "t_other").isEmpty)
    }

    @Test("an action left in doubt and retried by an operator counts once, with the retry's outcome")
    func inDoubtRetriedCountsOnce() async throws {
        let store = SequenceStore(db: try StoreFactory.temporary(migrator: SequenceStore.migrator))
        let planned = PlannedActionRecord(idempotencyKey: "evt-2:rule_1:0", ruleID: "rule_1", agentID: "agt_1", eventID: "evt-2", leadID: Self.lead,
                                          action: Action(type: .sendMessage, text: "Hi!"))
        _ = try await store.schedule(tenantID: "t_acme", actions: [planned], timers: [], now: Self.t0)
        let first = try #require(try await store.claimDue(now: Self.t0, lease: 60_000_000, limit: 10).first)
        try await store.finish(first, status: "in_doubt", log: nil, retryAt: nil, now: Self.t0)
        #expect(try await Self.counters(store) == ["actions.send_message.in_doubt": 1])

        let retried = try await store.commandInDoubt(tenantID: "t_acme", actionID: first.id, command: .retry, now: Self.t0 + 60_000_000)
        #expect(retried?.changed == true)
        let second = try #require(try await store.claimDue(now: Self.t0 + 60_000_000, lease: 60_000_000, limit: 10).first)
        try await store.finish(second, status: "succeeded", log: nil, retryAt: nil, now: Self.t0 + 60_000_000)
        #expect(try await Self.counters(store) == ["actions.send_message.succeeded": 1, "leads.touched": 1])
    }

    @Test("a sequence counts enrollments, steps reached once (a pause and resume do not reach a step again), their outcomes and exits")
    func enrollmentsAndSteps() async throws {
        try await EnrollmentHarness.run { service in
            let acme = service.tenant("acme")
            let sequence = try await acme.create(sequenceJSON(steps: """
                [{"id": "hello", "delay_seconds": 0, "action": {"type": "send_message", "text": "Hi!"}},
                 {"id": "call", "delay_days": 2, "action": {"type": "create_task", "text": "Call the lead", "due_in_seconds": 3600}},
                 {"id": "nudge", "delay_days": 3, "action": {"type": "add_note", "text": "Nudge"}}]
                """)).id
            let enrollment = try await acme.enroll(77, in: sequence)
            #expect(try await service.drain() == 1)
            _ = try await acme.command("pause", sequence: sequence, enrollment: enrollment)
            service.clock.advance(by: 5 * 86_400)
            _ = try await acme.command("resume", sequence: sequence, enrollment: enrollment)
            #expect(try await service.drain() == 1)
            _ = try await acme.command("cancel", sequence: sequence, enrollment: enrollment)
            _ = try await acme.enroll(77, in: sequence)

            var query = PB.AnalyticsQuery()
            query.fromHour = AnalyticsCounters.hour(micros: EnrollmentHarness.tuesdayNoon.unixMicros)
            query.toHour = query.fromHour + 24 * 7
            let answer = try await service.client.analyticsCounters(query, options: acme.options)
            let counts = answer.counts.reduce(into: [String: Int64]()) { $0[$1.key, default: 0] += $1.value }
            let s = "sequence.\(sequence)"
            #expect(counts == [
                "\(s).enrolled": 2, "\(s).exited": 1, "\(s).exit.cancelled": 1,
                "\(s).step.hello.reached": 2, "\(s).step.hello.succeeded": 1,
                "\(s).step.call.reached": 1, "\(s).step.call.succeeded": 1, "\(s).step.nudge.reached": 1,
                "actions.send_message.succeeded": 1, "actions.create_task.succeeded": 1, "leads.touched": 1,
                // Two enrolled, one cancelled: one live, also as the level at the end of the range.
                "\(s).live": 1,
            ])
            #expect(answer.levels.map { "\($0.key)=\($0.value)@\($0.hour)" } == ["\(s).live=1@\(query.toHour)"])
            // Bucketed into two days from the first hour: everything falls in the buckets that hold it.
            query.bucketStarts = [query.fromHour, query.fromHour + 24]
            let days = try await service.client.analyticsCounters(query, options: acme.options)
            #expect(Set(days.counts.map(\.hour)).isSubset(of: [query.fromHour, query.fromHour + 24]))
            #expect(days.counts.reduce(0) { $0 + $1.value } == counts.values.reduce(0, +))
            query.bucketStarts = [query.fromHour + 1]
            #expect(await rpcFailure { try await service.client.analyticsCounters(query, options: acme.options) }?.code == .invalidArgument)
        }
    }
}
