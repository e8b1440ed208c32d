import Basics
import Domain
import Foundation
import ServiceKit
import Wire

/// One tool call the model made in an AI reply, as it wrote it.
package struct AIToolCall: Sendable, Hashable {
    /// The model's id of the call.
    package var id: String
    /// The tool's name.
    package var name: String
    /// The arguments: a JSON object in a string, as the model wrote it (possibly not JSON at all).
    package var arguments: String

    package init(id: String, name: String, arguments: String) {
        self.id = id; self.name = name; self.arguments = arguments
    }
}

/// What an agent's `ai_actions` allow an AI reply to do, and how a tool call the model makes becomes an
/// ordinary action — or is refused.
///
/// The model is offered only the tools in the policy, each with a JSON schema that lists the allowed ids
/// (with their names from the Kommo catalog when it is known); a call is still checked in full, because a
/// model may write anything: an unknown tool, a field or stage outside the policy or missing from the
/// account, arguments that are not the schema's. What passes becomes the ``Action`` a rule would have
/// planned (`kommo_action` `update_lead` with `cf.<id>` parameters, `change_stage`, `create_task`,
/// `add_tags`), run later by the same executors under its own idempotency key.
package struct AIToolPolicy: Sendable, Hashable {
    package var tools: [AgentTool]
    package var fieldIDs: [Int64]
    package var stageIDs: [Int64]

    /// Longest task text, hand-off reason and tag the model may write.
    package static let maximumText = 1_000
    package static let maximumTag = 100
    /// Most tags and fields one call may carry.
    package static let maximumItems = 20
    /// Latest a task the model creates may be due: 30 days.
    package static let maximumDueSeconds = 30 * 86_400

    package init(tools: [AgentTool] = [], fieldIDs: [Int64] = [], stageIDs: [Int64] = []) {
        self.tools = tools; self.fieldIDs = fieldIDs; self.stageIDs = stageIDs
    }

    /// The policy an agent context carries.
    package init(_ agent: PB.AgentContext) {
        self.init(tools: agent.aiTools.compactMap { AgentTool(rawValue: $0.name) }, fieldIDs: agent.aiFieldIds, stageIDs: agent.aiStageIds)
    }

    // MARK: - Offered tools

    /// The OpenAI-compatible `tools` for the policy; empty when it allows none.
    package func schemas(catalog: KommoCatalogIndex?) -> [JSONValue] {
        func named(_ kind: KommoIDKind, _ id: Int64) -> String {
            catalog?.name(kind, id).map { "\(id) (\($0))" } ?? String(id)
        }
        return tools.map { tool in
            let (description, properties, required): (String, [String: JSONValue], [String]) = switch tool {
            case .updateLeadFields:
                ("Write values the client stated into the lead's fields. Fields you may set: "
                 + fieldIDs.map { named(.leadField, $0) }.joined(separator: ", ") + ".",
                 ["fields": ["type": "array", "maxItems": .int(Int64(Self.maximumItems)), "items": [
                    "type": "object", "required": ["field_id", "value"],
                    "properties": ["field_id": ["type": "integer", "enum": .array(fieldIDs.map(JSONValue.int))],
                                   "value": ["type": "string"]]]]],
                 ["fields"])
            case .moveToStage:
                ("Move the lead to another stage of the sales pipeline. Stages you may move to: "
                 + stageIDs.map { named(.stage, $0) }.joined(separator: ", ") + ".",
                 ["stage_id": ["type": "integer", "enum": .array(stageIDs.map(JSONValue.int))]], ["stage_id"])
            case .createTask:
                ("Create a task for the lead's manager, e.g. to call the client back.",
                 ["text": ["type": "string", "maxLength": .int(Int64(Self.maximumText))],
                  "due_in_seconds": ["type": "integer", "minimum": 0, "maximum": .int(Int64(Self.maximumDueSeconds))]],
                 ["text"])
            case .addTags:
                ("Tag the lead.", ["tags": ["type": "array", "maxItems": .int(Int64(Self.maximumItems)), "items": ["type": "string"]]], ["tags"])
            case .handOff:
                ("Hand the conversation to a person when the client asks for one or you cannot help: the manager gets a task "
                 + "and you stop replying to this client.",
                 ["reason": ["type": "string", "maxLength": .int(Int64(Self.maximumText))]], ["reason"])
            }
            return ["type": "function", "function": [
                "name": .string(tool.rawValue), "description": .string(description),
                "parameters": ["type": "object", "properties": .object(properties), "required": .array(required.map(JSONValue.string))],
            ]]
        }
    }

    // MARK: - Decisions

    /// What becomes of one call.
    package enum Decision: Sendable, Hashable {
        /// Run as this action.
        case action(Action)
        /// Run as this action (the manager's task), and pause the agent for the lead.
        case handOff(Action, reason: String)
        /// Not run, for this reason.
        case refused(String)
    }

    /// Checks `call` against the policy and the account's catalog (when known) and turns it into an action;
    /// a hand-off's task goes to `responsibleUserID` (the lead's responsible user) when known.
    package func decide(_ call: AIToolCall, catalog: KommoCatalogIndex?, responsibleUserID: Int64? = nil) -> Decision {
        guard let tool = AgentTool(rawValue: call.name) else { return .refused("\(call.name) is not a tool") }
        guard tools.contains(tool) else { return .refused("\(tool.rawValue) is not in the agent's ai_actions.tools") }
        guard let arguments = JSONValue(parsing: call.arguments), case .object = arguments else {
            return .refused("the arguments are not a JSON object")
        }
        switch tool {
        case .updateLeadFields:
            guard let fields = arguments["fields"]?.array, !fields.isEmpty else { return .refused("fields must be a non-empty array") }
            guard fields.count <= Self.maximumItems else { return .refused("at most \(Self.maximumItems) fields at once") }
            var parameters: [String: String] = [:]
            for field in fields {
                guard case .int(let id)? = field["field_id"], let value = field["value"], value.isNumber || value.isString else {
                    return .refused("each field needs an integer field_id and a value")
                }
                guard fieldIDs.contains(id) else { return .refused("field \(id) is not in the agent's ai_actions.field_ids") }
                if let catalog, catalog.name(.leadField, id) == nil { return .refused("field \(id) is not a lead field of the Kommo account") }
                let text = value.string ?? ""
                guard text.count <= Self.maximumText, !text.contains("{{") else { return .refused("the value of field \(id) is not plain text of at most \(Self.maximumText) characters") }
                parameters["cf.\(id)"] = text
            }
            return .action(Action(type: .kommoAction, operation: .updateLead, parameters: parameters))
        case .moveToStage:
            guard case .int(let stage)? = arguments["stage_id"] else { return .refused("stage_id must be an integer") }
            guard stageIDs.contains(stage) else { return .refused("stage \(stage) is not in the agent's ai_actions.stage_ids") }
            var pipeline: Int64?
            if let catalog {
                guard let candidates = catalog.stages[stage], !candidates.isEmpty else { return .refused("stage \(stage) is not in the Kommo account") }
                pipeline = candidates.count == 1 ? candidates[0].pipelineID : nil
            }
            return .action(Action(type: .changeStage, stageID: stage, pipelineID: pipeline))
        case .createTask:
            guard let text = Self.plainText(arguments["text"]) else {
                return .refused("text must be plain text of 1…\(Self.maximumText) characters")
            }
            var due = 0
            if let value = arguments["due_in_seconds"], value != .null {
                guard case .int(let seconds) = value, (0...Int64(Self.maximumDueSeconds)).contains(seconds) else {
                    return .refused("due_in_seconds must be an integer in 0…\(Self.maximumDueSeconds)")
                }
                due = Int(seconds)
            }
            return .action(Action(type: .createTask, text: text, dueInSeconds: due))
        case .addTags:
            guard let items = arguments["tags"]?.array, !items.isEmpty, items.count <= Self.maximumItems else {
                return .refused("tags must be an array of 1…\(Self.maximumItems) names")
            }
            var tags: [String] = []
            for item in items {
                guard case .string(let tag) = item, !TextFold.isBlank(tag), tag.count <= Self.maximumTag, !tag.contains("{{") else {
                    return .refused("each tag must be a name of at most \(Self.maximumTag) characters")
                }
                tags.append(String(TextFold.trim(tag)))
            }
            return .action(Action(type: .addTags, tags: tags))
        case .handOff:
            guard let reason = Self.plainText(arguments["reason"]) else {
                return .refused("reason must be plain text of 1…\(Self.maximumText) characters")
            }
            return .handOff(Action(type: .createTask, text: "The AI agent handed the conversation over: \(reason)", dueInSeconds: 0,
                                   responsibleUserID: responsibleUserID),
                            reason: reason)
        }
    }

    /// A non-blank string without template braces, at most ``maximumText`` characters.
    private static func plainText(_ value: JSONValue?) -> String? {
        guard case .string(let text)? = value, !TextFold.isBlank(text), text.count <= maximumText, !text.contains("{{") else { return nil }
        return String(TextFold.trim(text))
    }
}

private extension JSONValue {
    var isString: Bool { if case .string = self { true } else { false } }
}
