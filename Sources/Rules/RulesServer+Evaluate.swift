import Basics
import Domain
import RuleEngine
import Foundation
import Logging
import ServiceKit
import Wire

extension RulesServer {
    // MARK: - Evaluate

    /// Decides what an event causes. Not a dry run: idempotent per event id (and replay scope) — a repeat
    /// returns the stored decision and changes nothing. Errors: INVALID_ARGUMENT (no event id or tenant,
    /// `only_rule_ids` outside a dry run), NOT_FOUND (an `only_rule_ids` id that is not the tenant's).
    package func evaluate(_ request: PB.EvaluateRequest, context: RPCContext) async throws -> PB.Decision {
        let tenantID = try context.requireTenant()
        guard let wire = request.event, !wire.id.isEmpty else { throw RPCError.invalid(field: "event.id", "is required") }
        guard wire.tenantId.isEmpty || wire.tenantId == tenantID else {
            throw RPCError.invalid(field: "event.tenant_id", "does not match the calling tenant")
        }
        guard wire.type != .unspecified else { throw RPCError.invalid(field: "event.type", "is required") }
        if !request.onlyRuleIds.isEmpty, !request.dryRun {
            throw RPCError.invalid(field: "only_rule_ids", "is only allowed in a dry run")
        }
        let event = {
            var event = KommoEvent(wire)
            event.tenantID = tenantID
            return event
        }()
        let now = clock.now()
        let rules = request.onlyRuleIds.isEmpty
            ? try await tenantRules(tenantID, logger: context.logger)
            : try await selectedRules(tenantID, ids: request.onlyRuleIds, logger: context.logger)
        let scope = wire.replayScope
        let engine = engine
        let decide: @Sendable (LeadInputs) -> DecisionRecord = { inputs in
            var decision = engine.evaluate(
                event: event, rules: rules.ruleSet, agents: rules.gates, facts: inputs.facts, states: inputs.states,
                ownWrites: inputs.ownWrites, now: now, dryRun: request.dryRun)
            if !scope.isEmpty {
                // A live replay runs the actions again on purpose: their keys get the replay's scope.
                for index in decision.actions.indices {
                    let action = decision.actions[index]
                    decision.actions[index].idempotencyKey = PlannedAction.idempotencyKey(
                        eventID: "\(action.eventID)@\(scope)", ruleID: action.ruleID, actionIndex: action.actionIndex)
                }
            }
            var names: [String: String] = [:]
            for explanation in decision.explanations { names[explanation.ruleID] = rules.ruleNames[explanation.ruleID] }
            for step in decision.cascade?.chain.steps ?? [] { names[step.ruleID] = rules.ruleNames[step.ruleID] }
            return DecisionRecord(decision: decision, ruleNames: names, replayScope: scope)
        }
        let since = (now.addingTimeInterval(-engine.options.loopGuardWindow)).unixMicros
        let record: DecisionRecord
        if request.dryRun {
            let inputs = try await store.leadInputs(tenantID: tenantID, leadID: event.leadID, ownWritesSince: since)
            record = decide(inputs)
            counters.count(dryRun: true, repeated: false, fired: 0)
        } else {
            let key = scope.isEmpty ? wire.id : "\(wire.id)@\(scope)"
            let outcome = try await store.evaluate(tenantID: tenantID, eventKey: key, leadID: event.leadID, ownWritesSince: since, decide: decide)
            record = outcome.record
            counters.count(dryRun: false, repeated: outcome.repeated, fired: record.decision.firedRuleIDs.count)
            context.logger.debug("rules.evaluated", metadata: [
                "tenant.id": "\(tenantID)", "event.id": "\(wire.id)", "repeated": "\(outcome.repeated)",
                "actions": "\(record.decision.actions.count)", "timers": "\(record.decision.timers.count)",
            ])
        }
        return try PB.Decision(record)
    }

    /// The tenant's prepared rules, from the cache or loaded and cached.
    func tenantRules(_ tenantID: String, logger: Logger) async throws -> TenantRules {
        let (cached, generation) = cache.lookup(tenantID)
        if let cached { return cached }
        let (agents, rules) = try await store.evaluationResources(tenantID: tenantID)
        let prepared = prepare(agents: agents, rules: rules, logger: logger)
        cache.store(prepared, for: tenantID, generation: generation)
        return prepared
    }

