import Foundation

// MARK: - Action

/// What an action does.
package enum ActionType: String, RuleKeyword {
    /// Send a chat message: `text` (a template) or `script_id`.
    case sendMessage = "send_message"
    /// Let the AI agent answer; `instructions` and `script_id` are optional guidance.
    case aiResponse = "ai_response"
    /// Create a Kommo task: `text`, `due_in_seconds`, optional `task_type`, `responsible_user_id`.
    case createTask = "create_task"
    /// Add a note to the lead: `text`.
    case addNote = "add_note"
    /// Move the lead: `stage_id`, optional `pipeline_id`.
    case changeStage = "change_stage"
    /// Set a lead field: `field` (see `FieldRef`), `value`.
    case setField = "set_field"
    /// Add `tags` to the lead.
    case addTags = "add_tags"
    /// Remove `tags` from the lead.
    case removeTags = "remove_tags"
    /// Call an outside system: `url`, optional `payload_template`.
    case webhook
    /// Enrol the lead in `sequence_id`.
    case startSequence = "start_sequence"
    /// Stop `sequence_id` for the lead, or every sequence when absent.
    case stopSequence = "stop_sequence"
    /// Any Kommo operation by name: `operation`, `parameters`.
    case kommoAction = "kommo_action"

    /// Names the word in decoding errors.
    package static var keywordKind: String { "action type" }

    /// The keys this type reads; any other key set on an action of this type is reported by validation,
    /// because a value that is silently ignored is a bug waiting in the editor.
    package var usedKeys: Set<Action.CodingKeys> {
        switch self {
        case .sendMessage: [.text, .scriptID]
        case .aiResponse: [.instructions, .scriptID]
        case .createTask: [.text, .dueInSeconds, .taskType, .responsibleUserID]
        case .addNote: [.text]
        case .changeStage: [.stageID, .pipelineID]
        case .setField: [.field, .value]
        case .addTags, .removeTags: [.tags]
        case .webhook: [.url, .payloadTemplate]
        case .startSequence, .stopSequence: [.sequenceID]
        case .kommoAction: [.operation, .parameters]
        }
    }
}

/// One step of a rule's output. A flat object; the keys that matter depend on `type` (see `ActionType`):
///
/// ```json
/// {"type": "create_task", "text": "Call {{lead.name}}", "due_in_seconds": 3600, "task_type": 1, "responsible_user_id": 42}
/// {"type": "change_stage", "pipeline_id": 7001, "stage_id": 502}
/// {"type": "webhook", "url": "https://example.com/hook", "payload_template": "{\"lead\": \"{{lead.id}}\"}"}
/// {"type": "kommo_action", "operation": "change_responsible", "parameters": {"responsible_user_id": "42"}}
/// ```
///
/// Templates (`text`, `instructions`, `payload_template`) are rendered by the executor when the action runs,
/// so they see fresh data; here they are only checked for balanced `{{ }}`.
package struct Action: Sendable, Hashable, Codable {
    /// What the action does.
    package var type: ActionType
    /// Message, task or note text (a template).
    package var text: String?
    /// A sales script to send or to guide the AI.
    package var scriptID: String?
    /// Extra instructions for the AI (a template).
    package var instructions: String?
    /// Task deadline, relative to when the action runs.
    package var dueInSeconds: Int?
    /// Kommo `task_type_id` (1 call, 2 meeting, or an account's own type).
    package var taskType: Int?
    /// Kommo user to assign the task to.
    package var responsibleUserID: Int64?
    /// Target stage of `change_stage`.
    package var stageID: Int64?
    /// Target pipeline of `change_stage` (the lead's current one when absent).
    package var pipelineID: Int64?
    /// Field reference of `set_field`.
    package var field: String?
    /// New value of `set_field` (may be empty to clear).
    package var value: String?
    /// Tags to add or remove.
    package var tags: [String]?
    /// Webhook URL (http or https).
    package var url: String?
    /// Webhook body template.
    package var payloadTemplate: String?
    /// Sequence to start or stop.
    package var sequenceID: String?
    /// Kommo operation of `kommo_action`.
    package var operation: KommoOperation?
    /// Parameters of the Kommo operation; values are strings, as Kommo's are.
    package var parameters: [String: String]?

    /// Creates an action; set only the fields its type uses.
    package init(
        type: ActionType, text: String? = nil, scriptID: String? = nil, instructions: String? = nil,
        dueInSeconds: Int? = nil, taskType: Int? = nil, responsibleUserID: Int64? = nil,
        stageID: Int64? = nil, pipelineID: Int64? = nil, field: String? = nil, value: String? = nil,
        tags: [String]? = nil, url: String? = nil, payloadTemplate: String? = nil, sequenceID: String? = nil,
        operation: KommoOperation? = nil, parameters: [String: String]? = nil
    ) {
        self.type = type; self.text = text; self.scriptID = scriptID; self.instructions = instructions
        self.dueInSeconds = dueInSeconds; self.taskType = taskType; self.responsibleUserID = responsibleUserID
        self.stageID = stageID; self.pipelineID = pipelineID; self.field = field; self.value = value
        self.tags = tags; self.url = url; self.payloadTemplate = payloadTemplate; self.sequenceID = sequenceID
        self.operation = operation; self.parameters = parameters
    }

    /// The JSON keys of an action.
    package enum CodingKeys: String, CodingKey, CaseIterable {
        case type, text, scriptID = "script_id", instructions, dueInSeconds = "due_in_seconds"
        case taskType = "task_type", responsibleUserID = "responsible_user_id", stageID = "stage_id"
        case pipelineID = "pipeline_id", field, value, tags, url, payloadTemplate = "payload_template"
        case sequenceID = "sequence_id", operation, parameters
    }

    /// Decodes an action; `value` and `parameters` accept numbers and booleans as well as strings.
    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decode(ActionType.self, forKey: .type)
        text = try c.decodeIfPresent(String.self, forKey: .text)
        scriptID = try c.decodeIfPresent(String.self, forKey: .scriptID)
        instructions = try c.decodeIfPresent(String.self, forKey: .instructions)
        dueInSeconds = try c.decodeIfPresent(Int.self, forKey: .dueInSeconds)
        taskType = try c.decodeIfPresent(Int.self, forKey: .taskType)
        responsibleUserID = try c.decodeIfPresent(Int64.self, forKey: .responsibleUserID)
        stageID = try c.decodeIfPresent(Int64.self, forKey: .stageID)
        pipelineID = try c.decodeIfPresent(Int64.self, forKey: .pipelineID)
        field = try c.decodeIfPresent(String.self, forKey: .field)
        value = try c.decodeLooseStringIfPresent(forKey: .value)
        tags = try c.decodeIfPresent([String].self, forKey: .tags)
        url = try c.decodeIfPresent(String.self, forKey: .url)
        payloadTemplate = try c.decodeIfPresent(String.self, forKey: .payloadTemplate)
        sequenceID = try c.decodeIfPresent(String.self, forKey: .sequenceID)
        operation = try c.decodeIfPresent(KommoOperation.self, forKey: .operation)
        parameters = try c.decodeLooseDictionaryIfPresent(forKey: .parameters)
    }

    /// The keys that carry a value on this action (`type` excluded).
    package var setKeys: [CodingKeys] {
        var keys: [CodingKeys] = []
        if text != nil { keys.append(.text) }
        if scriptID != nil { keys.append(.scriptID) }
        if instructions != nil { keys.append(.instructions) }
        if dueInSeconds != nil { keys.append(.dueInSeconds) }
        if taskType != nil { keys.append(.taskType) }
        if responsibleUserID != nil { keys.append(.responsibleUserID) }
        if stageID != nil { keys.append(.stageID) }
        if pipelineID != nil { keys.append(.pipelineID) }
        if field != nil { keys.append(.field) }
        if value != nil { keys.append(.value) }
        if tags != nil { keys.append(.tags) }
        if url != nil { keys.append(.url) }
        if payloadTemplate != nil { keys.append(.payloadTemplate) }
        if sequenceID != nil { keys.append(.sequenceID) }
        if operation != nil { keys.append(.operation) }
        if parameters != nil { keys.append(.parameters) }
        return keys
    }
}

