import Basics
import Domain
import Foundation
import GRDB
import ServiceKit
import Wire

// MARK: - Records

/// A stored sequence with its identity.
package struct SequenceRecord: Sendable {
    package var id: String
    package var tenantID: String
    package var agentID: String
    package var definition: SequenceDefinition
    package var version: Int64
    package var createdAt: Int64
    package var updatedAt: Int64
}

/// One lead's way through one sequence.
package struct EnrollmentRecord: Sendable {
    package var id: String
    package var tenantID: String
    package var sequenceID: String
    package var agentID: String
    package var leadID: Int64
    /// active, paused, completed, exited, failed
    package var state: String
    package var reason: String
    package var currentStepID: String?
    package var stepsDone: Int
    package var lastStepAt: Int64
    package var nextDueAt: Int64?
    package var source: String
    package var enrolledAt: Int64
    package var updatedAt: Int64
    package var finishedAt: Int64?

    package var isLive: Bool { state == "active" || state == "paused" }

    init(row: Row) {
        id = row["id"]; tenantID = row["tenant_id"]; sequenceID = row["sequence_id"]; agentID = row["agent_id"]
        leadID = row["lead_id"]; state = row["state"]; reason = row["reason"]; currentStepID = row["current_step_id"]
        stepsDone = row["steps_done"]; lastStepAt = row["last_step_at"]; nextDueAt = row["next_due_at"]; source = row["source"]
        enrolledAt = row["enrolled_at"]; updatedAt = row["updated_at"]; finishedAt = row["finished_at"]
    }
}

/// What an enroll request came to.
package enum EnrollOutcome: Sendable {
    case enrolled(EnrollmentRecord)
    /// The lead already has a live enrollment (or this event enrolled it before): that one.
    case alreadyEnrolled(EnrollmentRecord)
    /// The re-enrollment policy keeps the lead out.
    case refused(String)
    /// The tenant holds as many live enrollments as its plan allows: the lead is not enrolled. The reason
    /// reads `blocked (plan limit): active_enrollments: …`.
    case blocked(String)
}

/// Errors of the sequence methods; the server maps them to RPC codes.
package enum SequenceStoreError: Error, Sendable {
    case notFound(String)
    case versionMismatch(current: Int64)
    case precondition(String)
}

// MARK: - Sequences

extension SequenceStore {
    /// Creates a sequence; with `quota`, only while the tenant holds fewer than that many (counted in the
    /// same transaction). Throws ``SequenceQuotaExceeded`` past it.
    package func createSequence(tenantID: String, agentID: String, id: String, definition: SequenceDefinition, now: Int64,
                                quota: Int? = nil) async throws -> SequenceRecord {
        try await db.write { db in
            if let quota {
                let held = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sequence WHERE tenant_id = ?", arguments: [tenantID]) ?? 0
                guard held < quota else { throw SequenceQuotaExceeded(limit: quota) }
            }
            try db.execute(sql: """
                INSERT INTO sequence (tenant_id, id, agent_id, status, trigger_type, definition_json, version, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)
                """, arguments: [tenantID, id, agentID, definition.status, definition.trigger.type, Self.text(definition), now, now])
            return SequenceRecord(id: id, tenantID: tenantID, agentID: agentID, definition: definition, version: 1, createdAt: now, updatedAt: now)
        }
    }

    package func sequence(tenantID: String, agentID: String?, id: String) async throws -> SequenceRecord? {
        try await db.read { db in
            let record = try Self.loadSequence(db, tenantID: tenantID, id: id)
            return agentID == nil || record?.agentID == agentID ? record : nil
        }
    }

