import TestSupport
import Foundation
import Sequences
import ServiceKit
import Testing
import Wire

private let day: TimeInterval = 86_400
private let threeSteps = """
    [{"id": "hello", "delay_seconds": 0, "action": {"type": "send_message", "text": "Hi {{contact.first_name|there}}!"}},
     {"id": "call", "delay_days": 2, "action": {"type": "create_task", "text": "Call the lead", "due_in_seconds": 3600}},
     {"id": "nudge", "delay_days": 3, "action": {"type": "ai_response", "instructions": "Ask if they had time to look"}}]
    """
private let madridWorkdays = #""send_window": {"time_zone": "Europe/Madrid", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "18:00"}"#

/// Sequences and enrollments through the real RPC server, with a manual clock and a scheduler the test
/// runs by hand.
@Suite struct SequenceEnrollmentTests {
    @Test func invalidSequencesAreRefusedFieldByField() async throws {
        try await EnrollmentHarness.run { service in
            let acme = service.tenant("acme")
            let noSteps = await rpcFailure { try await acme.create(sequenceJSON(steps: "[]")) }
            #expect(noSteps?.code == .invalidArgument)
            #expect(noSteps?.violations.map(\.field) == ["steps"])

            let bad = await rpcFailure {
                try await acme.create(sequenceJSON(steps: """
                    [{"id": "a", "delay_seconds": -5, "action": {"type": "send_message", "text": "Hi"}},
                     {"id": "b", "action": {"type": "send_fax", "text": "Hi"}}]
                    """, extra: #""send_window": {"time_zone": "Europe/Madrid", "days": ["mon"], "start": "", "end": ""}"#))
            }
            let fields = Set(bad?.violations.map(\.field) ?? [])
            #expect(bad?.code == .invalidArgument)
            #expect(fields == ["steps[0].delay_seconds", "steps[1].action.type", "send_window.start", "send_window.end"])

            let ok = try await acme.create(sequenceJSON(steps: #"[{"action": {"type": "send_message", "text": "Hi"}}]"#))
            let stepID = try #require(ok.object["steps"]?[0]?["id"]?.string)
            #expect(!stepID.isEmpty)
        }
    }

    @Test func threeStepsRunToCompletionInsideTheSendWindow() async throws {
        try await EnrollmentHarness.run { service in
            let acme = service.tenant("acme")
            let sequence = try await acme.create(sequenceJSON(steps: threeSteps, extra: madridWorkdays)).id
            let enrollment = try await acme.enroll(77, in: sequence)
            let start = service.clock.now()

            // Tuesday 13:00 in Madrid: the message goes at once.
            #expect(try await service.drain() == 1)
            #expect(service.runner.all.map(\.type) == ["send_message"])
            #expect(service.runner.all.first?.action.idempotencyKey == "step:\(enrollment):hello")

            // The task is two days after the message (Thursday 13:00, inside the window).
            service.clock.advance(by: 2 * day - 60)
            #expect(try await service.drain() == 0)
            service.clock.advance(by: 60)
            #expect(try await service.drain() == 1)
            #expect(service.runner.all.last?.type == "create_task")
            #expect(service.runner.all.last?.at == start.addingTimeInterval(2 * day))

            // Three days later is Sunday: the AI reply waits for Monday 09:00 in Madrid (08:00 UTC).
            service.clock.advance(by: 3 * day)
            #expect(try await service.drain() == 0)
            let mondayOpening = Date(timeIntervalSince1970: 1_764_576_000)
            service.clock.set(mondayOpening.addingTimeInterval(-1))
            #expect(try await service.drain() == 0)
            service.clock.set(mondayOpening)
            #expect(try await service.drain() == 1)
            #expect(service.runner.all.map(\.type) == ["send_message", "create_task", "ai_response"])

            let listed = try #require(try await acme.enrollments(sequence).first)
            #expect(listed["state"]?.string == "completed")
            #expect(listed["steps_done"]?.int64 == 3)
            #expect(listed["current_step_id"] == .null)
            service.clock.advance(by: 30 * day)
            #expect(try await service.drain() == 0)
        }
    }

    @Test func aReplyFromTheLeadExitsTheSequence() async throws {
        try await EnrollmentHarness.run { service in
            let acme = service.tenant("acme")
            let sequence = try await acme.create(sequenceJSON(trigger: #"{"type": "lead_created"}"#, steps: threeSteps,
                                                              extra: #""exit_conditions": [{"type": "lead_replied"}]"#)).id
            #expect(try await acme.event("lead_created").enrolled.count == 1)
            try await service.drain()
            // Our own outgoing message is no reply.
            #expect(try await acme.event("message_received", direction: "outgoing").exited.isEmpty)
            #expect(try await acme.event("message_received").exited.count == 1)

            let listed = try #require(try await acme.enrollments(sequence).first)
            #expect(listed["state"]?.string == "exited")
            #expect(listed["reason"]?.string == "lead_replied")
            service.clock.advance(by: 10 * day)
            #expect(try await service.drain() == 0)
            #expect(service.runner.all.map(\.type) == ["send_message"])
        }
    }

    @Test func aStageChangeToWonExitsButAnotherStageDoesNot() async throws {
        try await EnrollmentHarness.run { service in
            let acme = service.tenant("acme")
            let sequence = try await acme.create(sequenceJSON(steps: threeSteps, extra: #""exit_conditions": [{"type": "stage_changed", "to": "won"}]"#)).id
            _ = try await acme.enroll(77, in: sequence)
            try await service.drain()
            #expect(try await acme.event("stage_changed", statusID: 555).exited.isEmpty)
            #expect(try await acme.event("stage_changed", statusID: 142).exited.count == 1)
            let listed = try #require(try await acme.enrollments(sequence).first)
            #expect(listed["state"]?.string == "exited")
            #expect(listed["reason"]?.string == "stage_changed: won")
            service.clock.advance(by: 10 * day)
            #expect(try await service.drain() == 0)
        }
    }

    @Test func aSecondLeadCreatedDoesNotEnrollTwice() async throws {
        try await EnrollmentHarness.run { service in
            let acme = service.tenant("acme")
            let sequence = try await acme.create(sequenceJSON(trigger: #"{"type": "lead_created"}"#, steps: threeSteps)).id
            #expect(try await acme.event("lead_created", id: "ev-1").enrolled.count == 1)
            #expect(try await acme.event("lead_created", id: "ev-1").enrolled.isEmpty)
            #expect(try await acme.event("lead_created", id: "ev-2").enrolled.isEmpty)
            // Another lead is enrolled on its own.
            #expect(try await acme.event("lead_created", lead: 78, id: "ev-3").enrolled.count == 1)
            #expect(try await acme.enrollments(sequence).count == 2)
            #expect(await rpcFailure { try await acme.enroll(77, in: sequence) }?.code == .alreadyExists)
            #expect(try await service.drain() == 2)
        }
    }

    @Test func stageChangedTriggerHonoursTheStageAndEntryFilter() async throws {
        try await EnrollmentHarness.run { service in
            let acme = service.tenant("acme")
            let sequence = try await acme.create(sequenceJSON(trigger: #"{"type": "stage_changed", "stage_id": 502}"#, steps: threeSteps,
                                                              extra: #""entry_filters": {"pipeline_id": 7001}"#)).id
            #expect(try await acme.event("stage_changed", statusID: 503, pipelineID: 7001).enrolled.isEmpty)
            #expect(try await acme.event("stage_changed", statusID: 502, pipelineID: 9999).enrolled.isEmpty)
            #expect(try await acme.event("stage_changed", statusID: 502, pipelineID: 7001).enrolled.count == 1)
            #expect(try await acme.enrollments(sequence).first?["source"]?.string == "stage_changed")
        }
    }

    @Test func deletingTheNextStepSkipsIt() async throws {
        try await EnrollmentHarness.run { service in
            let acme = service.tenant("acme")
            let sequence = try await acme.create(sequenceJSON(steps: threeSteps)).id
            _ = try await acme.enroll(77, in: sequence)
            #expect(try await service.drain() == 1)
            // The enrollment waits on "call"; the edit removes it and keeps "nudge".
            let updated = try await acme.update(sequence, """
                {"steps": [{"id": "hello", "action": {"type": "send_message", "text": "Hi"}},
                           {"id": "nudge", "delay_days": 3, "action": {"type": "ai_response"}}]}
                """)
            #expect(updated.version == 2)
            #expect(try await acme.enrollments(sequence).first?["current_step_id"]?.string == "nudge")
            service.clock.advance(by: 3 * day)
            #expect(try await service.drain() == 1)
            #expect(service.runner.all.map(\.type) == ["send_message", "ai_response"])
            #expect(try await acme.enrollments(sequence).first?["state"]?.string == "completed")
        }
    }

    @Test func reorderingByFullOrderAndByMove() async throws {
        try await EnrollmentHarness.run { service in
            let acme = service.tenant("acme")
            let sequence = try await acme.create(sequenceJSON(steps: threeSteps)).id
            let reordered = try await acme.update(sequence, #"{"step_order": ["nudge", "hello", "call"]}"#)
            #expect(reordered.object["steps"]?.array?.compactMap { $0["id"]?.string } == ["nudge", "hello", "call"])
            let moved = try await acme.update(sequence, #"{"move": {"step_id": "call", "direction": "up"}}"#)
            #expect(moved.object["steps"]?.array?.compactMap { $0["id"]?.string } == ["nudge", "call", "hello"])
            let bad = await rpcFailure { try await acme.update(sequence, #"{"step_order": ["nudge", "hello"]}"#) }
            #expect(bad?.violations.map(\.field) == ["step_order"])
        }
    }

    @Test func pauseResumeAndCancel() async throws {
        try await EnrollmentHarness.run { service in
            let acme = service.tenant("acme")
            let sequence = try await acme.create(sequenceJSON(steps: threeSteps)).id
            let enrollment = try await acme.enroll(77, in: sequence)
            #expect(try await service.drain() == 1)

            let paused = try await acme.command("pause", sequence: sequence, enrollment: enrollment)
            #expect(paused["state"]?.string == "paused")
            service.clock.advance(by: 5 * day)
            #expect(try await service.drain() == 0)

            // Resumed late, the step it stopped at runs now — once.
            #expect(try await acme.command("resume", sequence: sequence, enrollment: enrollment)["state"]?.string == "active")
            #expect(try await service.drain() == 1)
            #expect(service.runner.all.map(\.type) == ["send_message", "create_task"])
            #expect(service.runner.all.last?.action.idempotencyKey == "step:\(enrollment):call")

            let cancelled = try await acme.command("cancel", sequence: sequence, enrollment: enrollment)
            #expect(cancelled["state"]?.string == "exited")
            #expect(cancelled["reason"]?.string == "cancelled")
            service.clock.advance(by: 5 * day)
            #expect(try await service.drain() == 0)
            #expect(await rpcFailure { try await acme.command("resume", sequence: sequence, enrollment: enrollment) }?.code == .failedPrecondition)
            // Finished, the lead may come in again (never_while_active).
            _ = try await acme.enroll(77, in: sequence)
            #expect(try await acme.enrollments(sequence).count == 2)
        }
    }

    @Test func anotherTenantSeesAndTouchesNothing() async throws {
        try await EnrollmentHarness.run { service in
            let acme = service.tenant("acme")
            let other = service.tenant("globex")
            let sequence = try await acme.create(sequenceJSON(trigger: #"{"type": "lead_created"}"#, steps: threeSteps)).id
            let enrollment = try await acme.enroll(77, in: sequence)

            #expect(await rpcFailure { try await other.get(sequence) }?.code == .notFound)
            #expect(await rpcFailure { try await other.update(sequence, #"{"name": "Mine"}"#) }?.code == .notFound)
            #expect(await rpcFailure { try await other.enrollments(sequence) }?.code == .notFound)
            #expect(await rpcFailure { try await other.enroll(77, in: sequence) }?.code == .notFound)
            #expect(await rpcFailure { try await other.command("cancel", sequence: sequence, enrollment: enrollment) }?.code == .notFound)
            // The other tenant's events neither enroll into nor exit acme's sequences.
            #expect(try await other.event("lead_created", lead: 78).enrolled.isEmpty)
            #expect(try await other.event("lead_deleted", lead: 77).exited.isEmpty)
            // Another agent of the same tenant does not see it either.
            #expect(await rpcFailure { try await service.tenant("acme", agent: "agent-2").get(sequence) }?.code == .notFound)
            #expect(try await acme.enrollments(sequence).first?["state"]?.string == "active")
        }
    }
}
