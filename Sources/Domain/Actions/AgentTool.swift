/// A tool the model may call in an AI reply (OpenAI-compatible `tools`). Which ones an agent offers, and
/// the custom fields and stages they may touch, is the agent's `ai_actions`; each call is checked against
/// them and becomes an ordinary action (``Action``) run by the same executors as a rule's.
package enum AgentTool: String, Sendable, Hashable, Codable, CaseIterable {
    /// Set custom fields of the lead (`set_field`… as one `kommo_action` `update_lead`).
    case updateLeadFields = "update_lead_fields"
    /// Move the lead to a stage (`change_stage`).
    case moveToStage = "move_to_stage"
    /// Create a task (`create_task`).
    case createTask = "create_task"
    /// Tag the lead (`add_tags`).
    case addTags = "add_tags"
    /// Hand the conversation to a person: a task for the lead's responsible user, and the agent paused for
    /// the lead as after a manager's reply.
    case handOff = "hand_off"

    /// Keywords in field problems ("must be one of …").
    package static var list: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