    /// An agent's sequences by id; `after` is the last id of the previous page.
    package func sequences(tenantID: String, agentID: String, status: String?, limit: Int, after: String?) async throws -> [SequenceRecord] {
        try await db.read { db in
            var sql = "SELECT * FROM sequence WHERE tenant_id = ? AND agent_id = ?"
            var arguments: StatementArguments = [tenantID, agentID]
            if let status { sql += " AND status = ?"; arguments += [status] }
            if let after { sql += " AND id > ?"; arguments += [after] }
            sql += " ORDER BY id LIMIT ?"
            arguments += [limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).compactMap(Self.sequenceRecord(row:))
        }
    }

    /// Rewrites a sequence with `change` and brings its live enrollments along: a pending step whose
    /// definition changed is rescheduled with its new action and delay; an enrollment waiting on a deleted
    /// step moves on to the next surviving step of the old order (or completes).
    package func updateSequence(tenantID: String, agentID: String, id: String, ifVersion: Int64, now: Int64,
                                change: @Sendable (SequenceRecord) throws -> SequenceDefinition) async throws -> SequenceRecord {
        try await db.write { db in
            guard var record = try Self.loadSequence(db, tenantID: tenantID, id: id), record.agentID == agentID else {
                throw SequenceStoreError.notFound("sequence \(id)")
            }
            if ifVersion != 0, ifVersion != record.version { throw SequenceStoreError.versionMismatch(current: record.version) }
            let old = record.definition
            let new = try change(record)
            record.definition = new
            record.version += 1
            record.updatedAt = now
            try db.execute(sql: """
                UPDATE sequence SET status = ?, trigger_type = ?, definition_json = ?, version = ?, updated_at = ?
                WHERE tenant_id = ? AND id = ?
                """, arguments: [new.status, new.trigger.type, Self.text(new), record.version, now, tenantID, id])
            for enrollment in try Self.liveEnrollments(db, tenantID: tenantID, sequenceID: id) {
                guard let current = enrollment.currentStepID else { continue }
                if let step = new.step(current) {
                    if enrollment.state == "active" {
                        let due = new.due(after: enrollment.lastStepAt, delaySeconds: step.delaySeconds)
                        try db.execute(sql: """
                            UPDATE action SET action_type = ?, action = ?, due_at = ? WHERE idempotency_key = ? AND status = 'pending'
                            """, arguments: [step.actionType, Self.text(step.action), due, Self.stepKey(enrollment.id, step.id)])
                        try db.execute(sql: "UPDATE enrollment SET next_due_at = ? WHERE id = ?", arguments: [due, enrollment.id])
                    }
                    continue
                }
                // The step it waited for is gone: the next one of the old order that still exists.
                let oldIndex = old.steps.firstIndex { $0.id == current } ?? old.steps.count
                let replacement = old.steps.dropFirst(oldIndex + 1).lazy.compactMap { new.step($0.id) }.first
                try Self.cancelPendingSteps(db, enrollmentID: enrollment.id, now: now)
                if let replacement {
                    try Self.moveTo(db, enrollment: enrollment, step: replacement, definition: new, earliest: nil, now: now)
                } else {
                    try Self.end(db, enrollmentID: enrollment.id, state: "completed", reason: "", now: now)
                }
            }
            return record
        }
    }

    /// Deletes a sequence; its live enrollments exit (reason `sequence_deleted`) and their pending steps
    /// are cancelled. Enrollment rows stay as history.
    package func deleteSequence(tenantID: String, agentID: String, id: String, now: Int64) async throws {
        try await db.write { db in
            guard let record = try Self.loadSequence(db, tenantID: tenantID, id: id), record.agentID == agentID else {
                throw SequenceStoreError.notFound("sequence \(id)")
            }
            for enrollment in try Self.liveEnrollments(db, tenantID: tenantID, sequenceID: id) {
                try Self.cancelPendingSteps(db, enrollmentID: enrollment.id, now: now)
                try Self.end(db, enrollmentID: enrollment.id, state: "exited", reason: "sequence_deleted", now: now)
            }
            try db.execute(sql: "DELETE FROM sequence WHERE tenant_id = ? AND id = ?", arguments: [tenantID, id])
        }
    }

