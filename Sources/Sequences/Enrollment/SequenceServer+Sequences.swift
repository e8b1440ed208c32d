import Basics
import Foundation
import Logging
import ServiceKit
import Wire

// MARK: - Sequences

extension SequenceServer {
    /// The enrollment commands over this server's store and clock.
    var enrollments: Enrollments { Enrollments(store: store, clock: clock, nudge: scheduler.nudge) }

    /// Creates a sequence of the agent `parent_id`; steps without ids get one. Errors: INVALID_ARGUMENT with
    /// the path of every bad member (no steps, negative delay, unknown action type, unusable send window…).
    package func createSequence(_ request: PB.DocumentWrite, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        guard !request.parentId.isEmpty else { throw RPCError.invalid(field: "agent_id", "is required") }
        let definition = try Self.definition(from: .object(JSONValue.parseObject(request.json, field: "body")))
        let record: SequenceRecord
        do {
            record = try await store.createSequence(tenantID: tenantID, agentID: request.parentId, id: RandomID.make("seq_"),
                                                    definition: definition, now: clock.now().unixMicros, quota: quotas.sequences)
        } catch let error as SequenceQuotaExceeded {
            throw TenantQuotas.exceeded("sequences", setting: "quota_sequences", limit: error.limit)
        }
        context.logger.info("sequence.created", metadata: ["tenant.id": "\(tenantID)", "sequence.id": "\(record.id)"])
        return Self.document(record)
    }

    /// Errors: NOT_FOUND (also for another agent's or tenant's sequence).
    package func getSequence(_ request: PB.DocumentRef, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        guard let record = try await store.sequence(tenantID: tenantID, agentID: request.parentId.isEmpty ? nil : request.parentId,
                                                    id: request.id) else {
            throw RPCError(.notFound, "no sequence \(request.id)")
        }
        return Self.document(record)
    }

    /// An agent's sequences by id; filter `status`. Errors: INVALID_ARGUMENT (unknown filter or status).
    package func listSequences(_ request: PB.DocumentQuery, context: RPCContext) async throws -> PB.DocumentPage {
        let tenantID = try context.requireTenant()
        var status: String?
        for (index, filter) in request.filters.enumerated() {
            guard filter.key == "status" else { throw RPCError.invalid(field: "filters[\(index)].key", "unknown filter \(filter.key) (known: status)") }
            guard SequenceDefinition.statuses.contains(filter.value) else {
                throw RPCError.invalid(field: "filters[\(index)].value", "status is one of \(SequenceDefinition.statuses.joined(separator: ", "))")
            }
            status = filter.value
        }
        let limit = Self.pageSize(request.limit)
        let records = try await store.sequences(tenantID: tenantID, agentID: request.parentId, status: status, limit: limit,
                                                after: request.cursor.isEmpty ? nil : request.cursor)
        var page = PB.DocumentPage()
        page.items = records.map(Self.document(_:))
        if records.count == limit, let last = records.last { page.nextCursor = last.id }
        return page
    }

    /// A JSON merge patch, plus two reordering forms: `step_order` (every step id, in the new order) and
    /// `move` (`{"step_id": …, "direction": "up" | "down"}`). Running enrollments go on at their next
    /// step by id; one waiting on a deleted step skips to the next surviving one. Errors: INVALID_ARGUMENT,
    /// NOT_FOUND, FAILED_PRECONDITION (`if_version` does not match).
    package func updateSequence(_ request: PB.DocumentWrite, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        var patch = try JSONValue.parseObject(request.json, field: "body")
        let order = patch.removeValue(forKey: "step_order")
        let move = patch.removeValue(forKey: "move")
        let changes = JSONValue.object(patch)
        let record = try await Self.mapped {
            try await store.updateSequence(tenantID: tenantID, agentID: request.parentId, id: request.id, ifVersion: request.ifVersion,
                                           now: clock.now().unixMicros) { current in
                var merged = JSONValue.object(current.definition.json).merging(patch: changes)
                if let order { merged = try Self.reorder(merged, order: order) }
                if let move { merged = try Self.move(merged, move: move) }
                return try Self.definition(from: merged)
            }
        }
        context.logger.info("sequence.updated", metadata: ["tenant.id": "\(tenantID)", "sequence.id": "\(record.id)", "version": "\(record.version)"])
        return Self.document(record)
    }

    /// Deletes a sequence; its live enrollments exit with reason `sequence_deleted`. Errors: NOT_FOUND.
    package func deleteSequence(_ request: PB.DocumentRef, context: RPCContext) async throws -> PB.Empty {
        let tenantID = try context.requireTenant()
        try await Self.mapped { try await store.deleteSequence(tenantID: tenantID, agentID: request.parentId, id: request.id, now: clock.now().unixMicros) }
        context.logger.info("sequence.deleted", metadata: ["tenant.id": "\(tenantID)", "sequence.id": "\(request.id)"])
        return PB.Empty()
    }