// MARK: - Kommo operations

/// The Kommo operations a `kommo_action` can run, with the parameters each needs.
package enum KommoOperation: String, RuleKeyword {
    /// `PATCH /api/v4/leads/{id}` with the given fields: `name`, `price`, `status_id`, `pipeline_id`,
    /// `responsible_user_id`, and custom fields by id as `cf.<field id>`.
    case updateLead = "update_lead"
    /// Move the lead: `status_id`, optional `pipeline_id`.
    case changeStage = "change_stage"
    /// Reassign the lead: `responsible_user_id`.
    case changeResponsible = "change_responsible"
    /// Set a field: `field`, `value`.
    case setField = "set_field"
    /// Add tags: `tags` (comma-separated).
    case addTags = "add_tags"
    /// Remove tags: `tags` (comma-separated).
    case removeTags = "remove_tags"
    /// Create a task: `text`, `due_in_seconds`, optional `task_type`, `responsible_user_id`.
    case createTask = "create_task"
    /// Complete a task: `task_id`, optional `result`.
    case completeTask = "complete_task"
    /// Add a note: `text`.
    case addNote = "add_note"
    /// Run a Salesbot on the lead: `bot_id`.
    case runSalesbot = "run_salesbot"
    /// `PATCH /api/v4/contacts/{id}` with the given fields: `name`, `first_name`, `last_name`,
    /// `responsible_user_id`, and `cf.<field id>`; the lead's main contact unless `contact_id` names one.
    case updateContact = "update_contact"

    /// Names the word in decoding errors.
    package static var keywordKind: String { "Kommo operation" }

    /// Parameters that must be present.
    package var requiredParameters: [String] {
        switch self {
        case .updateLead, .updateContact: []
        case .changeStage: ["status_id"]
        case .changeResponsible: ["responsible_user_id"]
        case .setField: ["field", "value"]
        case .addTags, .removeTags: ["tags"]
        case .createTask: ["text", "due_in_seconds"]
        case .completeTask: ["task_id"]
        case .addNote: ["text"]
        case .runSalesbot: ["bot_id"]
        }
    }

    /// Parameters that, when present, must be integers (Kommo ids and durations).
    package static let integerParameters: Set<String> = [
        "status_id", "pipeline_id", "responsible_user_id", "due_in_seconds", "task_type", "task_id", "bot_id", "price", "contact_id",
    ]

    /// The parameters an operation that sets fields accepts (besides custom fields, `cf.<field id>`);
    /// `nil` for operations whose parameters are only those they require or document.
    package var fieldParameters: [String]? {
        switch self {
        case .updateLead: ["name", "price", "status_id", "pipeline_id", "responsible_user_id"]
        case .updateContact: ["contact_id", "name", "first_name", "last_name", "responsible_user_id"]
        default: nil
        }
    }

    /// The custom field id a parameter such as `cf.123` names, for operations that set fields.
    package static func customFieldID(_ parameter: String) -> Int64? {
        guard parameter.lowercased().hasPrefix("cf."), let id = Int64(parameter.dropFirst(3)), id > 0 else { return nil }
        return id
    }

    /// Operations whose parameter list must not be empty because they name nothing to change otherwise.
    package var needsSomeParameter: Bool { self == .updateLead || self == .updateContact }
}