    /// The named rules of the tenant (disabled ones too, so a dry run explains them), for a dry run.
    func selectedRules(_ tenantID: String, ids: [String], logger: Logger) async throws -> TenantRules {
        var records: [DocumentRecord] = []
        for id in Set(ids).sorted() {
            records.append(try await required(.rule, tenantID: tenantID, id: id, agentID: nil))
        }
        let (agents, _) = try await store.evaluationResources(tenantID: tenantID)
        return prepare(agents: agents, rules: records, logger: logger)
    }

    /// Decodes stored agents and rules into what the engine reads. A stored document that no longer
    /// decodes (it was valid when written) is left out, logged and counted, rather than failing every
    /// event of the tenant.
    func prepare(agents: [DocumentRecord], rules: [DocumentRecord], logger: Logger) -> TenantRules {
        let gates = agents.compactMap { record in stored(AgentResource.self, record, logger: logger)?.gate(agentID: record.id) }
        let decoded = rules.compactMap { record in stored(Rule.self, record, logger: logger) }
        return TenantRules(ruleSet: RuleSet(decoded), gates: gates,
                           ruleNames: Dictionary(decoded.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first }))
    }

    // MARK: - Agent context

    /// What the executor needs to write as an agent. Errors: NOT_FOUND.
    package func getAgentContext(_ request: PB.AgentContextRequest, context: RPCContext) async throws -> PB.AgentContext {
        let tenantID = try context.requireTenant()
        let agentRecord = try await required(.agent, tenantID: tenantID, id: request.agentId, agentID: nil)
        let agent = try JSONDecoder().decode(AgentResource.self, from: Data(agentRecord.doc.utf8))
        let facts = request.leadId > 0 ? try await store.facts(tenantID: tenantID, leadID: request.leadId) : nil
        let stage = request.statusId != 0 ? request.statusId : facts?.stageID
        var answer = PB.AgentContext()
        answer.agentId = agentRecord.id
        answer.agentName = agent.name
        answer.persona = agent.persona
        answer.language = agent.language
        answer.status = PB.AgentStatus(agent.status)
        answer.agentJson = try PB.Document(agentRecord).json
        answer.channels = agent.channels
        answer.pauseOnHumanReply = agent.pauseOnHumanReply.enabled
        answer.resumeAfterSeconds = Int64(agent.pauseOnHumanReply.resumeAfterSeconds)
        answer.resumeStageIds = agent.pauseOnHumanReply.resumeStageIDs
        answer.quietSeconds = Int32(agent.replies?.quietSeconds ?? 0)
        answer.maxRepliesPerLeadPerDay = Int32(agent.replies?.maxPerLeadPerDay ?? 0)
        answer.aiTools = agent.aiActions?.agentTools.compactMap { PB.AgentTool(name: $0.rawValue) } ?? []
        answer.aiFieldIds = agent.aiActions?.fieldIDs ?? []
        answer.aiStageIds = agent.aiActions?.stageIDs ?? []
        answer.stopPhrases = agent.replies?.stopPhrases ?? []
        answer.historyMessages = Int32(agent.replies?.historyMessages ?? 0)
        answer.maxReplyTokens = Int32(agent.replies?.maxTokens ?? 0)
        answer.scripts = try await store.scripts(tenantID: tenantID, agentID: agentRecord.id).compactMap { record in
            guard let script = stored(ScriptResource.self, record, logger: context.logger), script.active, script.applies(pipelineID: facts?.pipelineID, stageID: stage) else { return nil }
            return PB.ScriptRef(record, script)
        }
        answer.pipelineId = facts?.pipelineID ?? 0
        answer.statusId = stage ?? 0
        if let facts {
            answer.inboundCount = Int32(clamping: facts.inboundCount)
            answer.lastInboundAtMicros = facts.lastInboundAt?.unixMicros ?? 0
            answer.lastOutboundAtMicros = facts.lastOutboundAt?.unixMicros ?? 0
            answer.lastInboundOrigin = facts.lastInboundOrigin ?? ""
            answer.stageEnteredAtMicros = facts.stageEnteredAt?.unixMicros ?? 0
            answer.leadFields = facts.fieldValues.sorted { $0.key < $1.key }.map { PB.KeyValue(key: $0.key, value: $0.value) }
        }
        return answer
    }

    // MARK: - Record

    /// Stores script uses and own writes (the loop guard's memory; each write remembers the chain its echo
    /// continues, from the decision of `event_id`). Idempotent: a repeat changes nothing.
    /// A `field` write's value is `<field reference>=<value>` (`cf.Budget=5000`), because the wire has no
    /// separate member for the field. Errors: INVALID_ARGUMENT, NOT_FOUND (a script or rule that is not
    /// the tenant's).
    package func record(_ request: PB.RecordRequest, context: RPCContext) async throws -> PB.Empty {
        let tenantID = try context.requireTenant()
        let now = clock.now().unixMicros
        var violations: [FieldViolation] = []
        var uses: [ScriptUseRecord] = []
        for (index, use) in request.scriptUses.enumerated() {
            if use.scriptId.isEmpty { violations.append(FieldViolation(field: "script_uses[\(index)].script_id", message: "is required")) }
            if use.actionKey.isEmpty { violations.append(FieldViolation(field: "script_uses[\(index)].action_key", message: "is required")) }
            uses.append(ScriptUseRecord(scriptID: use.scriptId, version: use.version, leadID: use.leadId, actionKey: use.actionKey,
                                        usedAt: use.usedAtMicros == 0 ? now : use.usedAtMicros, agentID: use.agentId))
        }
        var writes: [OwnWriteRecord] = []
        for (index, write) in request.ownWrites.enumerated() {
            let path = "own_writes[\(index)]"
            if write.leadId <= 0 { violations.append(FieldViolation(field: "\(path).lead_id", message: "is required")) }
            switch write.kind {
            case .stageChange, .note, .field, .message: break
            case .unspecified, .unrecognized:
                violations.append(FieldViolation(field: "\(path).kind", message: "must be one of: stage_change, note, field, message"))
            }
            var field = ""
            var value = write.value
            if write.kind == .field {
                guard let equals = write.value.firstIndex(of: "="), equals != write.value.startIndex else {
                    violations.append(FieldViolation(field: "\(path).value", message: "must be <field>=<value> for a field write"))
                    continue
                }
                field = String(write.value[..<equals])
                value = String(write.value[write.value.index(after: equals)...])
            }
            writes.append(OwnWriteRecord(leadID: write.leadId, kind: write.kind.name, field: field, value: value, ruleID: write.ruleId,
                                         at: write.atMicros == 0 ? now : write.atMicros, eventID: write.eventId))
        }
        guard violations.isEmpty else { throw RPCError.invalid(violations) }
        try await mapped { try await store.record(tenantID: tenantID, uses: uses, writes: writes) }
        return PB.Empty()
    }

    // MARK: - Cascades

    /// Cycles of rules the cascade bound stopped, most recent first; with `agent_id`, those with a rule of
    /// that agent. Errors: INVALID_ARGUMENT (limit), NOT_FOUND (agent).
    package func listCascadeStops(_ request: PB.CascadeQuery, context: RPCContext) async throws -> PB.CascadeStopList {
        let tenantID = try context.requireTenant()
        guard (0...Int32(Self.maximumLimit)).contains(request.limit) else {
            throw RPCError.invalid(field: "limit", "must be between 0 and \(Self.maximumLimit)")
        }
        let limit = request.limit == 0 ? Self.defaultLimit : Int(request.limit)
        let stops = try await mapped {
            try await store.cascadeStops(tenantID: tenantID, agentID: Self.optional(request.agentId), limit: limit)
        }
        var answer = PB.CascadeStopList()
        answer.items = stops.map(PB.CascadeStop.init)
        return answer
    }

    // MARK: - Statistics

    /// Fired and non-fired counts per outcome per day of one rule (`id`) or of all rules of an agent
    /// (`agent_id`), between `from_micros` and `to_micros` (default: the last 30 days). Errors:
    /// INVALID_ARGUMENT, NOT_FOUND.
    package func analyticsCounters(_ request: PB.AnalyticsQuery, context: RPCContext) async throws -> PB.AnalyticsCounts {
        let tenantID = try context.requireTenant()
        try AnalyticsCounters.validate(request)
        return PB.AnalyticsCounts(try await store.analyticsCounts(tenantID: tenantID, fromHour: request.fromHour, toHour: request.toHour,
                                                                   agentID: Self.optional(request.agentId), buckets: request.bucketStarts))
    }

    package func ruleStats(_ request: PB.StatsQuery, context: RPCContext) async throws -> PB.StatsReport {
        let tenantID = try context.requireTenant()
        let (from, to) = try range(request)
        var rules: [DocumentRecord]
        if !request.id.isEmpty {
            rules = [try await required(.rule, tenantID: tenantID, id: request.id, agentID: Self.optional(request.agentId))]
        } else {
            guard !request.agentId.isEmpty else { throw RPCError.invalid(field: "agent_id", "is required when no rule id is given") }
            _ = try await required(.agent, tenantID: tenantID, id: request.agentId, agentID: nil)
            rules = []
            var cursor: PageCursor?
            repeat {
                let page = try await mapped {
                    try await store.page(.rule, tenantID: tenantID, agentID: request.agentId, after: cursor, limit: Self.maximumLimit)
                }
                rules += page
                cursor = page.count == Self.maximumLimit ? page.last.map { PageCursor(kind: "rule", position: Int64($0.priority), id: $0.id) } : nil
            } while cursor != nil
        }
        let counts = try await store.ruleCounts(tenantID: tenantID, ruleIDs: rules.map(\.id),
                                                fromDay: RulesStore.day(micros: from), toDay: RulesStore.day(micros: to))
        let reports: [JSONValue] = rules.map { record in
            let name = stored(Rule.self, record, logger: context.logger)?.name ?? ""
            let mine = counts.filter { $0.ruleID == record.id }
            var days: [JSONValue] = []
            for day in Array(Set(mine.map(\.day))).sorted() {
                var summary = Self.summary(mine.filter { $0.day == day })
                summary["day"] = .string(day)
                days.append(.object(summary))
            }
            var report = Self.summary(mine)
            report["rule_id"] = .string(record.id)
            report["agent_id"] = .string(record.agentID)
            report["name"] = .string(name)
            report["days"] = .array(days)
            return .object(report)
        }
        let json = JSONValue.object([
            "from": .string(ResourceJSON.timestamp(micros: from)),
            "to": .string(ResourceJSON.timestamp(micros: to)),
            "rules": .array(reports),
        ])
        var answer = PB.StatsReport()
        answer.json = String(decoding: json.data(), as: UTF8.self)
        return answer
    }

    /// `{"fired": n, "not_fired": m, "outcomes": {"fired": n, "cooldown": k, …}}` of some counter rows.
    static func summary(_ rows: [RuleDayCount]) -> [String: JSONValue] {
        var outcomes: [String: Int] = [:]
        for row in rows { outcomes[row.outcome, default: 0] += row.count }
        let fired = outcomes[RuleOutcome.fired.rawValue] ?? 0
        let total = outcomes.values.reduce(0, +)
        return [
            "fired": .int(Int64(fired)),
            "not_fired": .int(Int64(total - fired)),
            "outcomes": .object(outcomes.mapValues { .int(Int64($0)) }),
        ]
    }

    /// The query's time range with defaults; `from` after `to` is INVALID_ARGUMENT.
    func range(_ request: PB.StatsQuery) throws(RPCError) -> (from: Int64, to: Int64) {
        let to = request.toMicros != 0 ? request.toMicros : clock.now().unixMicros
        let from = request.fromMicros != 0 ? request.fromMicros : to - 30 * 86_400 * 1_000_000
        guard from <= to else { throw RPCError.invalid(field: "from_micros", "must not be after to_micros") }
        return (from, to)
    }
}
