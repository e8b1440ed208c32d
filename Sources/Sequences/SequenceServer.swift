import Basics
import Domain
import Foundation
import Logging
import ServiceKit
import Wire

/// The `Sequences` RPC service: takes decisions' actions and timers, and every event for exits and
/// auto-enrollment.
package struct SequenceServer: SequencesHandler {
    let store: SequenceStore
    let scheduler: Scheduler
    let integrations: Integrations
    let clock: any WallClock
    /// Reads the tenant's Kommo account with its credentials (the executor's client and limiter).
    let kommoProbe: (@Sendable (_ tenantID: String, _ logger: Logger) async throws -> JSONValue)?

    /// What one tenant may hold of the sequences this service owns.
    let quotas: TenantQuotas
    /// Web pages for knowledge documents, through the process's egress gate.
    let pages: PageFetcher
    /// Vectors for knowledge chunks and questions, through the process's egress gate.
    let embedder: KnowledgeEmbedder
    /// The Kommo budget: events keep its lead cache fresh; its paused accounts are alerts.
    let budget: KommoBudget?
    /// OAuth connections and account catalogs; `nil` in a process that carries out no Kommo actions.
    let kommo: KommoConnector?
    /// The gate voice messages are fetched and transcribed through; `nil` transcribes nothing.
    let egress: EgressGate?

    package init(store: SequenceStore, scheduler: Scheduler, integrations: Integrations, clock: any WallClock,
                 kommoProbe: (@Sendable (_ tenantID: String, _ logger: Logger) async throws -> JSONValue)? = nil,
                 quotas: TenantQuotas = TenantQuotas(), budget: KommoBudget? = nil, kommo: KommoConnector? = nil,
                 pages: PageFetcher = PageFetcher(gate: EgressGate()), embedder: KnowledgeEmbedder = KnowledgeEmbedder(gate: EgressGate()),
                 egress: EgressGate? = nil) {
        self.egress = egress
        self.pages = pages
        self.embedder = embedder
        self.quotas = quotas
        self.budget = budget
        self.kommo = kommo
        self.store = store
        self.scheduler = scheduler
        self.integrations = integrations
        self.clock = clock
        self.kommoProbe = kommoProbe
    }

    package func schedule(_ request: PB.ScheduleRequest, context: RPCContext) async throws -> PB.ScheduleResponse {
        let tenantID = try context.requireTenant()
        var violations: [FieldViolation] = []
        var actions: [PlannedActionRecord] = []
        for (index, action) in request.actions.enumerated() {
            do {
                actions.append(try PlannedActionRecord(action, field: "actions[\(index)]"))
            } catch let error as RPCError {
                violations += error.violations
            }
        }
        for (index, timer) in request.timers.enumerated() where timer.key.isEmpty || timer.dueAtMicros == 0 {
            violations.append(FieldViolation(field: "timers[\(index)]", message: "needs a key and a due time"))
        }
        guard violations.isEmpty else { throw RPCError.invalid(violations) }
        let (accepted, duplicates) = try await store.schedule(tenantID: tenantID, actions: actions, timers: request.timers,
                                                              now: clock.now().unixMicros)
        if accepted > 0 { scheduler.nudge.signal() }
        var response = PB.ScheduleResponse()
        response.accepted = Int32(accepted)
        response.duplicates = Int32(duplicates)
        return response
    }

    package func onEvent(_ request: PB.OnEventRequest, context: RPCContext) async throws -> PB.OnEventResponse {
        let tenantID = try context.requireTenant()
        guard var event = request.event, !event.id.isEmpty else { throw RPCError.invalid(field: "event.id", "is required") }
        // The caller's tenant, not the payload's, decides whose enrollments the event can touch.
        event.tenantId = tenantID
        // Something about the lead changed: its cached Kommo read no longer serves templates.
        if event.leadId != 0 { budget?.leads.invalidate(tenantID: tenantID, leadID: event.leadId) }
        let firstSight = try await store.firstSight(of: event, now: clock.now().unixMicros)
        if firstSight, event.type == .stageChanged, event.leadId != 0 {
            // Rows a manager's reply held check the pause again: the agent may resume on this stage.
            if try await store.releaseHeld(tenantID: tenantID, leadID: event.leadId, now: clock.now().unixMicros) > 0 {
                scheduler.nudge.signal()
            }
        }
        // Applied even when the event was seen before: a retry after a crash between the two writes must
        // still enroll, and applying is idempotent (one live enrollment per lead, once per event).
        let (enrolled, exited) = try await enrollments.apply(event)
        if !enrolled.isEmpty || !exited.isEmpty {
            context.logger.info("sequence.event_applied", metadata: [
                "tenant.id": "\(tenantID)", "event.id": "\(event.id)", "enrolled.count": "\(enrolled.count)", "exited.count": "\(exited.count)",
            ])
        }
        var response = PB.OnEventResponse()
        response.enrolled = enrolled
        response.exited = exited
        return response
    }
}

