import Domain
import Wire

/// `send_message`: the rule's text, or the agent's script `script_id`, rendered with the lead's values
/// (a missing value blocks the message rather than send a hole), put into the lead's chat, then recorded
/// in the conversation and usage and reported to rules-service. While a manager's reply pauses the
/// agent for the lead (``AgentMessaging``), the message is held and goes out when the pause ends.
package struct ChatMessageExecutor: ActionExecutor {
    package var actionTypes: Set<ActionType> { [.sendMessage] }

    private let delivery: ChatDelivery
    private let templates: LeadTemplates
    private let rules: RulesFeedback
    private let messaging: AgentMessaging

    package init(delivery: ChatDelivery, templates: LeadTemplates, rules: RulesFeedback, messaging: AgentMessaging) {
        self.delivery = delivery
        self.templates = templates
        self.rules = rules
        self.messaging = messaging
    }

    package func execute(_ action: Action, in context: ExecutionContext) async -> ExecutionResult {
        let operation = "chat.send"
        do throws(ExecutionStop) {
            guard let lead = context.leadID else { throw .invalid("send_message needs a lead", in: context) }
            var source = action.text ?? ""
            var script: (id: String, version: Int64)?
            var agentContext: PB.AgentContext?
            if !context.agentID.isEmpty {
                do throws(ExecutionStop) {
                    agentContext = try await rules.agentContext(in: context)
                } catch where error.result.outcome == .failedPermanent && action.scriptID == nil {
                    // The agent is gone (or names none): a rule's plain text still goes out, with no pause to apply.
                    agentContext = nil
                }
                if let agentContext {
                    try await messaging.checkPause(agent: agentContext, lead: lead, operation: operation, in: context)
                }
            }
            if source.isEmpty, let scriptID = action.scriptID {
                let agent: PB.AgentContext
                if let agentContext { agent = agentContext } else { agent = try await rules.agentContext(in: context) }
                guard let found = agent.scripts.first(where: { $0.id == scriptID }) else {
                    return ExecutionResult(operation: operation, outcome: .failedPermanent,
                                           detail: "script \(scriptID) is not among the agent's scripts for this stage")
                }
                source = found.body
                script = (found.id, found.version)
            }
            guard !source.isEmpty else { throw .invalid("send_message needs text or script_id", in: context) }
            let text = try await templates.render(source, policy: .block, operation: operation, in: context)
            try await delivery.checkPlan(aiReply: false, operation: operation, in: context)
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
