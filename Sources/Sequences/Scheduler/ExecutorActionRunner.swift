import Domain
import Foundation
import Logging
import ServiceKit
import Synchronization
import Wire

// MARK: - Settings

/// Timeouts and retries of the executors (where requests may go is the ``EgressGate``'s policy).
package struct ExecutorSettings: Sendable {
    /// Retries of one Kommo call inside one run. Its longest honoured `retry_after` stays well under the
    /// scheduler's lease: a run that outlives its lease is claimed again and would send twice.
    package var kommoRetry: RetryPolicy
    /// Retries of one webhook delivery inside one run.
    package var webhookRetry: RetryPolicy
    /// Retries of one LLM call inside one run.
    package var aiRetry: RetryPolicy
    /// Deadline of calls to rules-service.
    package var rulesTimeout: Duration
    /// Messages of the conversation given to the AI.
    package var conversationTurns: Int

    /// Creates settings; the defaults suit production.
    package init(kommoRetry: RetryPolicy = RetryPolicy(maxAttempts: 3, maxRetryAfter: .seconds(20)),
                 webhookRetry: RetryPolicy = RetryPolicy(maxAttempts: 3, maxRetryAfter: .seconds(20)),
                 aiRetry: RetryPolicy = RetryPolicy(maxAttempts: 2, maxRetryAfter: .seconds(10)),
                 rulesTimeout: Duration = .seconds(5), conversationTurns: Int = 30) {
        self.kommoRetry = kommoRetry
        self.webhookRetry = webhookRetry
        self.aiRetry = aiRetry
        self.rulesTimeout = rulesTimeout
        self.conversationTurns = conversationTurns
    }
}

// MARK: - Runner