// MARK: - Integrations

extension SequenceServer {
    /// The tenant's integrations without secrets (`access_token_set: true` and the like). Errors: none
    /// beyond a missing tenant.
    package func getIntegrations(_ request: PB.DocumentRef, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        let state = try await integrations.state(tenantID: tenantID)
        var document = Self.document(state, alerts: try await kommoAlerts(tenantID: tenantID))
        if let view = try await kommo?.connectionView(tenantID: tenantID), case .object(var root)? = JSONValue(parsing: document.json) {
            // How the account was connected, when its tokens expire, its catalog, and a renewal alert.
            root["kommo_connection"] = view
            document.json = JSONValue.object(root).text()
        }
        return document
    }

    /// Applies a JSON merge patch to the tenant's integrations. A webhook secret is generated when none
    /// is set, and shown in this answer only (`webhooks.generated_secret`). Errors: INVALID_ARGUMENT with
    /// the path of each bad member; FAILED_PRECONDITION when `if_version` does not match.
    package func updateIntegrations(_ request: PB.DocumentWrite, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        let before = try await integrations.runtime(tenantID: tenantID).kommo
        let state = try await integrations.update(tenantID: tenantID, patchJSON: request.json, ifVersion: request.ifVersion,
                                                  now: clock.now().unixMicros)
        if try await integrations.runtime(tenantID: tenantID).kommo?.baseURL != before?.baseURL,
           try await store.kommoConnection(tenantID: tenantID) == nil {
            // Another account (or none): its catalog is read afresh by the next maintenance pass.
            try await store.deleteKommoCatalog(tenantID: tenantID)
        }
        context.logger.info("integrations.updated", metadata: ["tenant.id": "\(tenantID)", "version": "\(state.version)"])
        return Self.document(state, alerts: try await kommoAlerts(tenantID: tenantID))
    }

    /// "Test connection": reads the connected Kommo account. A refused token or an unreachable account is
    /// an answer (`ok: false` with Kommo's status and detail), not an error. Errors: FAILED_PRECONDITION
    /// when Kommo is not connected.
    /// Suspends or resumes a tenant (the gateway's call): a suspended tenant's due actions stay pending.
    package func setTenantState(_ request: PB.TenantState, context: RPCContext) async throws -> PB.TenantStateResponse {
        guard !request.tenantId.isEmpty else { throw RPCError.invalid(field: "tenant_id", "is required") }
        try await store.setTenantState(tenantID: request.tenantId, suspended: request.suspended, now: clock.now().unixMicros)
        var response = PB.TenantStateResponse()
        response.suspended = request.suspended
        return response
    }

    package func setTenantPlan(_ request: PB.TenantPlan, context: RPCContext) async throws -> PB.Empty {
        guard !request.tenantId.isEmpty else { throw RPCError.invalid(field: "tenant_id", "is required") }
        let plan = TenantPlanRecord(planID: request.planId, sendsBlocked: request.sendsBlocked, blockReason: request.blockReason,
                                    aiRepliesPerMonth: request.aiRepliesPerMonth, messagesPerMonth: request.messagesPerMonth,
                                    activeEnrollments: request.activeEnrollments)
        try await store.setTenantPlan(tenantID: request.tenantId, plan: plan, now: clock.now().unixMicros)
        return PB.Empty()
    }

    package func testKommoConnection(_ request: PB.DocumentRef, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        guard let kommoProbe else { throw RPCError(.unimplemented, "this process carries out no Kommo actions") }
        let answer = try await kommoProbe(tenantID, context.logger)
        var document = PB.Document()
        document.id = "kommo_connection"
        document.json = answer.text()
        return document
    }

    static func document(_ state: IntegrationState) -> PB.Document {
        var document = PB.Document()
        document.id = "integrations"
        document.json = Integrations.publicJSON(state)
        document.version = state.version
        document.createdAtMicros = state.createdAt
        document.updatedAtMicros = state.updatedAt
        document.warnings = state.warnings.map { warning in
            var violation = PB.FieldViolation()
            violation.field = warning.field
            violation.message = warning.message
            return violation
        }
        return document
    }
}

// MARK: - Action log and timeline

extension SequenceServer {
    static let defaultPageSize = 50
    static let maximumPageSize = 500