    // MARK: - Enrollments

    /// Enrolls a lead, honouring the sequence's status, re-enrollment policy and the tenant's plan, and
    /// schedules the first step. `eventID` makes a retried event a no-op even after its enrollment
    /// finished. With `logBlocked`, an enrollment the plan refuses is recorded in the action log (a
    /// rule's `start_sequence` records it as its own outcome instead).
    package func enroll(tenantID: String, sequenceID: String, agentID: String?, leadID: Int64, source: String, eventID: String,
                        enrollmentID: String, logBlocked: Bool = true, now: Int64) async throws -> EnrollOutcome {
        try await db.write { db in
            guard let record = try Self.loadSequence(db, tenantID: tenantID, id: sequenceID), agentID == nil || record.agentID == agentID else {
                throw SequenceStoreError.notFound("sequence \(sequenceID)")
            }
            guard record.definition.status == "active" else {
                throw SequenceStoreError.precondition("sequence \(sequenceID) is \(record.definition.status); only active sequences take leads")
            }
            return try Self.enroll(db, sequence: record, leadID: leadID, source: source, eventID: eventID, enrollmentID: enrollmentID,
                                   logBlocked: logBlocked, now: now)
        }
    }

    /// A sequence's enrollments, oldest first; `after` is the last id of the previous page.
    package func enrollments(tenantID: String, agentID: String, sequenceID: String, state: String?, leadID: Int64?, limit: Int,
                             after: (Int64, String)?) async throws -> [EnrollmentRecord] {
        try await db.read { db in
            guard let record = try Self.loadSequence(db, tenantID: tenantID, id: sequenceID), record.agentID == agentID else {
                throw SequenceStoreError.notFound("sequence \(sequenceID)")
            }
            var sql = "SELECT * FROM enrollment WHERE tenant_id = ? AND sequence_id = ?"
            var arguments: StatementArguments = [tenantID, sequenceID]
            if let state { sql += " AND state = ?"; arguments += [state] }
            if let leadID { sql += " AND lead_id = ?"; arguments += [leadID] }
            if let after { sql += " AND (enrolled_at, id) > (?, ?)"; arguments += [after.0, after.1] }
            sql += " ORDER BY enrolled_at, id LIMIT ?"
            arguments += [limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(EnrollmentRecord.init(row:))
        }
    }

    /// Pauses, resumes or cancels one enrollment. Pausing cancels its pending step; resuming schedules the
    /// step it stopped at again (no earlier than now, inside the send window). Repeating a command is a
    /// no-op; commanding a finished enrollment is a precondition failure.
    package func command(tenantID: String, agentID: String, sequenceID: String, enrollmentID: String, command: String, reason: String,
                         now: Int64) async throws -> EnrollmentRecord {
        try await db.write { db in
            guard let sequence = try Self.loadSequence(db, tenantID: tenantID, id: sequenceID), sequence.agentID == agentID,
                  let enrollment = try Self.loadEnrollment(db, tenantID: tenantID, id: enrollmentID), enrollment.sequenceID == sequenceID
            else { throw SequenceStoreError.notFound("enrollment \(enrollmentID)") }
            guard enrollment.isLive else { throw SequenceStoreError.precondition("the enrollment is \(enrollment.state)") }
            switch command {
            case "pause" where enrollment.state == "active":
                try Self.cancelPendingSteps(db, enrollmentID: enrollment.id, now: now)
                try db.execute(sql: "UPDATE enrollment SET state = 'paused', reason = ?, next_due_at = NULL, updated_at = ? WHERE id = ?",
                               arguments: [reason, now, enrollment.id])
            case "resume" where enrollment.state == "paused":
                try db.execute(sql: "UPDATE enrollment SET state = 'active', reason = '', updated_at = ? WHERE id = ?", arguments: [now, enrollment.id])
                if let current = enrollment.currentStepID, let step = sequence.definition.step(current) {
                    var resumed = enrollment
                    resumed.state = "active"
                    try Self.moveTo(db, enrollment: resumed, step: step, definition: sequence.definition, earliest: now, now: now)
                } else {
                    try Self.end(db, enrollmentID: enrollment.id, state: "completed", reason: "", now: now)
                }
            case "cancel":
                try Self.cancelPendingSteps(db, enrollmentID: enrollment.id, now: now)
                try Self.end(db, enrollmentID: enrollment.id, state: "exited", reason: reason.isEmpty ? "cancelled" : "cancelled: \(reason)", now: now)
            default:
                break
            }
            return try Self.loadEnrollment(db, tenantID: tenantID, id: enrollmentID)!
        }
    }

    /// Ends a lead's live enrollments in one sequence, or in all when `sequenceID` is nil (a rule's
    /// `stop_sequence`). Returns the enrollments it ended.
    package func stopEnrollments(tenantID: String, leadID: Int64, sequenceID: String?, reason: String, now: Int64) async throws -> [String] {
        try await db.write { db in
            var stopped: [String] = []
            for enrollment in try Self.liveEnrollments(db, tenantID: tenantID, leadID: leadID) where sequenceID == nil || enrollment.sequenceID == sequenceID {
                try Self.cancelPendingSteps(db, enrollmentID: enrollment.id, now: now)
                try Self.end(db, enrollmentID: enrollment.id, state: "exited", reason: reason, now: now)
                stopped.append(enrollment.id)
            }
            return stopped
        }
    }

    /// An event for a lead: first the exit conditions of its live enrollments, then auto-enrollment in the
    /// tenant's active sequences it triggers. Safe to repeat: exits are final, and enrollment is one live
    /// row per sequence and lead, and once per event.
    package func applyEvent(_ event: PB.Event, newEnrollmentID: @Sendable () -> String, now: Int64) async throws -> (enrolled: [String], exited: [String]) {
        try await db.write { db in
            let tenantID = event.tenantId
            var exited: [String] = []
            for enrollment in try Self.liveEnrollments(db, tenantID: tenantID, leadID: event.leadId) {
                guard let sequence = try Self.loadSequence(db, tenantID: tenantID, id: enrollment.sequenceID),
                      let reason = EnrollmentRules.exitReason(for: event, conditions: sequence.definition.exitConditions)
                else { continue }
                try Self.cancelPendingSteps(db, enrollmentID: enrollment.id, now: now)
                try Self.end(db, enrollmentID: enrollment.id, state: "exited", reason: reason, now: now)
                exited.append(enrollment.id)
            }
            var enrolled: [String] = []
            let candidates = try Row.fetchAll(db, sql: """
                SELECT * FROM sequence WHERE tenant_id = ? AND status = 'active' AND trigger_type IN ('lead_created', 'stage_changed') ORDER BY id
                """, arguments: [tenantID]).compactMap(Self.sequenceRecord(row:))
            for sequence in candidates where EnrollmentRules.triggers(sequence.definition, event: event) {
                if case .enrolled(let enrollment) = try Self.enroll(db, sequence: sequence, leadID: event.leadId, source: event.type.name,
                                                                    eventID: event.id, enrollmentID: newEnrollmentID(), logBlocked: true,
                                                                    now: now) {
                    enrolled.append(enrollment.id)
                }
            }
            return (enrolled, exited)
        }
    }

    // MARK: - Steps

    /// Whether a claimed step row should still run: its enrollment is active and waiting on this step.
    package func stepIsCurrent(_ action: ScheduledAction) async throws -> Bool {
        guard let (enrollmentID, stepID) = Self.parseStepKey(action.idempotencyKey) else { return false }
        return try await db.read { db in
            guard let enrollment = try Self.loadEnrollment(db, tenantID: action.tenantID, id: enrollmentID) else { return false }
            return enrollment.state == "active" && enrollment.currentStepID == stepID
        }
    }

    /// Finishes a step row like ``finish(_:status:log:retryAt:now:)`` and, in the same transaction, moves
    /// its enrollment on: the next step of the sequence's current order is scheduled (its delay counted
    /// from now, pushed into the send window), or the enrollment completes. A failed step fails the
    /// enrollment; a skipped one (no credentials, …) lets it go on.
    package func finishStep(_ action: ScheduledAction, status: String, log: ActionLogEntry?, retryAt: Int64?, now: Int64) async throws {
        try await db.write { db in
            try Self.finishRow(db, action, status: status, log: log, retryAt: retryAt, now: now)
            // A held step keeps its enrollment on it until the pause ends.
            guard retryAt == nil, status != "cancelled", status != "held", let (enrollmentID, stepID) = Self.parseStepKey(action.idempotencyKey),
                  let enrollment = try Self.loadEnrollment(db, tenantID: action.tenantID, id: enrollmentID),
                  enrollment.state == "active", enrollment.currentStepID == stepID
            else { return }
            guard status != "failed" else {
                return try Self.end(db, enrollmentID: enrollment.id, state: "failed",
                                    reason: "step \(stepID) failed: \(log?.detail ?? "")", now: now)
            }
            try db.execute(sql: "UPDATE enrollment SET steps_done = steps_done + 1, last_step_at = ? WHERE id = ?", arguments: [now, enrollment.id])
            guard let sequence = try Self.loadSequence(db, tenantID: action.tenantID, id: enrollment.sequenceID),
                  let next = sequence.definition.step(after: stepID)
            else { return try Self.end(db, enrollmentID: enrollment.id, state: "completed", reason: "", now: now) }
            var moved = enrollment
            moved.lastStepAt = now
            try Self.moveTo(db, enrollment: moved, step: next, definition: sequence.definition, earliest: nil, now: now)
        }
    }

    // MARK: - Helpers (inside a transaction)

    static func stepKey(_ enrollmentID: String, _ stepID: String) -> String { "step:\(enrollmentID):\(stepID)" }

    static func parseStepKey(_ key: String) -> (String, String)? {
        let parts = key.split(separator: ":", maxSplits: 2)
        guard parts.count == 3, parts[0] == "step" else { return nil }
        return (String(parts[1]), String(parts[2]))
    }

    static func text(_ definition: SequenceDefinition) -> String { JSONValue.object(definition.json).text() }

    static func text(_ value: JSONValue) -> String { value.text() }

    static func sequenceRecord(row: Row) -> SequenceRecord? {
        let json: String = row["definition_json"]
        guard let value = JSONValue(parsing: Array(json.utf8)),
              case .success(let definition) = SequenceDefinition.parse(value, newStepID: { "" })
        else { return nil }
        return SequenceRecord(id: row["id"], tenantID: row["tenant_id"], agentID: row["agent_id"], definition: definition,
                              version: row["version"], createdAt: row["created_at"], updatedAt: row["updated_at"])
    }

    static func loadSequence(_ db: Database, tenantID: String, id: String) throws -> SequenceRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM sequence WHERE tenant_id = ? AND id = ?", arguments: [tenantID, id]).flatMap(sequenceRecord(row:))
    }

