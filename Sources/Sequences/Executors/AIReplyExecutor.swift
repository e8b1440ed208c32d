import Basics
import Domain
import Foundation
import ServiceKit
import Wire

/// `ai_response`: the tenant's AI provider writes the next message from the agent's persona and scripts,
/// the chunks of its knowledge base that the lead's latest messages find (at most six, fetched from
/// rules-service), the conversation so far and the lead's values; the message goes to the lead's chat like any other,
/// and the tokens it cost are recorded whether or not it goes out.
///
/// Before the provider is asked, the agent's settings apply (``AgentMessaging``): a manager's reply holds
/// the reply while the agent is paused for the lead, and a lead writing on an origin outside the agent's
/// `channels` gets none. The reply is written in the agent's `language`, or in the lead's as
/// ``LanguageGuess`` reads it from the lead's messages when the agent's is `auto`. A reply held until
/// the pause ended is written only if the lead has the last word: if a manager (or we) answered
/// meanwhile, there is nothing left to reply to.
package struct AIReplyExecutor: ActionExecutor {
    package var actionTypes: Set<ActionType> { [.aiResponse] }

    private let delivery: ChatDelivery
    private let templates: LeadTemplates
    private let rules: RulesFeedback
    private let store: SequenceStore
    private let egress: EgressGate
    private let settings: ExecutorSettings
    private let clock: any WallClock
    private let metrics: ExecutorMetrics
    private let messaging: AgentMessaging

    package init(delivery: ChatDelivery, templates: LeadTemplates, rules: RulesFeedback, store: SequenceStore, egress: EgressGate,
                 settings: ExecutorSettings, clock: any WallClock, metrics: ExecutorMetrics) {
        self.messaging = AgentMessaging(store: store, clock: clock)
        self.delivery = delivery
        self.templates = templates
        self.rules = rules
        self.store = store
        self.egress = egress
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
    }

    package func execute(_ action: Action, in context: ExecutionContext) async -> ExecutionResult {
        let operation = "ai_response"
        let request: AIReplyRequest
        let lead: Int64
        do throws(ExecutionStop) {
            guard let leadID = context.leadID else { throw .invalid("ai_response needs a lead", in: context) }
            lead = leadID
            request = try await self.request(for: action, lead: lead, in: context)
            // Before the provider is asked: a reply the plan does not allow costs no tokens.
            try await delivery.checkPlan(aiReply: true, operation: operation, in: context)
        } catch {
            return error.result
        }
        let reply = await provider(for: context.integrations.ai).reply(to: request, logger: context.logger)
        await recordTokens(reply.result.usage, in: context)
        let decisions: String
        do throws(ExecutionStop) {
            decisions = try await runTools(reply.toolCalls, request: request, lead: lead, in: context)
        } catch {
            return error.result
        }
        guard let text = reply.text else {
            if !reply.toolCalls.isEmpty, reply.result.outcome == .succeeded {
                var result = reply.result
                result.operation = "\(operation) (\(result.operation) → tools)"
                result.requestSummary = "\(reply.result.operation); " + result.requestSummary + "; " + decisions
                result.detail = "no message; " + decisions
                return result
            }
            var result = reply.result
            result.operation = "\(operation) (\(result.operation))"
            if let reason = reply.blockedReason {
                result.outcome = .skipped
                result.detail = reason
            }
            return result
        }
        var result = await delivery.send(text, to: lead, in: context)
        if result.succeeded {
            await delivery.recordSent(text, to: lead, aiReply: true, in: context)
            let uses = reply.scriptID.map { [rules.scriptUse(id: $0, version: Int64(reply.scriptVersion ?? 0), in: context)] } ?? []
            await rules.report([rules.ownWrite(kind: .message, value: text, in: context)], uses: uses, in: context)
        }
        let script = reply.scriptID.map { " script \($0) v\(reply.scriptVersion ?? 0) (\(reply.selection ?? "-"))" } ?? ""
        let knowledge = reply.knowledgeUsed.isEmpty ? "" : " knowledge \(reply.knowledgeUsed.map(\.reference).joined(separator: ", "))"
        result.requestSummary = "\(reply.result.operation)\(script)\(knowledge); " + result.requestSummary
            + (decisions.isEmpty ? "" : "; " + decisions)
        result.operation = "\(operation) (\(reply.result.operation) → \(result.operation))"
        result.steps = [reply.result] + (result.steps.isEmpty ? [] : result.steps)
        return result
    }

    /// What the provider is asked: the agent, its scripts, the conversation, the lead's values, and the
    /// rule's instructions rendered with them.
    private func request(for action: Action, lead: Int64, in context: ExecutionContext) async throws(ExecutionStop) -> AIReplyRequest {
        let agent = try await rules.agentContext(in: context)
        try await messaging.checkPause(agent: agent, lead: lead, operation: "ai_response", in: context)
        try messaging.checkChannel(agent: agent, operation: "ai_response")
        var entries = await conversation(with: lead, in: context)
        if agent.historyMessages > 0 { entries = Array(entries.suffix(Int(agent.historyMessages))) }
        let conversation = entries.map { ConversationTurn($0.direction == "incoming" ? .lead : .agent, $0.text) }
        try await checkStopPhrases(agent: agent, entries: entries, lead: lead, in: context)
        try checkQuiet(agent: agent, lastInbound: entries.last { $0.direction == "incoming" }?.at)
        if context.wasHeld, let last = conversation.last, last.author != .lead {
            throw .skipped("ai_response", reason: agent.quietSeconds > 0
                ? "answered together with the lead's other messages: the lead has not written since the last reply"
                : "held while a manager had the conversation, and the lead has not written since the last reply to it")
        }
        try await checkDailyCap(agent: agent, lead: lead, in: context)
        let values = try await templates.values(for: nil, in: context)
        var instructions: String?
        if let source = action.instructions, !source.isEmpty {
            do {
                instructions = try Template(parsing: source).render(values: values, policy: .useDefaultOrEmpty).text ?? source
            } catch {
                // Rules validate their templates; one that does not parse here is passed on as written.
                metrics.failed(.instructionsTemplate, error: error, logger: context.logger, level: .warning)
                instructions = source
            }
        }
        let asked = conversation.reversed().prefix { $0.author == .lead }.reversed().map(\.text)
        let (knowledge, terms) = await rules.knowledge(for: asked.joined(separator: "\n"), in: context)
        return AIReplyRequest(
            agentName: agent.agentName, persona: agent.persona,
            scripts: agent.scripts.compactMap { script in
                ScriptType(rawValue: script.type.name).map {
                    SalesScript(id: script.id, version: Int(script.version), type: $0, name: script.name, body: script.body,
                                triggerPhrases: script.triggerPhrases, language: script.language)
                }
            },
            conversation: conversation,
            inboundCount: max(Int(agent.inboundCount), conversation.filter { $0.author == .lead }.count),
            stageID: agent.statusId == 0 ? nil : agent.statusId, values: values, instructions: instructions,
            requestedScriptID: action.scriptID, language: Self.replyLanguage(agent: agent.language, conversation: conversation),
            knowledge: knowledge, knowledgeTerms: terms, tools: await toolSchemas(agent: agent, in: context),
            maxTokens: agent.maxReplyTokens > 0 ? Int(agent.maxReplyTokens) : nil)
    }

    /// The first of the agent's `stop_phrases` the lead wrote since our last message and after
    /// `resumedAt` (a resume by hand ends what was asked before it): whole words, case and accents
    /// ignored; `nil` when none. Kommo stamps a client's message to the second, so one written in the
    /// same second as our last message may sort before it: the second before it counts as after.
    static func stopPhrase(in entries: [ConversationEntry], phrases: [String], resumedAt: Int64) -> String? {
        guard !phrases.isEmpty else { return nil }
        let lastOutgoing = entries.last { $0.direction != "incoming" }?.at ?? 0
        let recent = entries.filter { $0.direction == "incoming" && $0.at > resumedAt && $0.at >= lastOutgoing - 1_000_000 }
        let spoken = recent.map { " " + KnowledgeQuery.folded(words: $0.text) + " " }
        return phrases.first { phrase in
            let wanted = KnowledgeQuery.folded(words: phrase)
            return !wanted.isEmpty && spoken.contains { $0.contains(" \(wanted) ") }
        }
    }

    /// Pauses the agent for the lead, and skips this reply, when the lead wrote a stop phrase.
    private func checkStopPhrases(agent: PB.AgentContext, entries: [ConversationEntry], lead: Int64,
                                  in context: ExecutionContext) async throws(ExecutionStop) {
        guard !agent.stopPhrases.isEmpty else { return }
        let resumedAt: Int64
        do {
            resumedAt = try await store.humanReply(tenantID: context.tenantID, leadID: lead)?.resumedAt ?? 0
        } catch {
            throw ExecutionStop(ExecutionResult(operation: "ai_response", outcome: .failedRetryable,
                                                detail: "could not read whether the agent was resumed: \(error)"))
        }
        guard let phrase = Self.stopPhrase(in: entries, phrases: agent.stopPhrases, resumedAt: resumedAt) else { return }
        do {
            try await store.recordStopRequest(tenantID: context.tenantID, leadID: lead, at: clock.now().unixMicros, phrase: phrase,
                                              ref: context.idempotencyKey)
        } catch {
            throw ExecutionStop(ExecutionResult(operation: "ai_response", outcome: .failedRetryable,
                                                detail: "could not pause the agent after a stop phrase: \(error)"))
        }
        throw .skipped("ai_response", reason: "the lead wrote the stop phrase \"\(phrase)\": the agent is paused for the lead until resumed by hand")
    }

    // MARK: - Tools

    /// The tools the agent's `ai_actions` offer, described with the catalog's names.
    private func toolSchemas(agent: PB.AgentContext, in context: ExecutionContext) async -> [JSONValue] {
        let policy = AIToolPolicy(agent)
        guard !policy.tools.isEmpty else { return [] }
        return policy.schemas(catalog: await catalog(in: context))
    }

    /// The tenant's Kommo catalog, when one was read; calls are then checked against it too.
    private func catalog(in context: ExecutionContext) async -> KommoCatalogIndex? {
        do {
            guard let json = try await store.kommoCatalog(tenantID: context.tenantID)?.json, let value = JSONValue(parsing: json) else { return nil }
            return KommoCatalogIndex(catalog: value)
        } catch {
            metrics.failed(.toolCatalog, error: error, logger: context.logger)
            return nil
        }
    }

    /// Checks each tool call against the agent's policy and the catalog, schedules the allowed ones as
    /// actions keyed by this reply's key and the call's position (so a retried reply schedules nothing
    /// twice), pauses the agent for the lead on a hand-off, and says what became of each call for the
    /// action log: `AI decided: update_lead_fields {…} → action …:tool:0; refused move_to_stage {…}: …`.
    private func runTools(_ calls: [AIToolCall], request: AIReplyRequest, lead: Int64,
                          in context: ExecutionContext) async throws(ExecutionStop) -> String {
        guard !calls.isEmpty else { return "" }
        let agent = try await rules.agentContext(in: context)
        let policy = AIToolPolicy(agent)
        let catalog = await catalog(in: context)
        let responsible = request.values[TemplateVocabulary.leadResponsible].flatMap { Int64($0) }
        var planned: [PlannedActionRecord] = []
        var handOff: String?
        var lines: [String] = []
        for (index, call) in calls.enumerated() {
            let key = "\(context.idempotencyKey):tool:\(index)"
            let shown = "\(call.name) \(call.arguments.prefix(300))"
            func plan(_ action: Action) {
                planned.append(PlannedActionRecord(idempotencyKey: key, ruleID: context.ruleID, agentID: context.agentID,
                                                   eventID: context.eventID, leadID: lead, action: action))
                lines.append("\(shown) → \(action.type.rawValue) \(key)")
            }
            switch policy.decide(call, catalog: catalog, responsibleUserID: responsible) {
            case .action(let action):
                plan(action)
            case .handOff(let action, let reason):
                plan(action)
                handOff = reason
            case .refused(let reason):
                context.logger.notice("ai.tool_refused", metadata: ["ai.tool": "\(call.name)", "reason": "\(reason)"])
                lines.append("refused \(shown): \(reason)")
            }
        }
        let now = clock.now().unixMicros
        do {
            if !planned.isEmpty { _ = try await store.schedule(tenantID: context.tenantID, actions: planned, timers: [], now: now) }
            if let handOff {
                try await store.recordHandOff(tenantID: context.tenantID, leadID: lead, at: now, reason: handOff, ref: context.idempotencyKey)
            }
        } catch {
            // Nothing was half done: the keys make a retry schedule each action once.
            throw ExecutionStop(ExecutionResult(operation: "ai_response", outcome: .failedRetryable,
                                                detail: "could not schedule the AI's actions: \(error)"))
        }
        return "AI decided: " + lines.joined(separator: "; ") + (handOff.map { "; handed off (the agent is paused for the lead): \($0)" } ?? "")
    }

    /// The agent's language, or for `auto` (and empty) the lead's as its messages read.
    static func replyLanguage(agent: String, conversation: [ConversationTurn]) -> String? {
        if !agent.isEmpty, agent != "auto" { return agent }
        return LanguageGuess.detect(conversation.filter { $0.author == .lead }.map(\.text))
    }

    /// Holds the reply while the lead may still be writing: until `quiet_seconds` after the lead's latest
    /// message (as the conversation log or rules-service knows it). The replies held meanwhile all come
    /// due then; the first answers everything and the others find the lead answered.
    private func checkQuiet(agent: PB.AgentContext, lastInbound: Int64?) throws(ExecutionStop) {
        guard agent.quietSeconds > 0 else { return }
        let last = max(lastInbound ?? 0, agent.lastInboundAtMicros)
        guard last > 0 else { return }
        let until = Date(unixMicros: last).addingTimeInterval(TimeInterval(agent.quietSeconds))
        guard until > clock.now() else { return }
        throw ExecutionStop(.held("ai_response", reason: "waiting for the lead to finish writing: quiet until \(RuleTime.string(until))",
                                  until: until))
    }

    /// Skips the reply when the lead has had the agent's `max_per_lead_per_day` AI replies this UTC day.
    private func checkDailyCap(agent: PB.AgentContext, lead: Int64, in context: ExecutionContext) async throws(ExecutionStop) {
        guard agent.maxRepliesPerLeadPerDay > 0 else { return }
        let now = clock.now()
        let day: Int64 = 86_400_000_000
        let midnight = now.unixMicros - now.unixMicros % day
        let sent: Int
        do {
            sent = try await store.aiReplies(tenantID: context.tenantID, leadID: lead, since: midnight)
        } catch {
            // Without the count the cap cannot be kept: try again later rather than overshoot it.
            throw ExecutionStop(ExecutionResult(operation: "ai_response", outcome: .failedRetryable,
                                                detail: "could not count today's AI replies to the lead: \(error)"))
        }
        guard sent >= Int(agent.maxRepliesPerLeadPerDay) else { return }
        throw .skipped("ai_response", reason: "daily cap: the lead had \(sent) AI replies today (UTC); the agent's limit is \(agent.maxRepliesPerLeadPerDay)")
    }

    /// The latest turns with the lead; without them (an unreadable store) the AI answers from the rest.
    private func conversation(with lead: Int64, in context: ExecutionContext) async -> [ConversationEntry] {
        do {
            return try await store.conversation(tenantID: context.tenantID, leadID: lead, limit: settings.conversationTurns)
        } catch {
            metrics.failed(.conversation, error: error, logger: context.logger)
            return []
        }
    }

    private func provider(for ai: TenantIntegrations.AI) -> any AIProvider {
        switch ai {
        case .template:
            TemplateAIProvider()
        case .openAI(let baseURL, let apiKey, let model):
            OpenAIProvider(egress: egress, configuration: .init(baseURL: baseURL, apiKey: apiKey, model: model, retry: settings.aiRetry),
                           metrics: metrics)
        }
    }

    /// Tokens are spent whether or not the message goes out; each run is billed once (the usage row is
    /// keyed by the action's key and run).
    private func recordTokens(_ usage: TokenUsage?, in context: ExecutionContext) async {
        guard let usage, usage.totalTokens > 0 else { return }
        do {
            try await store.recordUsage(tenantID: context.tenantID, kind: "ai_tokens", units: usage.totalTokens,
                                        at: clock.now().unixMicros, ref: "ai_tokens:\(context.idempotencyKey)#\(context.attempt)")
        } catch {
            metrics.failed(.aiTokenUsage, error: error, logger: context.logger)
        }
    }
}