    /// The tenant's action log, newest first; `filters` may hold `lead_id`. The cursor is opaque.
    /// Errors: INVALID_ARGUMENT (bad cursor, unknown filter, non-numeric lead id).
    package func listActions(_ request: PB.DocumentQuery, context: RPCContext) async throws -> PB.DocumentPage {
        let tenantID = try context.requireTenant()
        var leadID: Int64?
        var outcome: String?, actionType: String?
        for (index, filter) in request.filters.enumerated() {
            switch filter.key {
            case "lead_id":
                guard let id = Int64(filter.value), id > 0 else {
                    throw RPCError.invalid(field: "filters[\(index)].value", "lead_id must be a positive integer")
                }
                leadID = id
            case "outcome" where !filter.value.isEmpty && filter.value.count <= 64: outcome = filter.value
            case "type" where !filter.value.isEmpty && filter.value.count <= 64: actionType = filter.value
            default:
                throw RPCError.invalid(field: "filters[\(index)].key", "unknown filter \(filter.key) (known: lead_id, outcome, type)")
            }
        }
        var before: Int64?
        if !request.cursor.isEmpty {
            guard let id = Int64(request.cursor), id > 0 else { throw RPCError.invalid(field: "cursor", "is not a cursor of this list") }
            before = id
        }
        let limit = Self.pageSize(request.limit)
        let items = try await store.actionPage(tenantID: tenantID, leadID: leadID, outcome: outcome, actionType: actionType, limit: limit, before: before)
        var page = PB.DocumentPage()
        page.items = items.map(Self.document(_:))
        if items.count == limit, let last = items.last { page.nextCursor = String(last.id) }
        return page
    }

    /// A lead's actions, messages and enrollments, newest first (an enrollment at the time it began, with
    /// its state now). Errors: INVALID_ARGUMENT (no lead, bad cursor).
    package func leadTimeline(_ request: PB.LeadQuery, context: RPCContext) async throws -> PB.DocumentPage {
        let tenantID = try context.requireTenant()
        guard request.leadId > 0 else { throw RPCError.invalid(field: "lead_id", "is required") }
        var before: TimelinePosition?
        if !request.cursor.isEmpty {
            let parts = request.cursor.split(separator: ":")
            guard parts.count == 3, let at = Int64(parts[0]), let id = Int64(parts[2]), ["action", "enrollment", "message"].contains(parts[1]) else {
                throw RPCError.invalid(field: "cursor", "is not a cursor of this list")
            }
            before = TimelinePosition(at: at, kind: String(parts[1]), id: id)
        }
        let limit = Self.pageSize(request.limit)
        let items = try await store.timeline(tenantID: tenantID, leadID: request.leadId, limit: limit, before: before)
        var page = PB.DocumentPage()
        page.items = items.map(Self.document(_:))
        if items.count == limit, let last = items.last?.position { page.nextCursor = "\(last.at):\(last.kind):\(last.id)" }
        return page
    }

    static func pageSize(_ requested: Int32) -> Int {
        requested <= 0 ? defaultPageSize : min(Int(requested), maximumPageSize)
    }

    static func document(_ item: ActionLogItem) -> PB.Document {
        let entry = item.entry
        var json: [String: JSONValue] = [
            "id": .string(String(item.id)), "action_id": .string(String(entry.actionID)), "at": .string(timestamp(entry.at)),
            "at_micros": .int(entry.at), "action_type": .string(entry.actionType), "operation": .string(entry.operation),
            "target": .string(entry.target), "request_summary": .string(entry.requestSummary), "outcome": .string(entry.outcome),
            "detail": .string(entry.detail), "latency_ms": .double(entry.latencyMillis),
        ]
        json["lead_id"] = entry.leadID.map { .int(Int64($0)) } ?? .null
        json["http_status"] = entry.httpStatus.map { .int(Int64($0)) } ?? .null
        json["idempotency_key"] = item.idempotencyKey.map(JSONValue.string) ?? .null
        json["rule_id"] = item.ruleID.map(JSONValue.string) ?? .null
        json["event_id"] = item.eventID.map(JSONValue.string) ?? .null
        json["agent_id"] = item.agentID.map(JSONValue.string) ?? .null
        json["attempts"] = item.attempts.map { .int(Int64($0)) } ?? .null
        var document = PB.Document()
        document.id = String(item.id)
        document.json = JSONValue.object(json).text()
        document.createdAtMicros = entry.at
        document.updatedAtMicros = entry.at
        return document
    }

