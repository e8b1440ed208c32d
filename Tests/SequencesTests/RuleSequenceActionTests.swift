import TestSupport
import Foundation
import Sequences
import ServiceKit
import Testing
import Wire

/// A rule's `start_sequence` and `stop_sequence` actions, carried out by the real executor.
@Suite struct RuleSequenceActionTests {
    @Test func startSequenceEnrollsAndStopSequenceCancels() async throws {
        try await SequenceHarness.run { service in
            let acme = SequenceCalls(client: service.client, tenant: "acme", agent: "agent-1")
            let sequence = try await acme.create(sequenceJSON(trigger: #"{"type": "rule"}"#, steps: """
                [{"id": "later", "delay_days": 1, "action": {"type": "add_note", "text": "A day on"}}]
                """)).id
            try await acme.client.schedule({
                var request = PB.ScheduleRequest()
                request.actions = [planned("ev-1:rule-1:0", #"{"type": "start_sequence", "sequence_id": "\#(sequence)"}"#, lead: 77)]
                return request
            }(), options: acme.options)
            try await eventually("the enrollment") { try await acme.enrollments(sequence).first?["state"]?.string == "active" }
            #expect(try await acme.enrollments(sequence).first?["source"]?.string == "rule")

            try await service.tenant("acme").schedule([planned("ev-2:rule-2:0", #"{"type": "stop_sequence", "sequence_id": "\#(sequence)"}"#, lead: 77)])
            try await eventually("the exit") { try await acme.enrollments(sequence).first?["state"]?.string == "exited" }
            #expect(try await acme.enrollments(sequence).first?["reason"]?.string == "stopped by rule rule-1")
            let log = try await service.tenant("acme").actionLog(lead: 77)
            #expect(Set(log.compactMap { $0["operation"]?.string }) == ["sequence.start", "sequence.stop"])
        }
    }

    @Test func startSequenceBeyondThePlansEnrollmentsIsSkippedWithTheReasonOnce() async throws {
        try await SequenceHarness.run { service in
            let acme = SequenceCalls(client: service.client, tenant: "acme", agent: "agent-1")
            var plan = PB.TenantPlan()
            plan.tenantId = "acme"
            plan.planId = "free"
            plan.aiRepliesPerMonth = -1
            plan.messagesPerMonth = -1
            plan.activeEnrollments = 1
            plan.webhookEventsPerMonth = -1
            _ = try await acme.client.setTenantPlan(plan, options: acme.options)
            let sequence = try await acme.create(sequenceJSON(trigger: #"{"type": "rule"}"#, steps: """
                [{"id": "later", "delay_days": 1, "action": {"type": "add_note", "text": "A day on"}}]
                """)).id
            try await service.tenant("acme").schedule([planned("ev-1:rule-1:0", #"{"type": "start_sequence", "sequence_id": "\#(sequence)"}"#, lead: 77)])
            try await eventually("the enrollment") { try await acme.enrollments(sequence).first?["state"]?.string == "active" }
            try await service.tenant("acme").schedule([planned("ev-2:rule-1:0", #"{"type": "start_sequence", "sequence_id": "\#(sequence)"}"#, lead: 78)])
            try await eventually("the refusal") { try await !service.tenant("acme").actionLog(lead: 78).isEmpty }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await service.tenant("acme").actionLog(lead: 78).count == 1, "the action's own entry, no second one")
            #expect(try await acme.enrollments(sequence).map { $0["lead_id"]?.int64 } == [77])
            let refused = try await service.tenant("acme").actionLog(lead: 78)
            #expect(refused.first?["outcome"]?.string == "skipped")
            #expect(refused.first?["detail"]?.string == "blocked (plan limit): active_enrollments: 1 of 1 live enrollments held on plan free",
                    "\(refused)")
        }
    }
}
