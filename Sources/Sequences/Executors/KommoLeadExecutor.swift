import Domain

/// Kommo writes to the lead: notes, stage moves, custom fields and tags. Each write that succeeds is
/// reported to rules-service as our own, so that its echo does not fire rules again.
package struct KommoLeadExecutor: ActionExecutor {
    package var actionTypes: Set<ActionType> { [.addNote, .changeStage, .setField, .addTags, .removeTags] }

    private let templates: LeadTemplates
    private let rules: RulesFeedback

    package init(templates: LeadTemplates, rules: RulesFeedback) {
        self.templates = templates
        self.rules = rules
    }

    package func execute(_ action: Action, in context: ExecutionContext) async -> ExecutionResult {
        switch action.type {
        case .addNote:
            return await addNote(text: action.text ?? "", in: context)
        case .changeStage:
            guard let stage = action.stageID else { return ExecutionStop.invalid("change_stage needs stage_id", in: context).result }
            return await changeStage(to: stage, pipeline: action.pipelineID, in: context)
        case .setField:
            guard let field = action.field else { return ExecutionStop.invalid("set_field needs field", in: context).result }
            return await setField(field, to: action.value ?? "", in: context)
        case .addTags, .removeTags:
            return await tags(add: action.type == .addTags, action.tags ?? [], in: context)
        default:
            return ExecutionStop.invalid("\(action.type.rawValue) is not a Kommo lead write", in: context).result
        }
    }

    // MARK: - Writes

    /// What each write needs before anything is sent: the tenant's connection (or the action is skipped)
    /// and a lead.
    func target(_ operation: String, _ name: String, in context: ExecutionContext) throws(ExecutionStop)
        -> (connection: KommoConnection, lead: Int64) {
        guard let connection = context.kommoConnection else { throw .skipped(operation, reason: SkipReason.noKommoCredentials) }
        guard let lead = context.leadID else { throw .invalid("\(name) needs a lead", in: context) }
        return (connection, lead)
    }

    func addNote(text source: String, in context: ExecutionContext) async -> ExecutionResult {
        let operation = "kommo.add_note"
        do throws(ExecutionStop) {
            let (connection, lead) = try target(operation, "add_note", in: context)
            let text = try await templates.render(source, policy: .useDefaultOrEmpty, operation: operation, in: context)
            let result = await context.kommo.addNote(leadID: lead, text: text, requestID: context.idempotencyKey, account: connection,
                                                    logger: context.logger)
            if result.succeeded { await rules.report(kind: .note, value: text, in: context) }
            return result
        } catch {
            return error.result
        }
    }

    func changeStage(to stage: Int64, pipeline: Int64?, in context: ExecutionContext) async -> ExecutionResult {
        do throws(ExecutionStop) {
            let (connection, lead) = try target("kommo.change_stage", "change_stage", in: context)
            let result = await context.kommo.changeStage(leadID: lead, statusID: stage, pipelineID: pipeline, account: connection,
                                                         logger: context.logger)
            if result.succeeded { await rules.report(kind: .stageChange, value: String(stage), in: context) }
            return result
        } catch {
            return error.result
        }
    }

    func setField(_ field: String, to source: String, in context: ExecutionContext) async -> ExecutionResult {
        let operation = "kommo.set_fields"
        do throws(ExecutionStop) {
            let (connection, lead) = try target(operation, "set_field", in: context)
            // Kommo writes custom fields by id; names would need the account's field list.
            guard let ref = FieldRef(field), ref.entity == .lead, ref.isCustom, let fieldID = Int64(ref.key) else {
                return ExecutionResult(operation: operation, outcome: .failedPermanent,
                                       detail: "set_field can write lead custom fields by id (cf.<id>); \(field) is not one")
            }
            let text = try await templates.render(source, policy: .useDefaultOrEmpty, operation: operation, in: context)
            let update = KommoFieldUpdate(fieldID: fieldID, values: text.isEmpty ? [] : [.text(text)])
            let result = await context.kommo.setCustomFields(leadID: lead, [update], account: connection, logger: context.logger)
            if result.succeeded { await rules.report(kind: .field, value: "\(field)=\(text)", in: context) }
            return result
        } catch {
            return error.result
        }
    }

    func tags(add: Bool, _ tags: [String], in context: ExecutionContext) async -> ExecutionResult {
        let operation = add ? "kommo.add_tags" : "kommo.remove_tags"
        do throws(ExecutionStop) {
            let (connection, lead) = try target(operation, operation, in: context)
            let names = tags.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !names.isEmpty else { throw .invalid("no tags given", in: context) }
            return add
                ? await context.kommo.addTags(leadID: lead, names, account: connection, logger: context.logger)
                : await context.kommo.removeTags(leadID: lead, names, account: connection, logger: context.logger)
        } catch {
            return error.result
        }
    }

    /// Reassigns the lead; what `kommo_action` `change_responsible` runs.
    func changeResponsible(to user: Int64?, in context: ExecutionContext) async -> ExecutionResult {
        do throws(ExecutionStop) {
            let (connection, lead) = try target("kommo.change_responsible", "change_responsible", in: context)
            guard let user else { throw .invalid("change_responsible needs responsible_user_id", in: context) }
            let result = await context.kommo.changeResponsible(leadID: lead, userID: user, account: connection, logger: context.logger)
            if result.succeeded { await rules.report(kind: .field, value: "responsible_user_id=\(user)", in: context) }
            return result
        } catch {
            return error.result
        }
    }
}
