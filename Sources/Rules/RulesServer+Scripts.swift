import Basics
import Domain
import RuleEngine
import Foundation
import Logging
import ServiceKit
import Wire

extension RulesServer {
    // MARK: - Listing and search

    /// An agent's scripts, filtered by `type`, `stage_id` and `active`, and searched in name and body
    /// with `text` (then ordered by relevance). Errors: INVALID_ARGUMENT (filters, cursor), NOT_FOUND.
    package func listScripts(_ request: PB.DocumentQuery, context: RPCContext) async throws -> PB.DocumentPage {
        let tenantID = try context.requireTenant()
        var filter = ScriptFilter(agentID: try Self.requireParent(request.parentId), text: request.text)
        var violations: [FieldViolation] = []
        for item in request.filters {
            let field = "filters.\(item.key)"
            switch item.key {
            case "type":
                if ScriptResource.types.contains(item.value) { filter.type = item.value }
                else { violations.append(FieldViolation(field: field, message: "must be one of: \(ScriptResource.types.joined(separator: ", "))")) }
            case "stage_id":
                if let stage = Int64(item.value), stage > 0 { filter.stageID = stage }
                else { violations.append(FieldViolation(field: field, message: "must be a Kommo stage id")) }
            case "active":
                switch item.value {
                case "true": filter.active = true
                case "false": filter.active = false
                default: violations.append(FieldViolation(field: field, message: "must be true or false"))
                }
            default:
                violations.append(FieldViolation(field: field, message: "is not a filter of this listing (type, stage_id, active)"))
            }
        }
        if request.limit < 0 { violations.append(FieldViolation(field: "limit", message: "must not be negative")) }
        // A search continues by offset, a plain listing by position: the cursors are not interchangeable.
        let kind = filter.text.isEmpty ? "script" : "script_search"
        var cursor: PageCursor?
        if !request.cursor.isEmpty {
            if let parsed = PageCursor(token: request.cursor), parsed.kind == kind { cursor = parsed }
            else { violations.append(FieldViolation(field: "cursor", message: "is not a cursor of this listing")) }
        }
        guard violations.isEmpty else { throw RPCError.invalid(violations) }
        let limit = request.limit == 0 ? Self.defaultLimit : min(Int(request.limit), Self.maximumLimit)
        let offset = filter.text.isEmpty ? 0 : Int(cursor?.position ?? 0)
        let records = try await mapped {
            try await store.scripts(tenantID: tenantID, filter: filter, after: filter.text.isEmpty ? cursor : nil, offset: offset, limit: limit + 1)
        }
        var page = PB.DocumentPage()
        page.items = try records.prefix(limit).map { try PB.Document($0) }
        if records.count > limit, let last = records.prefix(limit).last {
            page.nextCursor = try PageCursor(kind: kind, position: filter.text.isEmpty ? last.createdAt : Int64(offset + limit), id: last.id).token()
        }
        return page
    }

    // MARK: - Versions

    /// The saved versions of a script, newest first. Errors: NOT_FOUND.
    package func listScriptVersions(_ request: PB.DocumentRef, context: RPCContext) async throws -> PB.ScriptVersionList {
        let tenantID = try context.requireTenant()
        guard !request.id.isEmpty else { throw RPCError.invalid(field: "id", "is required") }
        let (script, versions) = try await mapped {
            try await store.scriptVersions(tenantID: tenantID, scriptID: request.id, agentID: Self.optional(request.parentId))
        }
        var answer = PB.ScriptVersionList()
        answer.scriptId = script.id
        answer.currentVersion = script.version
        answer.items = versions.map { stored in
            var version = PB.ScriptVersion()
            version.version = stored.version
            version.json = stored.doc
            version.createdAtMicros = stored.createdAt
            return version
        }
        return answer
    }

