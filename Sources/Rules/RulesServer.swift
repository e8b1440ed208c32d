import Basics
import Domain
import RuleEngine
import Foundation
import Logging
import ServiceKit
import Wire

/// The `Rules` RPC service: agents, rules and sales scripts of each tenant, and the decisions about events.
///
/// Every call is tenant-scoped (`metadata.tenant_id`); another tenant's ids answer NOT_FOUND. Errors:
/// INVALID_ARGUMENT with field violations for bad bodies, NOT_FOUND, FAILED_PRECONDITION for version
/// conflicts and deletes with dependants.
package struct RulesServer: RulesHandler {
    let store: RulesStore
    let clock: any WallClock
    let cache: RuleSetCache
    let counters: EvaluationCounters
    let engine: RuleEngine
    let quotas: TenantQuotas
    let metrics: RulesMetrics

    package init(store: RulesStore, clock: any WallClock, cache: RuleSetCache = RuleSetCache(),
                 counters: EvaluationCounters = EvaluationCounters(), engine: RuleEngine = RuleEngine(),
                 quotas: TenantQuotas = TenantQuotas(), metrics: RulesMetrics = RulesMetrics()) {
        self.quotas = quotas
        self.metrics = metrics
        self.store = store
        self.clock = clock
        self.cache = cache
        self.counters = counters
        self.engine = engine
    }

    /// Default page size of listings.
    static let defaultLimit = 50
    /// Largest page size of listings.
    static let maximumLimit = 200

    /// Runs `body`, turning store errors into RPC errors.
    func mapped<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RulesStoreError {
            throw error.rpc
        }
    }

    // MARK: - Agents

    package func createAgent(_ request: PB.DocumentWrite, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        let (resource, doc) = try Self.valid(AgentResource.self, try JSONValue.parse(request.json))
        let now = clock.now().unixMicros
        let record = DocumentRecord(kind: .agent, id: RandomID.make("agt_"), tenantID: tenantID, doc: doc,
                                    createdAt: now, updatedAt: now, enabled: resource.status == AgentResource.active)
        try await mapped { try await store.insert(record, quota: quotas.agents) }
        cache.invalidate(tenantID)
        context.logger.info("agent.created", metadata: ["tenant.id": "\(tenantID)", "agent.id": "\(record.id)"])
        return try PB.Document(record)
    }

    package func getAgent(_ request: PB.DocumentRef, context: RPCContext) async throws -> PB.Document {
        try PB.Document(try await required(.agent, tenantID: try context.requireTenant(), id: request.id, agentID: nil))
    }

    package func listAgents(_ request: PB.DocumentQuery, context: RPCContext) async throws -> PB.DocumentPage {
        try await list(.agent, request, tenantID: try context.requireTenant(), agentID: nil, filterKey: "status")
    }

    package func updateAgent(_ request: PB.DocumentWrite, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        let record = try await updated(.agent, request, tenantID: tenantID, agentID: nil) { current, merged, _ in
            let (resource, doc) = try Self.valid(AgentResource.self, merged)
            var next = current
            next.doc = doc
            next.enabled = resource.status == AgentResource.active
            return next
        }
        cache.invalidate(tenantID)
        return try PB.Document(record)
    }

    package func deleteAgent(_ request: PB.DocumentRef, context: RPCContext) async throws -> PB.Empty {
        let tenantID = try context.requireTenant()
        try await mapped { try await store.delete(.agent, tenantID: tenantID, id: request.id, agentID: nil, cascade: request.cascade) }
        cache.invalidate(tenantID)
        context.logger.info("agent.deleted", metadata: ["tenant.id": "\(tenantID)", "agent.id": "\(request.id)", "cascade": "\(request.cascade)"])
        return PB.Empty()
    }


    // MARK: - Rules

    package func createRule(_ request: PB.DocumentWrite, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        let agentID = try Self.requireParent(request.parentId)
        let input = try JSONValue.parse(request.json)
        let scripts = try await store.scriptIDs(tenantID: tenantID)
        let id = RandomID.make("rul_")
        let (rule, doc) = try Self.validRule(input, id: id, agentID: agentID, scriptIDs: scripts)
        let now = clock.now().unixMicros
        let record = DocumentRecord(kind: .rule, id: id, tenantID: tenantID, agentID: agentID, doc: doc,
                                    createdAt: now, updatedAt: now, enabled: rule.enabled, priority: rule.priority)
        try await mapped { try await store.insert(record, quota: quotas.rules) }
        cache.invalidate(tenantID)
        context.logger.info("rule.created", metadata: ["tenant.id": "\(tenantID)", "rule.id": "\(id)", "agent.id": "\(agentID)"])
        return try PB.Document(record)
    }

    package func getRule(_ request: PB.DocumentRef, context: RPCContext) async throws -> PB.Document {
        try PB.Document(try await required(.rule, tenantID: try context.requireTenant(), id: request.id, agentID: Self.optional(request.parentId)))
    }

    package func listRules(_ request: PB.DocumentQuery, context: RPCContext) async throws -> PB.DocumentPage {
        try await list(.rule, request, tenantID: try context.requireTenant(), agentID: try Self.requireParent(request.parentId), filterKey: "enabled")
    }

    package func updateRule(_ request: PB.DocumentWrite, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        let record = try await updated(.rule, request, tenantID: tenantID, agentID: Self.optional(request.parentId)) { current, merged, scripts in
            let (rule, doc) = try Self.validRule(merged, id: current.id, agentID: current.agentID, scriptIDs: scripts)
            var next = current
            next.doc = doc
            next.enabled = rule.enabled
            next.priority = rule.priority
            return next
        }
        cache.invalidate(tenantID)
        return try PB.Document(record)
    }

    package func deleteRule(_ request: PB.DocumentRef, context: RPCContext) async throws -> PB.Empty {
        let tenantID = try context.requireTenant()
        try await mapped {
            try await store.delete(.rule, tenantID: tenantID, id: request.id, agentID: Self.optional(request.parentId), cascade: false)
        }
        cache.invalidate(tenantID)
        return PB.Empty()
    }

    /// What stands in for a required member of a rule that did not decode, while the rest is checked.
    static let ruleStandIns: [String: JSONValue] = [
        "name": .string("-"), "trigger": .object(["type": .string("manual")]),
        "actions": .array([.object(["type": .string("add_note"), "text": .string("-")])]),
    ]

    /// Members of a rule body the server sets; accepted and ignored.
    static let ruleReadOnlyKeys: Set<String> = ["id", "agent_id", "version", "created_at", "updated_at"]

    /// Decodes a rule body through the engine's decoder and validators; the server's id and agent win over
    /// the body's. Returns the rule and its canonical JSON.
    static func validRule(_ input: JSONValue, id: String, agentID: String, scriptIDs: Set<String>) throws(RPCError) -> (Rule, String) {
        guard input.object != nil else { throw RPCError.invalid(field: "json", "the body must be a JSON object") }
        let context = ValidationContext(scriptExists: { scriptIDs.contains($0) })
        // Every violation at once: a member that does not decode does not hide the others' problems.
        var rule = try ResourceJSON.decodeReportingAll(Rule.self, from: input, placeholders: ruleStandIns) { $0.validate(in: context).map(\.violation) }
        rule.id = id
        rule.agentID = agentID
        rule.createdAt = nil
        rule.updatedAt = nil
        let canonical = try canonicalJSON(rule)
        let violations = UnknownKeys.find(input: input, canonical: canonical, readOnly: ruleReadOnlyKeys)
            + rule.validate(in: context).map(\.violation)
        guard violations.isEmpty else { throw RPCError.invalid(violations) }
        return (rule, String(decoding: canonical.data(), as: UTF8.self))
    }

    // MARK: - Scripts

    package func createScript(_ request: PB.DocumentWrite, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        let agentID = try Self.requireParent(request.parentId)
        let (script, doc) = try Self.valid(ScriptResource.self, try JSONValue.parse(request.json))
        let now = clock.now().unixMicros
        let record = DocumentRecord(kind: .script, id: RandomID.make("scr_"), tenantID: tenantID, agentID: agentID, doc: doc,
                                    createdAt: now, updatedAt: now, enabled: script.active)
        try await mapped { try await store.insert(record, quota: quotas.scripts) }
        return try PB.Document(record, warnings: script.warnings())
    }

    package func getScript(_ request: PB.DocumentRef, context: RPCContext) async throws -> PB.Document {
        let record = try await required(.script, tenantID: try context.requireTenant(), id: request.id, agentID: Self.optional(request.parentId))
        return try PB.Document(record, warnings: stored(ScriptResource.self, record, logger: context.logger)?.warnings() ?? [])
    }

    package func updateScript(_ request: PB.DocumentWrite, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        let record = try await updated(.script, request, tenantID: tenantID, agentID: Self.optional(request.parentId)) { current, merged, _ in
            let (script, doc) = try Self.valid(ScriptResource.self, merged)
            var next = current
            next.doc = doc
            next.enabled = script.active
            return next
        }
        return try PB.Document(record, warnings: stored(ScriptResource.self, record, logger: context.logger)?.warnings() ?? [])
    }

    package func deleteScript(_ request: PB.DocumentRef, context: RPCContext) async throws -> PB.Empty {
        let tenantID = try context.requireTenant()
        try await mapped {
            try await store.delete(.script, tenantID: tenantID, id: request.id, agentID: Self.optional(request.parentId), cascade: false)
        }
        return PB.Empty()
    }


    /// The resource a stored record holds, or `nil` (logged and counted) when it no longer decodes: it
    /// was valid when written, so the call goes on without it rather than failing for the whole tenant.
    func stored<Resource: Decodable>(_ type: Resource.Type, _ record: DocumentRecord, logger: Logger) -> Resource? {
        do {
            return try JSONDecoder().decode(type, from: Data(record.doc.utf8))
        } catch {
            metrics.unreadable(record, error: error, logger: logger)
            return nil
        }
    }

    // MARK: - Shared

    /// Applies the request's merge patch to a stored resource under its version check, in one transaction;
    /// `revise` validates the merged body (knowing the tenant's script ids) and returns the record to store.
    func updated(
        _ kind: DocumentKind, _ request: PB.DocumentWrite, tenantID: String, agentID: String?,
        revise: @Sendable (_ current: DocumentRecord, _ merged: JSONValue, _ scriptIDs: Set<String>) throws -> DocumentRecord
    ) async throws -> DocumentRecord {
        let patch = try Self.patch(request.json)
        return try await mapped {
            try await store.update(kind, tenantID: tenantID, id: request.id, agentID: agentID, ifVersion: request.ifVersion,
                                   now: clock.now().unixMicros) { current, scriptIDs in
                try revise(current, try JSONValue.parse(current.doc).merging(patch: patch), scriptIDs)
            }
        }
    }

    /// Decodes and validates a resource body: a JSON object, decoded with field paths, with no member the
    /// resource does not know (besides its read-only ones) and none of its own problems. Returns the
    /// resource and its canonical JSON.
    static func valid<Resource: DocumentResource>(_ type: Resource.Type, _ input: JSONValue) throws(RPCError) -> (Resource, String) {
        guard input.object != nil else { throw RPCError.invalid(field: "json", "the body must be a JSON object") }
        // Every violation at once: a member that does not decode does not hide the others' problems.
        let resource = try ResourceJSON.decodeReportingAll(type, from: input, placeholders: ["name": .string("-")]) { $0.problems() }
        let canonical = try canonicalJSON(resource)
        let violations = UnknownKeys.find(input: input, canonical: canonical, readOnly: Resource.readOnlyKeys) + resource.problems()
        guard violations.isEmpty else { throw RPCError.invalid(violations) }
        return (resource, String(decoding: canonical.data(), as: UTF8.self))
    }

    /// A resource of the tenant or NOT_FOUND.
    func required(_ kind: DocumentKind, tenantID: String, id: String, agentID: String?) async throws -> DocumentRecord {
        guard !id.isEmpty else { throw RPCError.invalid(field: "id", "is required") }
        guard let record = try await store.document(kind, tenantID: tenantID, id: id, agentID: agentID) else {
            throw RulesStoreError.notFound(kind, id).rpc
        }
        return record
    }

    /// One page of a listing, with an opaque cursor to the next.
    func list(_ kind: DocumentKind, _ request: PB.DocumentQuery, tenantID: String, agentID: String?, filterKey: String) async throws -> PB.DocumentPage {
        guard request.limit >= 0 else { throw RPCError.invalid(field: "limit", "must not be negative") }
        let limit = request.limit == 0 ? Self.defaultLimit : min(Int(request.limit), Self.maximumLimit)
        var cursor: PageCursor?
        if !request.cursor.isEmpty {
            guard let parsed = PageCursor(token: request.cursor), parsed.kind == kind.rawValue else {
                throw RPCError.invalid(field: "cursor", "is not a cursor of this listing")
            }
            cursor = parsed
        }
        var enabled: Bool?
        for filter in request.filters {
            guard filter.key == filterKey else { throw RPCError.invalid(field: "filters.\(filter.key)", "is not a filter of this listing") }
            switch filter.value {
            case "true", "active": enabled = true
            case "false", "paused": enabled = false
            default: throw RPCError.invalid(field: "filters.\(filter.key)", "must be \(kind == .agent ? "active or paused" : "true or false")")
            }
        }
        let records = try await mapped {
            try await store.page(kind, tenantID: tenantID, agentID: agentID, after: cursor, limit: limit + 1, enabled: enabled, nameContains: request.text)
        }
        var page = PB.DocumentPage()
        page.items = try records.prefix(limit).map { try PB.Document($0) }
        if records.count > limit, let last = records.prefix(limit).last {
            page.nextCursor = try PageCursor(kind: kind.rawValue, position: kind == .rule ? Int64(last.priority) : last.createdAt, id: last.id).token()
        }
        return page
    }

    /// A merge patch body: a JSON object.
    static func patch(_ json: String) throws(RPCError) -> JSONValue {
        .object(try JSONValue.parseObject(json, what: "a merge patch"))
    }

    /// The agent id a rule or script request must name.
    static func requireParent(_ parentID: String) throws(RPCError) -> String {
        guard !parentID.isEmpty else { throw RPCError.invalid(field: "parent_id", "is required (the agent id)") }
        return parentID
    }

    /// An optional parent id: empty means any agent of the tenant.
    static func optional(_ parentID: String) -> String? { parentID.isEmpty ? nil : parentID }

    /// The canonical JSON of a decoded resource.
    static func canonicalJSON<T: Encodable>(_ value: T) throws(RPCError) -> JSONValue {
        do {
            return try JSONValue(encoding: value)
        } catch {
            throw RPCError(.internal, "the resource could not be encoded")
        }
    }
}

/// A resource kept as a JSON document whose body validates itself: agents and sales scripts. (Rules are
/// validated by the rule engine, against the tenant's scripts.)
protocol DocumentResource: Codable {
    /// Members the server sets; accepted in a body and ignored.
    static var readOnlyKeys: Set<String> { get }
    /// Everything wrong with the resource, each with its field path.
    func problems() -> [FieldViolation]
}

extension AgentResource: DocumentResource {}
extension ScriptResource: DocumentResource {}
