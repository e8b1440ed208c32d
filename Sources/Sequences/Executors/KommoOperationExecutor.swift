import Domain
import Wire

/// `kommo_action`: any Kommo operation by name, with string parameters as the rule editor writes them.
/// Operations that have an action type of their own run exactly as that type does (through the task and
/// lead executors); the others — lead and contact updates, Salesbot runs, task completion — are here.
package struct KommoOperationExecutor: ActionExecutor {
    package var actionTypes: Set<ActionType> { [.kommoAction] }

    private let tasks: KommoTaskExecutor
    private let leads: KommoLeadExecutor
    private let templates: LeadTemplates
    private let rules: RulesFeedback

    package init(tasks: KommoTaskExecutor, leads: KommoLeadExecutor, templates: LeadTemplates, rules: RulesFeedback) {
        self.tasks = tasks
        self.leads = leads
        self.templates = templates
        self.rules = rules
    }

    package func execute(_ action: Action, in context: ExecutionContext) async -> ExecutionResult {
        guard let operation = action.operation else { return ExecutionStop.invalid("kommo_action needs operation", in: context).result }
        let parameters = Parameters(values: action.parameters ?? [:])
        switch operation {
        case .changeStage:
            guard let stage = parameters.integer("status_id") else { return ExecutionStop.invalid("change_stage needs status_id", in: context).result }
            return await leads.changeStage(to: stage, pipeline: parameters.integer("pipeline_id"), in: context)
        case .setField:
            guard let field = parameters.values["field"] else { return ExecutionStop.invalid("set_field needs field", in: context).result }
            return await leads.setField(field, to: parameters.values["value"] ?? "", in: context)
        case .addTags, .removeTags:
            return await leads.tags(add: operation == .addTags, parameters.list("tags"), in: context)
        case .createTask:
            return await tasks.createTask(text: parameters.values["text"] ?? "", dueIn: parameters.integer("due_in_seconds").map(Int.init),
                                          taskType: parameters.integer("task_type").map(Int.init),
                                          responsible: parameters.integer("responsible_user_id"), in: context)
        case .addNote:
            return await leads.addNote(text: parameters.values["text"] ?? "", in: context)
        case .completeTask:
            guard context.kommoConnection != nil else { return .skipped("kommo.complete_task", reason: SkipReason.noKommoCredentials) }
            guard let task = parameters.integer("task_id") else { return ExecutionStop.invalid("complete_task needs task_id", in: context).result }
            return await tasks.completeTask(id: task, resultText: parameters.values["result"], in: context)
        case .runSalesbot:
            guard let connection = context.kommoConnection else { return .skipped("kommo.run_salesbot", reason: SkipReason.noKommoCredentials) }
            guard let bot = parameters.integer("bot_id"), let lead = context.leadID else {
                return ExecutionStop.invalid("run_salesbot needs bot_id and a lead", in: context).result
            }
            return await context.kommo.runSalesbot(botID: bot, leadID: lead, account: connection, logger: context.logger)
        case .changeResponsible:
            return await leads.changeResponsible(to: parameters.integer("responsible_user_id"), in: context)
        case .updateLead:
            return await updateLead(parameters, in: context)
        case .updateContact:
            return await updateContact(parameters, in: context)
        }
    }

    // MARK: - Parameters

    /// The operation's parameters, read as the types Kommo wants.
    struct Parameters {
        var values: [String: String]

        /// A whole number, spaces around it allowed.
        func integer(_ key: String) -> Int64? { values[key].flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) } }

        /// A comma-separated list.
        func list(_ key: String) -> [String] { (values[key] ?? "").split(separator: ",").map { String($0) } }
    }

    /// The text parameters rendered with the lead's values, and the custom fields (`cf.<id>`) among them.
    private func fieldValues(_ parameters: Parameters, operation: String, in context: ExecutionContext)
        async throws(ExecutionStop) -> (text: [String: String], fields: [KommoFieldUpdate]) {
        var text: [String: String] = [:]
        var fields: [KommoFieldUpdate] = []
        for (name, source) in parameters.values.sorted(by: { $0.key < $1.key }) where !KommoOperation.integerParameters.contains(name) {
            let value = try await templates.render(source, policy: .useDefaultOrEmpty, operation: operation, in: context)
            if let fieldID = KommoOperation.customFieldID(name) {
                fields.append(KommoFieldUpdate(fieldID: fieldID, values: value.isEmpty ? [] : [.text(value)]))
            } else {
                text[name] = value
            }
        }
        return (text, fields)
    }

    // MARK: - Updates

    private func updateLead(_ parameters: Parameters, in context: ExecutionContext) async -> ExecutionResult {
        let operation = "kommo.update_lead"
        do throws(ExecutionStop) {
            let (connection, lead) = try leads.target(operation, "update_lead", in: context)
            let values = try await fieldValues(parameters, operation: operation, in: context)
            let changes = KommoLeadChanges(name: values.text["name"], price: parameters.integer("price"), statusID: parameters.integer("status_id"),
                                           pipelineID: parameters.integer("pipeline_id"),
                                           responsibleUserID: parameters.integer("responsible_user_id"), customFields: values.fields)
            guard changes != KommoLeadChanges() else { throw .invalid("update_lead names no field to change", in: context) }
            let result = await context.kommo.updateLead(leadID: lead, changes, account: connection, logger: context.logger)
            if result.succeeded {
                var writes: [PB.OwnWrite] = []
                if let stage = changes.statusID { writes.append(rules.ownWrite(kind: .stageChange, value: String(stage), in: context)) }
                for name in parameters.values.keys.sorted() where name != "status_id" {
                    let value = values.text[name] ?? parameters.values[name] ?? ""
                    writes.append(rules.ownWrite(kind: .field, value: "\(name)=\(value)", in: context))
                }
                await rules.report(writes, in: context)
            }
            return result
        } catch {
            return error.result
        }
    }

    private func updateContact(_ parameters: Parameters, in context: ExecutionContext) async -> ExecutionResult {
        let operation = "kommo.update_contact"
        guard let connection = context.kommoConnection else { return .skipped(operation, reason: SkipReason.noKommoCredentials) }
        do throws(ExecutionStop) {
            let contactID: Int64
            if let named = parameters.integer("contact_id") {
                contactID = named
            } else {
                // The lead's main contact, read fresh: a contact linked since the last event counts.
                guard let lead = context.leadID else { throw .invalid("update_contact needs contact_id or a lead", in: context) }
                let read = await context.kommo.getLead(id: lead, account: connection, logger: context.logger)
                guard read.result.succeeded else { throw ExecutionStop(read.result) }
                guard let main = read.entity?.mainContactID else {
                    throw ExecutionStop(ExecutionResult(operation: operation, outcome: .failedPermanent, detail: "lead \(lead) has no contact to update"))
                }
                contactID = main
            }
            let values = try await fieldValues(parameters, operation: operation, in: context)
            let changes = KommoContactChanges(name: values.text["name"], firstName: values.text["first_name"], lastName: values.text["last_name"],
                                              responsibleUserID: parameters.integer("responsible_user_id"), customFields: values.fields)
            guard changes != KommoContactChanges() else { throw .invalid("update_contact names no field to change", in: context) }
            return await context.kommo.updateContact(contactID: contactID, changes, account: connection, logger: context.logger)
        } catch {
            return error.result
        }
    }
}
