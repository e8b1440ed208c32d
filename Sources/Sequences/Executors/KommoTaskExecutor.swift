import Domain
import ServiceKit

/// Kommo tasks: `create_task` creates one on the lead, due `due_in_seconds` after the run, with the text
/// rendered from the lead's values; Kommo gets the action's key as the task's `request_id`.
package struct KommoTaskExecutor: ActionExecutor {
    package var actionTypes: Set<ActionType> { [.createTask] }

    private let templates: LeadTemplates
    private let clock: any WallClock

    package init(templates: LeadTemplates, clock: any WallClock) {
        self.templates = templates
        self.clock = clock
    }

    package func execute(_ action: Action, in context: ExecutionContext) async -> ExecutionResult {
        await createTask(text: action.text ?? "", dueIn: action.dueInSeconds, taskType: action.taskType,
                         responsible: action.responsibleUserID, in: context)
    }

    /// Creates the task; also what `kommo_action` `create_task` runs.
    func createTask(text source: String, dueIn: Int?, taskType: Int?, responsible: Int64?,
                    in context: ExecutionContext) async -> ExecutionResult {
        let operation = "kommo.create_task"
        guard let connection = context.kommoConnection else { return .skipped(operation, reason: SkipReason.noKommoCredentials) }
        let text: String
        do throws(ExecutionStop) {
            text = try await templates.render(source, policy: .useDefaultOrEmpty, operation: operation, in: context)
        } catch {
            return error.result
        }
        let due = Int64(clock.now().timeIntervalSince1970) + Int64(max(0, dueIn ?? 0))
        let draft = KommoTaskDraft(text: text.isEmpty ? "Follow up" : text, completeTill: due, leadID: context.leadID,
                                   taskTypeID: taskType, responsibleUserID: responsible)
        var result = await context.kommo.createTask(draft, idempotencyKey: context.idempotencyKey, account: connection,
                                                    logger: context.logger)
        if result.succeeded, let id = result.createdID { result.detail = result.detail ?? "created task \(id)" }
        return result
    }

    /// Marks task `id` done; what `kommo_action` `complete_task` runs.
    func completeTask(id: Int64, resultText: String?, in context: ExecutionContext) async -> ExecutionResult {
        guard let connection = context.kommoConnection else { return .skipped("kommo.complete_task", reason: SkipReason.noKommoCredentials) }
        return await context.kommo.completeTask(id: id, resultText: resultText, account: connection, logger: context.logger)
    }
}