    // MARK: - Enrollments

    /// Enrollments of the sequence `parent_id`, oldest first; filters `agent_id` (required), `state`,
    /// `lead_id`. Errors: INVALID_ARGUMENT, NOT_FOUND.
    package func listEnrollments(_ request: PB.DocumentQuery, context: RPCContext) async throws -> PB.DocumentPage {
        let tenantID = try context.requireTenant()
        var agentID = "", state: String?, leadID: Int64?
        for (index, filter) in request.filters.enumerated() {
            switch filter.key {
            case "agent_id": agentID = filter.value
            case "state":
                guard ["active", "paused", "completed", "exited", "failed"].contains(filter.value) else {
                    throw RPCError.invalid(field: "filters[\(index)].value", "state is one of active, paused, completed, exited, failed")
                }
                state = filter.value
            case "lead_id":
                guard let id = Int64(filter.value), id > 0 else { throw RPCError.invalid(field: "filters[\(index)].value", "lead_id must be a positive integer") }
                leadID = id
            default:
                throw RPCError.invalid(field: "filters[\(index)].key", "unknown filter \(filter.key) (known: agent_id, state, lead_id)")
            }
        }
        guard !agentID.isEmpty else { throw RPCError.invalid(field: "filters.agent_id", "is required") }
        var after: (Int64, String)?
        if !request.cursor.isEmpty {
            let parts = request.cursor.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let at = Int64(parts[0]) else { throw RPCError.invalid(field: "cursor", "is not a cursor of this list") }
            after = (at, String(parts[1]))
        }
        let limit = Self.pageSize(request.limit)
        let records = try await Self.mapped {
            try await store.enrollments(tenantID: tenantID, agentID: agentID, sequenceID: request.parentId, state: state, leadID: leadID,
                                        limit: limit, after: after)
        }
        let sequence = try await store.sequence(tenantID: tenantID, agentID: agentID, id: request.parentId)
        var page = PB.DocumentPage()
        page.items = records.map { Self.document($0, definition: sequence?.definition) }
        if records.count == limit, let last = records.last { page.nextCursor = "\(last.enrolledAt):\(last.id)" }
        return page
    }

    /// `enroll` (sequence_id, lead_id), `pause`, `resume`, `cancel` (enrollment_id). Errors:
    /// INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS (the lead is enrolled now), FAILED_PRECONDITION (the
    /// sequence is not active, the re-enrollment policy refuses, the enrollment is over), RESOURCE_EXHAUSTED
    /// naming `active_enrollments` (the plan allows no more live enrollments; recorded in the action log).
    package func commandEnrollment(_ request: PB.EnrollmentCommand, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        guard !request.agentId.isEmpty else { throw RPCError.invalid(field: "agent_id", "is required") }
        guard !request.sequenceId.isEmpty else { throw RPCError.invalid(field: "sequence_id", "is required") }
        let engine = enrollments
        switch request.command {
        case .enroll:
            guard request.leadId > 0 else { throw RPCError.invalid(field: "lead_id", "must be a positive integer") }
            let outcome = try await Self.mapped {
                try await engine.enroll(tenantID: tenantID, sequenceID: request.sequenceId, agentID: request.agentId, leadID: request.leadId,
                                        source: "manual")
            }
            switch outcome {
            case .enrolled(let record):
                context.logger.info("sequence.enrolled", metadata: ["tenant.id": "\(tenantID)", "enrollment.id": "\(record.id)", "lead.id": "\(record.leadID)"])
                return Self.document(record, definition: nil)
            case .alreadyEnrolled(let record):
                throw RPCError(.alreadyExists, "lead \(request.leadId) is already enrolled (\(record.id), \(record.state))")
            case .refused(let reason):
                throw RPCError(.failedPrecondition, reason)
            case .blocked(let reason):
                throw RPCError.planLimit("active_enrollments", reason)
            }
        case .pause, .resume, .cancel:
            guard !request.enrollmentId.isEmpty else { throw RPCError.invalid(field: "enrollment_id", "is required") }
            let record = try await Self.mapped {
                try await engine.command(tenantID: tenantID, agentID: request.agentId, sequenceID: request.sequenceId,
                                         enrollmentID: request.enrollmentId, command: request.command.name, reason: request.reason)
            }
            context.logger.info("sequence.enrollment_commanded", metadata: ["tenant.id": "\(tenantID)", "enrollment.id": "\(record.id)",
                                                                            "command": "\(request.command.name)"])
            return Self.document(record, definition: nil)
        case .unspecified, .unrecognized:
            throw RPCError.invalid(field: "command", "must be enroll, pause, resume or cancel")
        }
    }
}