    /// Restores an earlier version's body as a new version, so history only grows and uses keep naming
    /// the version they used. Errors: INVALID_ARGUMENT (no such version), NOT_FOUND, FAILED_PRECONDITION.
    package func rollbackScript(_ request: PB.ScriptRollback, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        guard !request.scriptId.isEmpty else { throw RPCError.invalid(field: "script_id", "is required") }
        guard request.version > 0 else { throw RPCError.invalid(field: "version", "must be a positive version number") }
        let current = try await required(.script, tenantID: tenantID, id: request.scriptId, agentID: Self.optional(request.agentId))
        guard let doc = try await store.scriptVersion(tenantID: tenantID, scriptID: current.id, version: request.version) else {
            throw RPCError.invalid(field: "version", "script \(current.id) has no version \(request.version)")
        }
        // Validated again because the rules may have tightened since that version was saved.
        let (script, canonical) = try Self.valid(ScriptResource.self, try JSONValue.parse(doc))
        let record = try await mapped {
            try await store.update(.script, tenantID: tenantID, id: current.id, agentID: Self.optional(request.agentId),
                                   ifVersion: request.ifVersion, now: clock.now().unixMicros) { stored, _ in
                var next = stored
                next.doc = canonical
                next.enabled = script.active
                return next
            }
        }
        context.logger.info("script.rolled_back", metadata: [
            "tenant.id": "\(tenantID)", "script.id": "\(record.id)", "script.restored_version": "\(request.version)",
            "script.version": "\(record.version)",
        ])
        return try PB.Document(record, warnings: script.warnings())
    }

    // MARK: - Render

