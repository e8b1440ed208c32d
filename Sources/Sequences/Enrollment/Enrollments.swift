import Basics
import Foundation
import ServiceKit
import Wire

// MARK: - Rules of entry and exit

/// Which events start and end enrollments. Pure functions, so that the store applies them inside the
/// transaction that reads the enrollments.
package enum EnrollmentRules {
    /// Whether `event` auto-enrolls its lead in a sequence with this definition.
    package static func triggers(_ definition: SequenceDefinition, event: PB.Event) -> Bool {
        guard event.leadId > 0, definition.status == "active" else { return false }
        let trigger = definition.trigger
        switch (trigger.type, event.type) {
        case ("lead_created", .leadCreated):
            break
        case ("stage_changed", .stageChanged):
            guard event.statusId == trigger.stageID else { return false }
            if let pipeline = trigger.pipelineID, pipeline != event.pipelineId { return false }
        default:
            return false
        }
        if let pipeline = definition.entryPipelineID, pipeline != event.pipelineId { return false }
        if let stage = definition.entryStageID, stage != event.statusId { return false }
        return true
    }

    /// Why `event` ends an enrollment in a sequence with these exit conditions, or `nil`. A deleted lead
    /// leaves every sequence: there is nobody left to write to.
    package static func exitReason(for event: PB.Event, conditions: [SequenceDefinition.ExitCondition]) -> String? {
        switch event.type {
        case .leadDeleted:
            return "lead_deleted"
        case .messageReceived where event.message?.direction != .outgoing && conditions.contains(.leadReplied):
            return "lead_replied"
        case .stageChanged:
            for condition in conditions {
                guard case .stageChanged(let target) = condition else { continue }
                switch target {
                case .any: return "stage_changed"
                case .won where event.statusId == SequenceDefinition.wonStageID: return "stage_changed: won"
                case .lost where event.statusId == SequenceDefinition.lostStageID: return "stage_changed: lost"
                case .stage(let id) where event.statusId == id: return "stage_changed: \(id)"
                default: continue
                }
            }
            return nil
        default:
            return nil
        }
    }
}

// MARK: - Enrollment commands

/// Starts and stops enrollments: the one path used by the RPC handlers (manual enroll, commands, events)
/// and by rules' `start_sequence` / `stop_sequence` actions.
package struct Enrollments: Sendable {
    let store: SequenceStore
    let clock: any WallClock
    /// Wakes the scheduler when a step may be due at once; `nil` where the scheduler polls anyway.
    let nudge: Nudge?

    package init(store: SequenceStore, clock: any WallClock, nudge: Nudge? = nil) {
        self.store = store
        self.clock = clock
        self.nudge = nudge
    }

    /// Enrolls a lead. `agentID` limits the lookup to that agent's sequences (REST paths name one).
    /// `logBlocked`: see ``SequenceStore/enroll(tenantID:sequenceID:agentID:leadID:source:eventID:enrollmentID:logBlocked:now:)``.
    package func enroll(tenantID: String, sequenceID: String, agentID: String?, leadID: Int64, source: String,
                        eventID: String = "", logBlocked: Bool = true) async throws -> EnrollOutcome {
        let outcome = try await store.enroll(tenantID: tenantID, sequenceID: sequenceID, agentID: agentID, leadID: leadID, source: source,
                                             eventID: eventID, enrollmentID: RandomID.make("enr_"), logBlocked: logBlocked,
                                             now: clock.now().unixMicros)
        if case .enrolled = outcome { nudge?.signal() }
        return outcome
    }

    /// Ends a lead's live enrollments in `sequenceID` (all sequences when nil).
    package func stop(tenantID: String, leadID: Int64, sequenceID: String?, reason: String) async throws -> [String] {
        try await store.stopEnrollments(tenantID: tenantID, leadID: leadID, sequenceID: sequenceID, reason: reason,
                                        now: clock.now().unixMicros)
    }

    /// Exits and auto-enrollments for one event.
    package func apply(_ event: PB.Event) async throws -> (enrolled: [String], exited: [String]) {
        guard event.leadId > 0 else { return ([], []) }
        let result = try await store.applyEvent(event, newEnrollmentID: { RandomID.make("enr_") }, now: clock.now().unixMicros)
        if !result.enrolled.isEmpty { nudge?.signal() }
        return result
    }

    /// Pause, resume or cancel.
    package func command(tenantID: String, agentID: String, sequenceID: String, enrollmentID: String, command: String,
                         reason: String) async throws -> EnrollmentRecord {
        let record = try await store.command(tenantID: tenantID, agentID: agentID, sequenceID: sequenceID, enrollmentID: enrollmentID,
                                             command: command, reason: reason, now: clock.now().unixMicros)
        if command == "resume" { nudge?.signal() }
        return record
    }
}
