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
}