// MARK: - Mapping

extension SequenceServer {
    static func definition(from value: JSONValue) throws -> SequenceDefinition {
        try SequenceDefinition.parse(value, newStepID: { RandomID.make("step_") }).get()
    }

    /// Rewrites `steps` in the order of `order`, which must name every step once.
    static func reorder(_ document: JSONValue, order: JSONValue) throws -> JSONValue {
        guard case .object(var members) = document else { return document }
        let steps = members["steps"]?.array ?? []
        let ids = (order.array ?? []).compactMap(\.string)
        let byID = Dictionary(steps.map { ($0["id"]?.string ?? "", $0) }, uniquingKeysWith: { first, _ in first })
        guard ids.count == order.array?.count, Set(ids).count == ids.count, Set(ids) == Set(byID.keys), ids.count == steps.count else {
            throw RPCError.invalid(field: "step_order", "must list every step id exactly once")
        }
        members["steps"] = .array(ids.compactMap { byID[$0] })
        return .object(members)
    }

    /// Moves one step up or down by one place; at either end it stays.
    static func move(_ document: JSONValue, move: JSONValue) throws -> JSONValue {
        guard case .object(var members) = document else { return document }
        var steps = members["steps"]?.array ?? []
        guard let id = move["step_id"]?.string, let index = steps.firstIndex(where: { $0["id"]?.string == id }) else {
            throw RPCError.invalid(field: "move.step_id", "is not a step of this sequence")
        }
        switch move["direction"]?.string {
        case "up": if index > 0 { steps.swapAt(index, index - 1) }
        case "down": if index + 1 < steps.count { steps.swapAt(index, index + 1) }
        default: throw RPCError.invalid(field: "move.direction", "must be up or down")
        }
        members["steps"] = .array(steps)
        return .object(members)
    }

    /// Store errors as RPC errors.
    static func mapped<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SequenceStoreError {
            switch error {
            case .notFound(let what): throw RPCError(.notFound, "no \(what)")
            case .versionMismatch(let current): throw RPCError(.failedPrecondition, "the sequence is at version \(current)")
            case .precondition(let message): throw RPCError(.failedPrecondition, message)
            }
        }
    }

    static func document(_ record: SequenceRecord) -> PB.Document {
        var json = record.definition.json
        json["id"] = .string(record.id)
        json["agent_id"] = .string(record.agentID)
        json["version"] = .int(record.version)
        json["created_at"] = .string(timestamp(record.createdAt))
        json["updated_at"] = .string(timestamp(record.updatedAt))
        return document(id: record.id, parentID: record.agentID, json: json, version: record.version,
                        createdAt: record.createdAt, updatedAt: record.updatedAt)
    }

    static func document(_ record: EnrollmentRecord, definition: SequenceDefinition?) -> PB.Document {
        var json: [String: JSONValue] = [
            "id": .string(record.id), "sequence_id": .string(record.sequenceID), "agent_id": .string(record.agentID),
            "lead_id": .int(record.leadID), "state": .string(record.state), "reason": .string(record.reason),
            "steps_done": .int(Int64(record.stepsDone)), "source": .string(record.source),
            "enrolled_at": .string(timestamp(record.enrolledAt)), "updated_at": .string(timestamp(record.updatedAt)),
        ]
        json["current_step_id"] = record.currentStepID.map(JSONValue.string) ?? .null
        if let definition, let current = record.currentStepID, let index = definition.steps.firstIndex(where: { $0.id == current }) {
            json["current_step_index"] = .int(Int64(index))
        }
        json["next_due_at"] = record.nextDueAt.map { .string(timestamp($0)) } ?? .null
        json["finished_at"] = record.finishedAt.map { .string(timestamp($0)) } ?? .null
        return document(id: record.id, parentID: record.sequenceID, json: json, version: 0,
                        createdAt: record.enrolledAt, updatedAt: record.updatedAt)
    }

    /// A document answer: its JSON with keys sorted, and the fields the gateway reads without parsing it.
    private static func document(id: String, parentID: String, json: [String: JSONValue], version: Int64,
                                 createdAt: Int64, updatedAt: Int64) -> PB.Document {
        var document = PB.Document()
        document.id = id
        document.parentId = parentID
        document.json = JSONValue.object(json).text()
        document.version = version
        document.createdAtMicros = createdAt
        document.updatedAtMicros = updatedAt
        return document
    }
}