    static func document(_ item: TimelineItem) -> PB.Document {
        var json: [String: JSONValue] = [
            "kind": .string(item.kind), "id": .string(String(item.id)), "at": .string(timestamp(item.at)),
            "at_micros": .int(item.at),
        ]
        func put(_ key: String, _ value: String?) { if let value { json[key] = .string(value) } }
        if item.kind == "message" {
            put("direction", item.direction)
            put("text", item.text)
            put("ref", item.key)
            if let author = item.author, !author.isEmpty { put("author", author) }
        } else if item.kind == "enrollment" {
            put("enrollment_id", item.key)
            put("sequence_id", item.sequenceID)
            put("state", item.state)
            put("source", item.target)
            if let reason = item.detail, !reason.isEmpty { put("reason", reason) }
            json["finished_at"] = item.finishedAt.map { .string(timestamp($0)) } ?? .null
        } else {
            put("action_type", item.actionType)
            put("operation", item.operation)
            put("target", item.target)
            put("request_summary", item.requestSummary)
            put("outcome", item.outcome)
            put("detail", item.detail)
            put("idempotency_key", item.key)
            put("rule_id", item.ruleID)
            json["http_status"] = item.httpStatus.map { .int(Int64($0)) } ?? .null
            json["latency_ms"] = item.latencyMillis.map { .double($0) } ?? .null
        }
        var document = PB.Document()
        document.id = "\(item.kind):\(item.id)"
        document.json = JSONValue.object(json).text()
        document.createdAtMicros = item.at
        document.updatedAtMicros = item.at
        return document
    }

    /// RFC 3339 with milliseconds, as the REST API shows times.
    static func timestamp(_ micros: Int64) -> String {
        Date(unixMicros: micros).formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}

// MARK: - Usage

extension SequenceServer {
    /// The tenant's usage ledger summed per UTC day and kind (`ai_reply`, `ai_tokens`, `message_sent`),
    /// oldest day first. `filters`: `from_micros` (inclusive) and `to_micros` (exclusive), both optional.
    /// Errors: INVALID_ARGUMENT (unknown filter, a bound that is not a number, `from` after `to`).
    package func usageEntries(_ request: PB.DocumentQuery, context: RPCContext) async throws -> PB.DocumentPage {
        let tenantID = try context.requireTenant()
        var after: Int64 = 0
        if !request.cursor.isEmpty {
            guard let value = Int64(request.cursor), value >= 0 else { throw RPCError.invalid(field: "cursor", "must be a ledger entry id") }
            after = value
        }
        let limit = request.limit == 0 ? 100 : Int(request.limit)
        guard (1...500).contains(limit) else { throw RPCError.invalid(field: "limit", "must be 1…500") }
        let entries = try await store.usageEntries(tenantID: tenantID, after: after, limit: limit)
        var page = PB.DocumentPage()
        page.items = entries.map { entry in
            var document = PB.Document()
            document.id = String(entry.id)
            document.json = JSONValue.object(["id": .int(entry.id), "kind": .string(entry.kind), "units": .int(entry.units),
                                              "at_micros": .int(entry.at)]).text()
            return document
        }
        page.nextCursor = entries.count == limit ? String(entries.last?.id ?? after) : ""
        return page
    }

    package func analyticsCounters(_ request: PB.AnalyticsQuery, context: RPCContext) async throws -> PB.AnalyticsCounts {
        let tenantID = try context.requireTenant()
        try AnalyticsCounters.validate(request)
        let (counts, levels) = try await store.analyticsCountsAndLevels(tenantID: tenantID, fromHour: request.fromHour, toHour: request.toHour,
                                                                        agentID: request.agentId.isEmpty ? nil : request.agentId,
                                                                        buckets: request.bucketStarts)
        return PB.AnalyticsCounts(counts, levels: levels)
    }

    package func usage(_ request: PB.DocumentQuery, context: RPCContext) async throws -> PB.DocumentPage {
        let tenantID = try context.requireTenant()
        var from: Int64 = 0
        var to: Int64 = .max
        for (index, filter) in request.filters.enumerated() {
            guard let value = Int64(filter.value), value >= 0 else {
                throw RPCError.invalid(field: "filters[\(index)].value", "\(filter.key) must be a non-negative integer (microseconds)")
            }
            switch filter.key {
            case "from_micros": from = value
            case "to_micros": to = value
            default: throw RPCError.invalid(field: "filters[\(index)].key", "unknown filter \(filter.key) (known: from_micros, to_micros)")
            }
        }
        guard from <= to else { throw RPCError.invalid(field: "filters", "from_micros is after to_micros") }
        var page = PB.DocumentPage()
        page.items = try await store.usage(tenantID: tenantID, from: from, to: to).map { total in
            var document = PB.Document()
            document.id = "\(total.day):\(total.kind)"
            document.json = JSONValue.object([
                "day": .string(total.day), "kind": .string(total.kind),
                "units": .int(Int64(total.units)), "entries": .int(Int64(total.entries)),
            ]).text()
            return document
        }
        return page
    }
}
