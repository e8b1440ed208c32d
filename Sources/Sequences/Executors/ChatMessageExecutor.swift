import Domain

/// `send_message`: the rule's text, or the agent's script `script_id`, rendered with the lead's values
/// (a missing value blocks the message rather than send a hole), put into the lead's chat, then recorded
/// in the conversation and usage and reported to rules-service.
package struct ChatMessageExecutor: ActionExecutor {
    package var actionTypes: Set<ActionType> { [.sendMessage] }

    private let delivery: ChatDelivery
    private let templates: LeadTemplates
    private let rules: RulesFeedback

    package init(delivery: ChatDelivery, templates: LeadTemplates, rules: RulesFeedback) {
        self.delivery = delivery
        self.templates = templates
        self.rules = rules
    }

    package func execute(_ action: Action, in context: ExecutionContext) async -> ExecutionResult {
        let operation = "chat.send"
        do throws(ExecutionStop) {
            guard let lead = context.leadID else { throw .invalid("send_message needs a lead", in: context) }
            var source = action.text ?? ""
            var script: (id: String, version: Int64)?
            if source.isEmpty, let scriptID = action.scriptID {
                let agent = try await rules.agentContext(in: context)
                guard let found = agent.scripts.first(where: { $0.id == scriptID }) else {
                    return ExecutionResult(operation: operation, outcome: .failedPermanent,
                                           detail: "script \(scriptID) is not among the agent's scripts for this stage")
                }
                source = found.body
                script = (found.id, found.version)
            }
            guard !source.isEmpty else { throw .invalid("send_message needs text or script_id", in: context) }
            let text = try await templates.render(source, policy: .block, operation: operation, in: context)
            let result = await delivery.send(text, to: lead, in: context)
            if result.succeeded {
                await delivery.recordSent(text, to: lead, aiReply: false, in: context)
                let uses = script.map { [rules.scriptUse(id: $0.id, version: $0.version, in: context)] } ?? []
                await rules.report([rules.ownWrite(kind: .message, value: text, in: context)], uses: uses, in: context)
            }
            return result
        } catch {
            return error.result
        }
    }
}