    /// Renders a script: the lead's stored facts (when `lead_id` is given), the agent's name, then the
    /// caller's values on top. A value still missing uses its default; without one the script either
    /// renders empty there or, with `block_on_missing`, is blocked with the reason. Errors: NOT_FOUND,
    /// FAILED_PRECONDITION (a stored body that no longer parses).
    ///
    /// With `script_id` empty and `template` set, renders that text instead (an action being edited),
    /// for the agent `agent_id`; a missing value without a default renders empty and is listed in
    /// `missing`. Errors then: INVALID_ARGUMENT (`template` does not parse), NOT_FOUND (no such agent).
    package func renderScript(_ request: PB.RenderRequest, context: RPCContext) async throws -> PB.RenderResponse {
        let tenantID = try context.requireTenant()
        guard request.leadId >= 0 else { throw RPCError.invalid(field: "lead_id", "must be a Kommo lead id") }
        if request.scriptId.isEmpty, !request.template.isEmpty {
            return try await renderTemplate(request, tenantID: tenantID, logger: context.logger)
        }
        guard !request.scriptId.isEmpty else { throw RPCError.invalid(field: "script_id", "is required") }
        let record = try await required(.script, tenantID: tenantID, id: request.scriptId, agentID: Self.optional(request.agentId))
        guard let script = stored(ScriptResource.self, record, logger: context.logger) else {
            throw RPCError(.failedPrecondition, "the stored script does not decode")
        }
        let template: Template
        do {
            template = try script.template()
        } catch {
            throw RPCError(.failedPrecondition, "the stored script does not parse: \(error.message)")
        }
        var values = TemplateValues()
        if let agent = try await store.document(.agent, tenantID: tenantID, id: record.agentID),
           let resource = stored(AgentResource.self, agent, logger: context.logger) {
            values[TemplateVocabulary.agentName] = resource.name
        }
        if request.leadId > 0 {
            if let facts = try await store.facts(tenantID: tenantID, leadID: request.leadId) {
                values = values.merging(Self.values(of: facts, template: template))
            } else {
                values[TemplateVocabulary.leadID] = String(request.leadId)
            }
        }
        values = values.merging(TemplateValues(Dictionary(request.values.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })))
        var answer = PB.RenderResponse()
        answer.version = record.version
        let result = template.render(values: values, policy: script.blockOnMissing ? .block : .useDefaultOrEmpty)
        switch result {
        case .rendered(let text):
            answer.text = text
        case .blocked(let missing):
            answer.blocked = true
            answer.missing = missing
            answer.reason = result.reason ?? ""
        }
        return answer
    }

    /// Template values known from a lead's facts: ids, name, price, stage, the contact's names, custom
    /// fields by id and name, and custom variables of `template` stored as lead fields of that name.
    /// An inline template for the agent: the same values as a script gets (agent name, the lead's facts,
    /// the caller's values); the names still missing are reported, and render empty or as their default.
    private func renderTemplate(_ request: PB.RenderRequest, tenantID: String, logger: Logger) async throws -> PB.RenderResponse {
        let template: Template
        do {
            template = try Template(parsing: request.template)
        } catch {
            throw RPCError.invalid(field: "template", error.message)
        }
        guard let agent = try await store.document(.agent, tenantID: tenantID, id: request.agentId) else {
            throw RPCError(.notFound, "no agent \(request.agentId)")
        }
        var values = TemplateValues()
        if let resource = stored(AgentResource.self, agent, logger: logger) { values[TemplateVocabulary.agentName] = resource.name }
        if request.leadId > 0 {
            if let facts = try await store.facts(tenantID: tenantID, leadID: request.leadId) {
                values = values.merging(Self.values(of: facts, template: template))
            } else {
                values[TemplateVocabulary.leadID] = String(request.leadId)
            }
        }
        values = values.merging(TemplateValues(Dictionary(request.values.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })))
        var answer = PB.RenderResponse()
        if case .rendered(let text) = template.render(values: values, policy: .useDefaultOrEmpty) { answer.text = text }
        if case .blocked(let missing) = template.render(values: values, policy: .block) { answer.missing = missing }
        return answer
    }

    static func values(of facts: LeadFacts, template: Template? = nil) -> TemplateValues {
        var values = TemplateValues()
        values[TemplateVocabulary.leadID] = String(facts.leadID)
        if let stage = facts.stageID { values[TemplateVocabulary.leadStage] = String(stage) }
        if let pipeline = facts.pipelineID { values[TemplateVocabulary.leadPipeline] = String(pipeline) }
        if let responsible = facts.responsibleUserID { values[TemplateVocabulary.leadResponsible] = String(responsible) }
        let plain = [
            ("name", TemplateVocabulary.leadName), ("price", TemplateVocabulary.leadPrice),
            ("contact.name", TemplateVocabulary.contactName), ("contact.first_name", TemplateVocabulary.contactFirstName),
            ("contact.last_name", TemplateVocabulary.contactLastName),
        ]
        for (key, variable) in plain {
            if let value = facts.fieldValues[key] { values[variable] = value }
        }
        for (key, value) in facts.fieldValues where key.hasPrefix("cf.") {
            let field = String(key.dropFirst(3))
            if field.allSatisfy(\.isNumber) {
                values.setCustomField(id: field, name: "", value: value)
            } else {
                values.setCustomField(id: "", name: field, value: value)
            }
        }
        for variable in template?.variables ?? [] where !variable.isBuiltIn {
            let name = TemplateVocabulary.normalize(variable.path)
            if let value = facts.fieldValues[name] ?? facts.fieldValues["cf." + name] { values[name] = value }
        }
        return values
    }

    // MARK: - Effectiveness

    /// Uses of a script in a time range (default: the last 30 days) and what the leads did afterwards:
    /// reply rate (an inbound message within 24 h), advance rate (another stage of the same pipeline,
    /// not lost, within 7 days), win rate (won within 30 days) and the median time to reply; in total, per
    /// version and per day. Errors: INVALID_ARGUMENT, NOT_FOUND.
    package func scriptStats(_ request: PB.StatsQuery, context: RPCContext) async throws -> PB.StatsReport {
        let tenantID = try context.requireTenant()
        let (from, to) = try range(request)
        guard !request.id.isEmpty else { throw RPCError.invalid(field: "id", "is required") }
        let script = try await required(.script, tenantID: tenantID, id: request.id, agentID: Self.optional(request.agentId))
        let uses = try await store.scriptOutcomes(tenantID: tenantID, scriptIDs: [script.id], from: from, to: to)[script.id] ?? []
        let versions: [JSONValue] = Array(Set(uses.map(\.version))).sorted().map { version in
            var summary = Self.effectiveness(uses.filter { $0.version == version })
            summary["version"] = .int(version)
            return .object(summary)
        }
        let days: [JSONValue] = Array(Set(uses.map { RulesStore.day(micros: $0.usedAt) })).sorted().map { day in
            let mine = uses.filter { RulesStore.day(micros: $0.usedAt) == day }
            var byVersion: [String: JSONValue] = [:]
            for version in Set(mine.map(\.version)) { byVersion[String(version)] = .int(Int64(mine.filter { $0.version == version }.count)) }
            var summary = Self.effectiveness(mine)
            summary["day"] = .string(day)
            summary["by_version"] = .object(byVersion)
            return .object(summary)
        }
        var report = Self.effectiveness(uses)
        report["script_id"] = .string(script.id)
        report["agent_id"] = .string(script.agentID)
        report["name"] = .string(stored(ScriptResource.self, script, logger: context.logger)?.name ?? "")
        report["version"] = .int(script.version)
        report["from"] = .string(ResourceJSON.timestamp(micros: from))
        report["to"] = .string(ResourceJSON.timestamp(micros: to))
        report["versions"] = .array(versions)
        report["days"] = .array(days)
        return Self.report(.object(report))
    }

    /// The scripts of an agent (`agent_id`) by reply rate, then uses, in a time range. Errors:
    /// INVALID_ARGUMENT, NOT_FOUND.
    package func scriptRanking(_ request: PB.StatsQuery, context: RPCContext) async throws -> PB.StatsReport {
        let tenantID = try context.requireTenant()
        let (from, to) = try range(request)
        guard !request.agentId.isEmpty else { throw RPCError.invalid(field: "agent_id", "is required") }
        _ = try await required(.agent, tenantID: tenantID, id: request.agentId, agentID: nil)
        let scripts = try await store.scripts(tenantID: tenantID, agentID: request.agentId)
        let outcomes = try await store.scriptOutcomes(tenantID: tenantID, scriptIDs: scripts.map(\.id), from: from, to: to)
        let ranked = scripts.map { record -> (rate: Double, uses: Int, json: JSONValue) in
            let uses = outcomes[record.id] ?? []
            var summary = Self.effectiveness(uses)
            let resource = stored(ScriptResource.self, record, logger: context.logger)
            summary["script_id"] = .string(record.id)
            summary["name"] = .string(resource?.name ?? "")
            summary["type"] = .string(resource?.type ?? "")
            summary["active"] = .bool(record.enabled)
            summary["version"] = .int(record.version)
            summary["agent_id"] = .string(record.agentID)
            summary["versions"] = .array(Array(Set(uses.map(\.version))).sorted().map { version in
                var figures = Self.effectiveness(uses.filter { $0.version == version })
                figures["version"] = .int(version)
                return .object(figures)
            })
            let replies = uses.filter { $0.replyAfter != nil }.count
            return (uses.isEmpty ? -1 : Double(replies) / Double(uses.count), uses.count, .object(summary))
        }.sorted { ($0.rate, $0.uses) > ($1.rate, $1.uses) }
        return Self.report(.object([
            "agent_id": .string(request.agentId),
            "from": .string(ResourceJSON.timestamp(micros: from)),
            "to": .string(ResourceJSON.timestamp(micros: to)),
            "scripts": .array(ranked.map(\.json)),
        ]))
    }

    /// `uses`, counts and rates (0…1, rounded to 4 places; 0 without uses) and the median seconds to reply
    /// (`null` without replies) of some uses.
    static func effectiveness(_ uses: [ScriptUseOutcome]) -> [String: JSONValue] {
        let replies = uses.compactMap(\.replyAfter).sorted()
        let advances = uses.filter(\.advanced).count
        let wins = uses.filter(\.won).count
        func rate(_ count: Int) -> JSONValue {
            uses.isEmpty ? .double(0) : .double((Double(count) / Double(uses.count) * 10_000).rounded() / 10_000)
        }
        var median = JSONValue.null
        if !replies.isEmpty {
            let middle = replies.count / 2
            let micros = replies.count % 2 == 1 ? Double(replies[middle]) : Double(replies[middle - 1] + replies[middle]) / 2
            median = .double((micros / 1_000_000).rounded())
        }
        return [
            "uses": .int(Int64(uses.count)),
            "replies": .int(Int64(replies.count)), "reply_rate": rate(replies.count),
            "advances": .int(Int64(advances)), "advance_rate": rate(advances),
            "wins": .int(Int64(wins)), "win_rate": rate(wins),
            "median_reply_seconds": median,
        ]
    }

    static func report(_ json: JSONValue) -> PB.StatsReport {
        var answer = PB.StatsReport()
        answer.json = String(decoding: json.data(), as: UTF8.self)
        return answer
    }
}