/// Carries out due actions with the tenant's integrations: Kommo writes through ``KommoClient``, chat
/// messages through ``ChatSender``, AI replies through the tenant's ``AIProvider``, outgoing webhooks
/// through ``WebhookSender``. Records what it sent (conversation, usage) and tells rules-service about
/// our own writes and script uses, so that the echoes of our writes do not fire rules again.
///
/// The idempotency key of the scheduled action travels outward wherever the other side keeps one: Kommo's
/// `request_id`, the Chats API `msgid`, the `webhook-id` header.
package final class ExecutorActionRunner: ActionRunner {
    private let integrations: Integrations
    private let store: SequenceStore
    private let egress: EgressGate
    private let rules: RulesClient
    private let settings: ExecutorSettings
    private let clock: any WallClock
    private let webhooks: WebhookSender
    /// One Kommo client per rate limit in use: each owns a limiter with that allowance per account.
    private let kommoClients = Mutex<[Int: KommoClient]>([:])
    /// Renews OAuth access tokens that Kommo refuses, for every client.
    private let tokenRenewal: KommoTokenRenewal

    package init(integrations: Integrations, store: SequenceStore, egress: EgressGate, rules: RulesClient,
                 settings: ExecutorSettings, clock: any WallClock) {
        self.integrations = integrations
        self.store = store
        self.egress = egress
        self.rules = rules
        self.settings = settings
        self.clock = clock
        self.tokenRenewal = KommoTokenRenewal(integrations: integrations, egress: egress, clock: clock)
        self.webhooks = WebhookSender(egress: egress, configuration: WebhookSender.Configuration(
            retry: settings.webhookRetry))
    }

    package func run(_ action: ScheduledAction, logger: Logger) async -> ActionRunResult {
        var logger = logger
        logger[metadataKey: "tenant.id"] = "\(action.tenantID)"
        logger[metadataKey: "action.key"] = "\(action.idempotencyKey)"
        guard let decoded = action.action else {
            return ActionRunResult(status: "failed", operation: action.actionType, detail: action.actionProblem ?? "the row has no action")
        }
        let tenant: TenantIntegrations
        do {
            tenant = try await integrations.runtime(tenantID: action.tenantID)
        } catch {
            logger.error("executor.integrations_unreadable", metadata: ["error": "\(error)"])
            return ActionRunResult(status: "retry", operation: action.actionType, detail: "integrations unreadable: \(error)",
                                   retryAfter: .seconds(60))
        }
        let run = Run(action: action, decoded: decoded, tenant: tenant, kommo: kommoClient(rate: tenant.kommoRatePerSecond),
                      logger: logger)
        let result = await perform(run)
        return Self.runResult(result)
    }

    /// Reads the tenant's Kommo account with its stored credentials, through the limiter its actions
    /// use: what "test connection" shows. Throws FAILED_PRECONDITION when Kommo is not connected.
    package func testKommoConnection(tenantID: String, logger: Logger) async throws -> JSONValue {
        let tenant = try await integrations.runtime(tenantID: tenantID)
        guard let account = tenant.kommo else {
            throw RPCError(.failedPrecondition, "Kommo is not connected: set kommo.base_url (or subdomain) and kommo.access_token")
        }
        let read = await kommoClient(rate: tenant.kommoRatePerSecond).getAccount(account: account, logger: logger)
        let result = read.result
        var answer: [String: JSONValue] = [
            "ok": .bool(read.entity != nil),
            "base_url": .string(account.baseURL),
            "latency_ms": .number((Double(result.latency.components.attoseconds) / 1e15 + Double(result.latency.components.seconds) * 1000).rounded()),
        ]
        if let status = result.httpStatus { answer["status"] = .number(Double(status)) }
        if let entity = read.entity {
            answer["account"] = .object(["id": .string(String(entity.id)), "name": .string(entity.name), "subdomain": .string(entity.subdomain)])
        } else {
            answer["detail"] = .string(result.problem?.detail ?? result.detail ?? "Kommo answered without an account")
        }
        return .object(answer)
    }

    // MARK: - Dispatch

    /// Everything one run needs.
    struct Run {
        var action: ScheduledAction
        var decoded: Action
        var tenant: TenantIntegrations
        var kommo: KommoClient
        var logger: Logger
        var account: KommoAccount? { tenant.kommo }
        var key: String { action.idempotencyKey }
    }

    private func perform(_ run: Run) async -> ExecutionResult {
        let action = run.decoded
        switch action.type {
        case .createTask:
            return await createTask(run, text: action.text ?? "", dueIn: action.dueInSeconds, taskType: action.taskType,
                                    responsible: action.responsibleUserID)
        case .addNote:
            return await addNote(run, text: action.text ?? "")
        case .changeStage:
            guard let stage = action.stageID else { return Self.invalid(run, "change_stage needs stage_id") }
            return await changeStage(run, stage: stage, pipeline: action.pipelineID)
        case .setField:
            guard let field = action.field else { return Self.invalid(run, "set_field needs field") }
            return await setField(run, field: field, value: action.value ?? "")
        case .addTags, .removeTags:
            return await tags(run, add: action.type == .addTags, tags: action.tags ?? [])
        case .kommoAction:
            return await kommoAction(run)
        case .webhook:
            return await webhook(run)
        case .sendMessage:
            return await sendMessage(run)
        case .aiResponse:
            return await aiResponse(run)
        case .startSequence, .stopSequence:
            return await sequenceCommand(run)
        }
    }

    // MARK: - Sequences

    /// `start_sequence` enrolls the lead through the same path as a manual enroll; `stop_sequence` ends
    /// its live enrollments in the named sequence, or in all of them.
    private func sequenceCommand(_ run: Run) async -> ExecutionResult {
        let operation = "sequence.\(run.decoded.type == .startSequence ? "start" : "stop")"
        guard let lead = run.action.leadID, lead > 0 else { return Self.invalid(run, "\(run.decoded.type.rawValue) needs a lead") }
        let enrollments = Enrollments(store: store, clock: clock)
        do {
            if run.decoded.type == .startSequence {
                guard let sequenceID = run.decoded.sequenceID, !sequenceID.isEmpty else { return Self.invalid(run, "start_sequence needs sequence_id") }
                // The action's key makes a retried run find the enrollment it made instead of refusing.
                switch try await enrollments.enroll(tenantID: run.action.tenantID, sequenceID: sequenceID, agentID: nil, leadID: lead,
                                                    source: "rule", eventID: run.key) {
                case .enrolled(let record):
                    return ExecutionResult(operation: operation, outcome: .succeeded, detail: "enrolled \(record.id)")
                case .alreadyEnrolled(let record):
                    return ExecutionResult(operation: operation, outcome: .succeeded, detail: "already enrolled (\(record.id))")
                case .refused(let reason):
                    return .skipped(operation, reason: reason)
                }
            } else {
                let stopped = try await enrollments.stop(tenantID: run.action.tenantID, leadID: lead, sequenceID: run.decoded.sequenceID,
                                                         reason: "stopped by rule \(run.action.ruleID)")
                return ExecutionResult(operation: operation, outcome: .succeeded,
                                       detail: stopped.isEmpty ? "no active enrollment" : "stopped \(stopped.joined(separator: ", "))")
            }
        } catch let error as SequenceStoreError {
            return ExecutionResult(operation: operation, outcome: .failedPermanent, detail: "\(error)")
        } catch {
            run.logger.error("executor.sequence_command_failed", metadata: ["error": "\(error)"])
            return ExecutionResult(operation: operation, outcome: .failedRetryable, detail: "store unavailable")
        }
    }

    // MARK: - Kommo writes

    private func createTask(_ run: Run, text: String, dueIn: Int?, taskType: Int?, responsible: Int64?) async -> ExecutionResult {
        let operation = "kommo.create_task"
        guard run.account != nil else { return .skipped(operation, reason: SkipReason.noKommoCredentials) }
        let rendered = await render(run, text, policy: .useDefaultOrEmpty, operation: operation)
        guard case .success(let text) = rendered else { return rendered.failure! }
        let due = Int64(clock.now().timeIntervalSince1970) + Int64(max(0, dueIn ?? 0))
        let draft = KommoTaskDraft(text: text.isEmpty ? "Follow up" : text, completeTill: due, leadID: run.action.leadID,
                                   taskTypeID: taskType, responsibleUserID: responsible)
        var result = await run.kommo.createTask(draft, idempotencyKey: run.key, account: run.account, logger: run.logger)
        if result.succeeded, let id = result.createdID { result.detail = result.detail ?? "created task \(id)" }
        return result
    }

    private func addNote(_ run: Run, text: String) async -> ExecutionResult {
        let operation = "kommo.add_note"
        guard run.account != nil else { return .skipped(operation, reason: SkipReason.noKommoCredentials) }
        guard let lead = run.action.leadID else { return Self.invalid(run, "add_note needs a lead") }
        let rendered = await render(run, text, policy: .useDefaultOrEmpty, operation: operation)
        guard case .success(let text) = rendered else { return rendered.failure! }
        let result = await run.kommo.addNote(leadID: lead, text: text, account: run.account, logger: run.logger)
        if result.succeeded { await report(run, writes: [ownWrite(run, kind: .note, value: text)]) }
        return result
    }

    private func changeStage(_ run: Run, stage: Int64, pipeline: Int64?) async -> ExecutionResult {
        guard run.account != nil else { return .skipped("kommo.change_stage", reason: SkipReason.noKommoCredentials) }
        guard let lead = run.action.leadID else { return Self.invalid(run, "change_stage needs a lead") }
        let result = await run.kommo.changeStage(leadID: lead, statusID: stage, pipelineID: pipeline, account: run.account,
                                                 logger: run.logger)
        if result.succeeded { await report(run, writes: [ownWrite(run, kind: .stageChange, value: String(stage))]) }
        return result
    }

    private func setField(_ run: Run, field: String, value: String) async -> ExecutionResult {
        let operation = "kommo.set_fields"
        guard run.account != nil else { return .skipped(operation, reason: SkipReason.noKommoCredentials) }
        guard let lead = run.action.leadID else { return Self.invalid(run, "set_field needs a lead") }
        // Kommo writes custom fields by id; names would need the account's field list.
        guard let ref = FieldRef(field), ref.entity == .lead, ref.isCustom, let fieldID = Int64(ref.key) else {
            return ExecutionResult(operation: operation, outcome: .failedPermanent,
                                   detail: "set_field can write lead custom fields by id (cf.<id>); \(field) is not one")
        }
        let rendered = await render(run, value, policy: .useDefaultOrEmpty, operation: operation)
        guard case .success(let text) = rendered else { return rendered.failure! }
        let update = KommoFieldUpdate(fieldID: fieldID, values: text.isEmpty ? [] : [.text(text)])
        let result = await run.kommo.setCustomFields(leadID: lead, [update], account: run.account, logger: run.logger)
        if result.succeeded { await report(run, writes: [ownWrite(run, kind: .field, value: "\(field)=\(text)")]) }
        return result
    }

    private func tags(_ run: Run, add: Bool, tags: [String]) async -> ExecutionResult {
        let operation = add ? "kommo.add_tags" : "kommo.remove_tags"
        guard run.account != nil else { return .skipped(operation, reason: SkipReason.noKommoCredentials) }
        guard let lead = run.action.leadID else { return Self.invalid(run, "\(operation) needs a lead") }
        let names = tags.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty else { return Self.invalid(run, "no tags given") }
        return add
            ? await run.kommo.addTags(leadID: lead, names, account: run.account, logger: run.logger)
            : await run.kommo.removeTags(leadID: lead, names, account: run.account, logger: run.logger)
    }

    private func kommoAction(_ run: Run) async -> ExecutionResult {
        guard let operation = run.decoded.operation else { return Self.invalid(run, "kommo_action needs operation") }
        let parameters = run.decoded.parameters ?? [:]
        func integer(_ key: String) -> Int64? { parameters[key].flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) } }
        func list(_ key: String) -> [String] { (parameters[key] ?? "").split(separator: ",").map { String($0) } }
        switch operation {
        case .changeStage:
            guard let stage = integer("status_id") else { return Self.invalid(run, "change_stage needs status_id") }
            return await changeStage(run, stage: stage, pipeline: integer("pipeline_id"))
        case .setField:
            guard let field = parameters["field"] else { return Self.invalid(run, "set_field needs field") }
            return await setField(run, field: field, value: parameters["value"] ?? "")
        case .addTags, .removeTags:
            return await tags(run, add: operation == .addTags, tags: list("tags"))
        case .createTask:
            return await createTask(run, text: parameters["text"] ?? "", dueIn: integer("due_in_seconds").map(Int.init),
                                    taskType: integer("task_type").map(Int.init), responsible: integer("responsible_user_id"))
        case .addNote:
            return await addNote(run, text: parameters["text"] ?? "")
        case .completeTask:
            guard run.account != nil else { return .skipped("kommo.complete_task", reason: SkipReason.noKommoCredentials) }
            guard let task = integer("task_id") else { return Self.invalid(run, "complete_task needs task_id") }
            return await run.kommo.completeTask(id: task, resultText: parameters["result"], account: run.account, logger: run.logger)
        case .runSalesbot:
            guard run.account != nil else { return .skipped("kommo.run_salesbot", reason: SkipReason.noKommoCredentials) }
            guard let bot = integer("bot_id"), let lead = run.action.leadID else {
                return Self.invalid(run, "run_salesbot needs bot_id and a lead")
            }
            return await run.kommo.runSalesbot(botID: bot, leadID: lead, account: run.account, logger: run.logger)
        case .changeResponsible:
            guard run.account != nil else { return .skipped("kommo.change_responsible", reason: SkipReason.noKommoCredentials) }
            guard let lead = run.action.leadID else { return Self.invalid(run, "change_responsible needs a lead") }
            guard let user = integer("responsible_user_id") else { return Self.invalid(run, "change_responsible needs responsible_user_id") }
            let result = await run.kommo.changeResponsible(leadID: lead, userID: user, account: run.account, logger: run.logger)
            if result.succeeded { await report(run, writes: [ownWrite(run, kind: .field, value: "responsible_user_id=\(user)")]) }
            return result
        case .updateLead:
            return await updateLead(run, parameters: parameters)
        case .updateContact:
            return await updateContact(run, parameters: parameters)
        }
    }

    /// The text parameters rendered with the lead's values, and the custom fields (`cf.<id>`) among them.
    private func fieldParameters(_ run: Run, _ parameters: [String: String], operation: String)
        async -> Outcome<(text: [String: String], fields: [KommoFieldUpdate])> {
        var text: [String: String] = [:]
        var fields: [KommoFieldUpdate] = []
        for (name, source) in parameters.sorted(by: { $0.key < $1.key }) where !KommoOperation.integerParameters.contains(name) {
            let rendered = await render(run, source, policy: .useDefaultOrEmpty, operation: operation)
            guard case .success(let value) = rendered else { return .failure(rendered.failure!) }
            if let fieldID = KommoOperation.customFieldID(name) {
                fields.append(KommoFieldUpdate(fieldID: fieldID, values: value.isEmpty ? [] : [.text(value)]))
            } else {
                text[name] = value
            }
        }
        return .success((text, fields))
    }

    private func updateLead(_ run: Run, parameters: [String: String]) async -> ExecutionResult {
        let operation = "kommo.update_lead"
        guard run.account != nil else { return .skipped(operation, reason: SkipReason.noKommoCredentials) }
        guard let lead = run.action.leadID else { return Self.invalid(run, "update_lead needs a lead") }
        func integer(_ key: String) -> Int64? { parameters[key].flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) } }
        let rendered = await fieldParameters(run, parameters, operation: operation)
        guard case .success(let values) = rendered else { return rendered.failure! }
        let changes = KommoLeadChanges(name: values.text["name"], price: integer("price"), statusID: integer("status_id"),
                                       pipelineID: integer("pipeline_id"), responsibleUserID: integer("responsible_user_id"),
                                       customFields: values.fields)
        guard changes != KommoLeadChanges() else { return Self.invalid(run, "update_lead names no field to change") }
        let result = await run.kommo.updateLead(leadID: lead, changes, account: run.account, logger: run.logger)
        if result.succeeded {
            var writes: [PB.OwnWrite] = []
            if let stage = changes.statusID { writes.append(ownWrite(run, kind: .stageChange, value: String(stage))) }
            for name in parameters.keys.sorted() where name != "status_id" {
                writes.append(ownWrite(run, kind: .field, value: "\(name)=\(values.text[name] ?? parameters[name] ?? "")"))
            }
            await report(run, writes: writes)
        }
        return result
    }

    private func updateContact(_ run: Run, parameters: [String: String]) async -> ExecutionResult {
        let operation = "kommo.update_contact"
        guard run.account != nil else { return .skipped(operation, reason: SkipReason.noKommoCredentials) }
        func integer(_ key: String) -> Int64? { parameters[key].flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) } }
        var contactID = integer("contact_id")
        if contactID == nil {
            // The lead's main contact, read fresh: a contact linked since the last event counts.
            guard let lead = run.action.leadID else { return Self.invalid(run, "update_contact needs contact_id or a lead") }
            let read = await run.kommo.getLead(id: lead, account: run.account, logger: run.logger)
            guard read.result.succeeded else { return read.result }
            guard let main = read.entity?.mainContactID else {
                return ExecutionResult(operation: operation, outcome: .failedPermanent, detail: "lead \(lead) has no contact to update")
            }
            contactID = main
        }
        let rendered = await fieldParameters(run, parameters, operation: operation)
        guard case .success(let values) = rendered else { return rendered.failure! }
        let changes = KommoContactChanges(name: values.text["name"], firstName: values.text["first_name"], lastName: values.text["last_name"],
                                          responsibleUserID: integer("responsible_user_id"), customFields: values.fields)
        guard changes != KommoContactChanges() else { return Self.invalid(run, "update_contact names no field to change") }
        return await run.kommo.updateContact(contactID: contactID!, changes, account: run.account, logger: run.logger)
    }

    // MARK: - Webhooks

    private func webhook(_ run: Run) async -> ExecutionResult {
        let operation = "webhook.send"
        guard let url = run.decoded.url, !url.isEmpty else { return Self.invalid(run, "webhook needs url") }
        guard let secret = run.tenant.webhookSecret else {
            return .skipped(operation, reason: "no outgoing webhook secret configured (save the integrations once to generate one)")
        }
        let payload: String
        if let template = run.decoded.payloadTemplate, !template.isEmpty {
            let parsed: Template
            do { parsed = try Template(parsing: template) } catch {
                return ExecutionResult(operation: operation, outcome: .failedPermanent, detail: "payload_template: \(error.message)")
            }
            let values = await values(run, for: [parsed])
            guard case .success(let values) = values else { return values.failure! }
            payload = Self.renderJSONEscaped(parsed, values: values)
        } else {
            var body: [String: JSONValue] = ["action_key": .string(run.key), "event_id": .string(run.action.eventID),
                                             "rule_id": .string(run.action.ruleID)]
            if let lead = run.action.leadID { body["lead_id"] = .number(Double(lead)) }
            payload = Self.jsonText(.object(body))
        }
        return await webhooks.send(url: url, payload: Array(payload.utf8), messageID: run.key, secret: secret, logger: run.logger)
    }

    // MARK: - Messages

    private func sendMessage(_ run: Run) async -> ExecutionResult {
        let operation = "chat.send"
        guard let lead = run.action.leadID else { return Self.invalid(run, "send_message needs a lead") }
        var source = run.decoded.text ?? ""
        var scriptUse: (id: String, version: Int64)?
        if source.isEmpty, let scriptID = run.decoded.scriptID {
            let context = await agentContext(run)
            guard case .success(let context) = context else { return context.failure! }
            guard let script = context.scripts.first(where: { $0.id == scriptID }) else {
                return ExecutionResult(operation: operation, outcome: .failedPermanent,
                                       detail: "script \(scriptID) is not among the agent's scripts for this stage")
            }
            source = script.body
            scriptUse = (script.id, script.version)
        }
        guard !source.isEmpty else { return Self.invalid(run, "send_message needs text or script_id") }
        let rendered = await render(run, source, policy: .block, operation: operation)
        guard case .success(let text) = rendered else { return rendered.failure! }
        let result = await chat(run, lead: lead, text: text)
        if result.succeeded {
            await recordSent(run, lead: lead, text: text, aiUsage: false)
            await report(run, writes: [ownWrite(run, kind: .message, value: text)],
                         uses: scriptUse.map { [scriptUseRecord(run, id: $0.id, version: $0.version)] } ?? [])
        }
        return result
    }

    private func aiResponse(_ run: Run) async -> ExecutionResult {
        let operation = "ai_response"
        guard let lead = run.action.leadID else { return Self.invalid(run, "ai_response needs a lead") }
        let contextResult = await agentContext(run)
        guard case .success(let context) = contextResult else { return contextResult.failure! }
        var values = TemplateValues()
        let leadValues = await self.values(run, for: nil)
        if case .success(let known) = leadValues { values = known } else { return leadValues.failure! }
        let turns = (try? await store.conversation(tenantID: run.action.tenantID, leadID: lead, limit: settings.conversationTurns)) ?? []
        let conversation = turns.map { ConversationTurn($0.direction == "incoming" ? .lead : .agent, $0.text) }
        var instructions: String?
        if let source = run.decoded.instructions, !source.isEmpty {
            instructions = (try? Template(parsing: source))?.render(values: values, policy: .useDefaultOrEmpty).text ?? source
        }
        let request = AIReplyRequest(
            agentName: context.agentName, persona: context.persona,
            scripts: context.scripts.compactMap { script in
                ScriptType(rawValue: script.type.name).map {
                    SalesScript(id: script.id, version: Int(script.version), type: $0, name: script.name, body: script.body,
                                triggerPhrases: script.triggerPhrases)
                }
            },
            conversation: conversation,
            inboundCount: max(Int(context.inboundCount), conversation.filter { $0.author == .lead }.count),
            stageID: context.statusId == 0 ? nil : context.statusId, values: values, instructions: instructions,
            requestedScriptID: run.decoded.scriptID)
        let provider: any AIProvider = switch run.tenant.ai {
        case .template: TemplateAIProvider()
        case .openAI(let baseURL, let apiKey, let model):
            OpenAIProvider(egress: egress, configuration: .init(baseURL: baseURL, apiKey: apiKey, model: model,
                                                                        retry: settings.aiRetry))
        }
        let reply = await provider.reply(to: request, logger: run.logger)
        if let usage = reply.result.usage, usage.totalTokens > 0 {
            // Tokens are spent whether or not the message goes out; each attempt is billed once.
            try? await store.recordUsage(tenantID: run.action.tenantID, kind: "ai_tokens", units: usage.totalTokens,
                                         at: clock.now().unixMicros, ref: "ai_tokens:\(run.key)#\(run.action.attempts)")
        }
        guard let text = reply.text else {
            var result = reply.result
            result.operation = "\(operation) (\(result.operation))"
            if let reason = reply.blockedReason {
                result.outcome = ExecutionOutcome.skipped
                result.detail = reason
            }
            return result
        }
        var result = await chat(run, lead: lead, text: text)
        if result.succeeded {
            await recordSent(run, lead: lead, text: text, aiUsage: true)
            let uses = reply.scriptID.map { [scriptUseRecord(run, id: $0, version: Int64(reply.scriptVersion ?? 0))] } ?? []
            await report(run, writes: [ownWrite(run, kind: .message, value: text)], uses: uses)
        }
        let script = reply.scriptID.map { " script \($0) v\(reply.scriptVersion ?? 0) (\(reply.selection ?? "-"))" } ?? ""
        result.requestSummary = "\(reply.result.operation)\(script); " + result.requestSummary
        result.operation = "\(operation) (\(reply.result.operation) → \(result.operation))"
        result.steps = [reply.result] + (result.steps.isEmpty ? [] : result.steps)
        return result
    }

    /// Puts `text` into the lead's chat the tenant's way.
    private func chat(_ run: Run, lead: Int64, text: String) async -> ExecutionResult {
        var receiver: ChatSender.ChatParticipant?
        if case .chatsAPI = run.tenant.chatMode {
            // Our own channel: conversations and clients are ours to name, one conversation per lead.
            receiver = ChatSender.ChatParticipant(id: "lead-\(lead)")
        }
        let message = ChatSender.Message(leadID: lead, text: text, idempotencyKey: run.key,
                                         conversationID: "lead-\(lead)", receiver: receiver)
        let sender = ChatSender(kommo: run.kommo, egress: egress,
                                configuration: ChatSender.Configuration(retry: settings.kommoRetry))
        return await sender.send(message, mode: run.tenant.chatMode, account: run.account, logger: run.logger)
    }

    private func recordSent(_ run: Run, lead: Int64, text: String, aiUsage: Bool) async {
        let now = clock.now().unixMicros
        let tenant = run.action.tenantID
        do {
            try await store.recordOutbound(tenantID: tenant, leadID: lead, text: text, at: now, ref: "action:\(run.key)")
            try await store.recordUsage(tenantID: tenant, kind: "message_sent", units: 1, at: now, ref: "message:\(run.key)")
            if aiUsage { try await store.recordUsage(tenantID: tenant, kind: "ai_reply", units: 1, at: now, ref: "ai_reply:\(run.key)") }
        } catch {
            run.logger.error("executor.ledger_write_failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - rules-service

    private func agentContext(_ run: Run) async -> Outcome<PB.AgentContext> {
        guard !run.action.agentID.isEmpty else {
            return .failure(ExecutionResult(operation: "rules.agent_context", outcome: .failedPermanent, detail: "the action names no agent"))
        }
        var request = PB.AgentContextRequest()
        request.agentId = run.action.agentID
        request.leadId = run.action.leadID ?? 0
        do {
            return .success(try await rules.getAgentContext(request, options: CallOptions(timeout: settings.rulesTimeout,
                                                                                         tenantID: run.action.tenantID)))
        } catch {
            let retryable: Set<StatusCode> = [.unavailable, .deadlineExceeded, .internal, .resourceExhausted, .aborted, .unknown, .cancelled]
            return .failure(ExecutionResult(operation: "rules.agent_context", target: "rules-service GetAgentContext",
                                            outcome: retryable.contains(error.code) ? .failedRetryable : .failedPermanent,
                                            detail: "agent context: \(error)"))
        }
    }

    private func ownWrite(_ run: Run, kind: PB.OwnWriteKind, value: String) -> PB.OwnWrite {
        var write = PB.OwnWrite()
        write.leadId = run.action.leadID ?? 0
        write.kind = kind
        write.value = value
        write.ruleId = run.action.ruleID
        write.atMicros = clock.now().unixMicros
        return write
    }

    private func scriptUseRecord(_ run: Run, id: String, version: Int64) -> PB.ScriptUse {
        var use = PB.ScriptUse()
        use.scriptId = id
        use.version = version
        use.leadId = run.action.leadID ?? 0
        use.actionKey = run.key
        use.usedAtMicros = clock.now().unixMicros
        use.agentId = run.action.agentID
        return use
    }

    /// Tells rules-service what we wrote. Best effort: the write to Kommo has happened and must be logged
    /// as such; a missed report only weakens the loop guard for this one write, so it is logged loudly.
    private func report(_ run: Run, writes: [PB.OwnWrite], uses: [PB.ScriptUse] = []) async {
        var request = PB.RecordRequest()
        request.ownWrites = writes.filter { $0.leadId > 0 }
        request.scriptUses = uses
        guard !request.ownWrites.isEmpty || !request.scriptUses.isEmpty else { return }
        do {
            _ = try await rules.record(request, options: CallOptions(timeout: settings.rulesTimeout, tenantID: run.action.tenantID))
        } catch {
            run.logger.warning("executor.record_failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Template values

    /// A value or the result to log instead.
    enum Outcome<Value> {
        case success(Value)
        case failure(ExecutionResult)

        var failure: ExecutionResult? {
            if case .failure(let result) = self { result } else { nil }
        }
    }

    /// Renders `source` with the lead's values.
    private func render(_ run: Run, _ source: String, policy: MissingValuePolicy, operation: String) async -> Outcome<String> {
        let template: Template
        do { template = try Template(parsing: source) } catch {
            return .failure(ExecutionResult(operation: operation, outcome: .failedPermanent, detail: "template: \(error.message)"))
        }
        let values = await values(run, for: [template])
        guard case .success(let values) = values else { return .failure(values.failure!) }
        switch template.render(values: values, policy: policy) {
        case .rendered(let text):
            return .success(text)
        case let blocked:
            return .failure(ExecutionResult(operation: operation, outcome: .skipped, detail: blocked.reason))
        }
    }

    /// The lead's values for `templates` (`nil`: any template): the latest event values, with a fresh read
    /// of the lead (and its main contact, when a template names contact values) from Kommo on top when the
    /// tenant is connected. Templates without placeholders cost no Kommo request.
    private func values(_ run: Run, for templates: [Template]?) async -> Outcome<TemplateValues> {
        var values = TemplateValues()
        if let lead = run.action.leadID { values[TemplateVocabulary.leadID] = String(lead) }
        let variables = templates?.flatMap(\.variables).map { TemplateVocabulary.normalize($0.path) }
        if let variables, variables.allSatisfy({ $0 == TemplateVocabulary.leadID }) { return .success(values) }
        guard let lead = run.action.leadID else { return .success(values) }
        let stored = (try? await store.leadValues(tenantID: run.action.tenantID, leadID: lead)) ?? [:]
        values = TemplateValues(stored).merging(values)
        guard run.account != nil else { return .success(values) }
        let read = await run.kommo.getLead(id: lead, account: run.account, logger: run.logger)
        if read.result.outcome == .failedRetryable { return .failure(read.result) }
        guard let entity = read.entity else {
            // The stored values are the best we have; a failed read is in the process log.
            return .success(values)
        }
        var contact: KommoContact?
        let needsContact = variables.map { $0.contains { $0.hasPrefix("contact.") } } ?? true
        if needsContact, let contactID = entity.mainContactID {
            let contactRead = await run.kommo.getContact(id: contactID, account: run.account, logger: run.logger)
            if contactRead.result.outcome == .failedRetryable { return .failure(contactRead.result) }
            contact = contactRead.entity
        }
        return .success(values.merging(entity.templateValues(contact: contact)))
    }

    // MARK: - Helpers

    private func kommoClient(rate: Int) -> KommoClient {
        kommoClients.withLock { clients in
            if let client = clients[rate] { return client }
            let client = KommoClient(
                egress: egress,
                rateLimiter: KommoRateLimiter(configuration: .init(requestsPerWindow: rate, window: .seconds(1))),
                configuration: .init(retry: settings.kommoRetry), renewer: tokenRenewal)
            clients[rate] = client
            return client
        }
    }

    private static func invalid(_ run: Run, _ detail: String) -> ExecutionResult {
        ExecutionResult(operation: run.decoded.type.rawValue, outcome: .failedPermanent, detail: detail)
    }

    /// Renders a JSON template, escaping each inserted value for a JSON string, so that a lead named
    /// `Ann "the" O'Neil` cannot break the payload (or add members to it).
    static func renderJSONEscaped(_ template: Template, values: TemplateValues) -> String {
        var output = ""
        for segment in template.segments {
            switch segment {
            case .literal(let text):
                output += text
            case .variable(let variable):
                let value = values.resolve(variable.path) ?? variable.defaultValue ?? ""
                let quoted = jsonText(.string(value))
                output += quoted.dropFirst().dropLast()
            }
        }
        return output
    }

    static func jsonText(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data(), as: UTF8.self)
    }

    /// The executor's result in the scheduler's terms.
    static func runResult(_ result: ExecutionResult) -> ActionRunResult {
        let status = switch result.outcome {
        case .succeeded: "succeeded"
        case .failedPermanent: "failed"
        case .failedRetryable: "retry"
        case .skipped: "skipped"
        }
        var detail = result.detail ?? result.problem?.summary ?? ""
        if result.outcome == .skipped, detail == SkipReason.noKommoCredentials { detail = "skipped (no Kommo credentials)" }
        return ActionRunResult(status: status, operation: result.operation, target: result.target, requestSummary: result.requestSummary,
                               httpStatus: result.httpStatus, detail: detail, retryAfter: result.retryAfter)
    }
}