    static func loadEnrollment(_ db: Database, tenantID: String, id: String) throws -> EnrollmentRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM enrollment WHERE tenant_id = ? AND id = ?", arguments: [tenantID, id]).map(EnrollmentRecord.init(row:))
    }

    static func liveEnrollments(_ db: Database, tenantID: String, sequenceID: String) throws -> [EnrollmentRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM enrollment WHERE tenant_id = ? AND sequence_id = ? AND state IN ('active', 'paused')",
                         arguments: [tenantID, sequenceID]).map(EnrollmentRecord.init(row:))
    }

    static func liveEnrollments(_ db: Database, tenantID: String, leadID: Int64) throws -> [EnrollmentRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM enrollment WHERE tenant_id = ? AND lead_id = ? AND state IN ('active', 'paused') ORDER BY id",
                         arguments: [tenantID, leadID]).map(EnrollmentRecord.init(row:))
    }

    static func enroll(_ db: Database, sequence: SequenceRecord, leadID: Int64, source: String, eventID: String, enrollmentID: String,
                       logBlocked: Bool, now: Int64) throws -> EnrollOutcome {
        let tenantID = sequence.tenantID
        let previous = try Row.fetchAll(db, sql: """
            SELECT * FROM enrollment WHERE tenant_id = ? AND sequence_id = ? AND lead_id = ? ORDER BY enrolled_at DESC, id DESC
            """, arguments: [tenantID, sequence.id, leadID]).map(EnrollmentRecord.init(row:))
        if let live = previous.first(where: \.isLive) { return .alreadyEnrolled(live) }
        if !eventID.isEmpty, let same = try Row.fetchOne(db, sql: "SELECT * FROM enrollment WHERE tenant_id = ? AND sequence_id = ? AND lead_id = ? AND event_id = ?",
                                                         arguments: [tenantID, sequence.id, leadID, eventID]) {
            return .alreadyEnrolled(EnrollmentRecord(row: same))
        }
        switch sequence.definition.reEnrollment {
        case .neverAgain where !previous.isEmpty:
            return .refused("the lead was in this sequence before (re_enrollment: never_again)")
        case .afterFinished where previous.first.map({ $0.state != "completed" }) ?? false:
            return .refused("the lead's last enrollment did not complete (re_enrollment: after_finished)")
        default:
            break
        }
        guard let first = sequence.definition.steps.first else { return .refused("the sequence has no steps") }
        if let reason = try enrollmentLimitReason(db, tenantID: tenantID) {
            if logBlocked { try logBlockedEnrollment(db, sequence: sequence, leadID: leadID, source: source, eventID: eventID, reason: reason, now: now) }
            return .blocked(reason)
        }
        try db.execute(sql: """
            INSERT INTO enrollment (id, tenant_id, sequence_id, agent_id, lead_id, state, current_step_id, last_step_at, source, event_id, enrolled_at, updated_at)
            VALUES (?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?, ?)
            """, arguments: [enrollmentID, tenantID, sequence.id, sequence.agentID, leadID, first.id, now, source, eventID, now, now])
        let enrollment = try loadEnrollment(db, tenantID: tenantID, id: enrollmentID)!
        try AnalyticsCounters.add(db, tenantID: tenantID, at: now, key: "sequence.\(sequence.id).enrolled", agentID: sequence.agentID)
        try AnalyticsCounters.add(db, tenantID: tenantID, at: now, key: "sequence.\(sequence.id).live", agentID: sequence.agentID)
        try moveTo(db, enrollment: enrollment, step: first, definition: sequence.definition, earliest: nil, now: now)
        return .enrolled(try loadEnrollment(db, tenantID: tenantID, id: enrollmentID)!)
    }

    /// Records in the action log (so the lead's timeline shows it) that the plan kept the lead out of
    /// `sequence`. Once per event: a retried event finds the row it wrote.
    static func logBlockedEnrollment(_ db: Database, sequence: SequenceRecord, leadID: Int64, source: String, eventID: String, reason: String,
                                     now: Int64) throws {
        let summary = eventID.isEmpty ? "enroll lead \(leadID) (\(source))" : "enroll lead \(leadID) (\(source), event \(eventID))"
        if !eventID.isEmpty, try Bool.fetchOne(db, sql: """
            SELECT 1 FROM action_log WHERE tenant_id = ? AND lead_id = ? AND operation = 'sequence.enroll' AND target = ? AND request_summary = ?
            """, arguments: [sequence.tenantID, leadID, sequence.id, summary]) == true {
            return
        }
        // action_id 0: no action was scheduled; the entry explains what did not happen.
        try db.execute(sql: """
            INSERT INTO action_log (action_id, tenant_id, lead_id, at, action_type, operation, target, request_summary, http_status, latency_ms, outcome, detail)
            VALUES (0, ?, ?, ?, 'start_sequence', 'sequence.enroll', ?, ?, NULL, 0, 'skipped', ?)
            """, arguments: [sequence.tenantID, leadID, now, sequence.id, summary,
                             "\(reason); not enrolled in \(sequence.definition.name) (\(sequence.id))"])
    }

    /// Points the enrollment at `step` and, when it is active, schedules the step's row: due its delay
    /// after the previous step (no earlier than `earliest`), pushed into the send window. A row cancelled
    /// by a pause is revived under the same key, so the step still runs at most once. On a step row
    /// `rule_id` holds the sequence id and `event_id` the enrollment id, so the action log can say where
    /// a step came from and pause/exit can find the enrollment's rows.
    static func moveTo(_ db: Database, enrollment: EnrollmentRecord, step: SequenceDefinition.Step, definition: SequenceDefinition,
                       earliest: Int64?, now: Int64) throws {
        var due = enrollment.lastStepAt + Int64(step.delaySeconds) * 1_000_000
        if let earliest { due = max(due, earliest) }
        due = definition.due(after: due, delaySeconds: 0)
        let active = enrollment.state == "active"
        try db.execute(sql: "UPDATE enrollment SET current_step_id = ?, next_due_at = ?, updated_at = ? WHERE id = ?",
                       arguments: [step.id, active ? due : nil, now, enrollment.id])
        guard active else { return }
        // A step is reached once per enrollment: a row revived after a pause was reached before.
        let key = stepKey(enrollment.id, step.id)
        if try !(Bool.fetchOne(db, sql: "SELECT 1 FROM action WHERE idempotency_key = ?", arguments: [key]) ?? false) {
            try AnalyticsCounters.add(db, tenantID: enrollment.tenantID, at: now, key: "sequence.\(enrollment.sequenceID).step.\(step.id).reached",
                                      agentID: enrollment.agentID)
        }
        try db.execute(sql: """
            INSERT INTO action (tenant_id, idempotency_key, kind, action_type, action, lead_id, rule_id, agent_id, event_id, due_at, created_at)
            VALUES (?, ?, 'step', ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (idempotency_key) DO UPDATE SET status = 'pending', due_at = excluded.due_at, action_type = excluded.action_type,
                action = excluded.action, attempts = 0, lease_until = 0, finished_at = NULL
            WHERE action.status = 'cancelled'
            """, arguments: [enrollment.tenantID, stepKey(enrollment.id, step.id), step.actionType, text(step.action), enrollment.leadID,
                             enrollment.sequenceID, enrollment.agentID, enrollment.id, due, now])
    }

    static func cancelPendingSteps(_ db: Database, enrollmentID: String, now: Int64) throws {
        try db.execute(sql: "UPDATE action SET status = 'cancelled', finished_at = ? WHERE kind = 'step' AND event_id = ? AND status = 'pending'",
                       arguments: [now, enrollmentID])
    }

    static func end(_ db: Database, enrollmentID: String, state: String, reason: String, now: Int64) throws {
        if let enrollment = try Row.fetchOne(db, sql: "SELECT * FROM enrollment WHERE id = ?", arguments: [enrollmentID]).map(EnrollmentRecord.init(row:)) {
            try countEnd(db, enrollment: enrollment, state: state, reason: reason, now: now)
        }
        try db.execute(sql: """
            UPDATE enrollment SET state = ?, reason = ?, current_step_id = NULL, next_due_at = NULL, updated_at = ?, finished_at = ? WHERE id = ?
            """, arguments: [state, reason, now, now, enrollmentID])
    }
}

/// The tenant already holds as many sequences as its quota allows.
package struct SequenceQuotaExceeded: Error, Sendable {
    package var limit: Int
}
