import Domain
import Wire

// The one mapping between the domain's `Action` (the users' rule and sequence step document) and the
// wire's `PB.Action` (a oneof of one message per action type). rules-service maps one way, sequence-service
// and the gateway the other; it lives here so that the two directions are written once, next to each other.
// On the wire, 0 or "" in an optional field means absent; in the domain that is nil.

// MARK: - Domain → wire

extension PB.Action {
    /// The wire form of an action. Only the keys its type uses travel (`ActionType.usedKeys`): validation
    /// refuses an action that sets any other.
    package init(_ action: Action) {
        self.init()
        switch action.type {
        case .sendMessage:
            var m = SendMessage()
            m.text = action.text ?? ""
            m.scriptId = action.scriptID ?? ""
            kind = .sendMessage(m)
        case .aiResponse:
            var m = AIResponse()
            m.instructions = action.instructions ?? ""
            m.scriptId = action.scriptID ?? ""
            kind = .aiResponse(m)
        case .createTask:
            var m = CreateTask()
            m.text = action.text ?? ""
            m.dueInSeconds = Int64(action.dueInSeconds ?? 0)
            m.taskType = Int64(action.taskType ?? 0)
            m.responsibleUserId = action.responsibleUserID ?? 0
            kind = .createTask(m)
        case .addNote:
            var m = AddNote()
            m.text = action.text ?? ""
            kind = .addNote(m)
        case .changeStage:
            var m = ChangeStage()
            m.stageId = action.stageID ?? 0
            m.pipelineId = action.pipelineID ?? 0
            kind = .changeStage(m)
        case .setField:
            var m = SetField()
            m.field = action.field ?? ""
            m.value = action.value ?? ""
            kind = .setField(m)
        case .addTags:
            var m = AddTags()
            m.tags = action.tags ?? []
            kind = .addTags(m)
        case .removeTags:
            var m = RemoveTags()
            m.tags = action.tags ?? []
            kind = .removeTags(m)
        case .webhook:
            var m = Webhook()
            m.url = action.url ?? ""
            m.payloadTemplate = action.payloadTemplate ?? ""
            kind = .webhook(m)
        case .startSequence:
            var m = StartSequence()
            m.sequenceId = action.sequenceID ?? ""
            kind = .startSequence(m)
        case .stopSequence:
            var m = StopSequence()
            m.sequenceId = action.sequenceID ?? ""
            kind = .stopSequence(m)
        case .kommoAction:
            var m = KommoAction()
            m.operation = action.operation.map(KommoAction.Operation.init) ?? .unspecified
            m.parameters = action.parameters ?? [:]
            kind = .kommoAction(m)
        }
    }
}

extension PB.Action.KommoAction.Operation {
    package init(_ operation: KommoOperation) {
        self = switch operation {
        case .updateLead: .updateLead
        case .changeStage: .changeStage
        case .changeResponsible: .changeResponsible
        case .setField: .setField
        case .addTags: .addTags
        case .removeTags: .removeTags
        case .createTask: .createTask
        case .completeTask: .completeTask
        case .addNote: .addNote
        case .runSalesbot: .runSalesbot
        case .updateContact: .updateContact
        }
    }
}

// MARK: - Wire → domain

extension PB.Action {
    /// The action type the set oneof member stands for; nil when none is set.
    package var actionType: ActionType? {
        switch kind {
        case .sendMessage: .sendMessage
        case .aiResponse: .aiResponse
        case .createTask: .createTask
        case .addNote: .addNote
        case .changeStage: .changeStage
        case .setField: .setField
        case .addTags: .addTags
        case .removeTags: .removeTags
        case .webhook: .webhook
        case .startSequence: .startSequence
        case .stopSequence: .stopSequence
        case .kommoAction: .kommoAction
        case nil: nil
        }
    }
}

extension Action {
    /// The domain action a wire action stands for. Throws INVALID_ARGUMENT (naming `field`) when no action
    /// type is set or a Kommo operation is one this build does not know: such an action cannot run.
    package init(_ message: PB.Action, field: String = "action") throws {
        guard let kind = message.kind else { throw RPCError.invalid(field: field, "has no action type") }
        switch kind {
        case .sendMessage(let m):
            self.init(type: .sendMessage, text: m.text.nonEmpty, scriptID: m.scriptId.nonEmpty)
        case .aiResponse(let m):
            self.init(type: .aiResponse, scriptID: m.scriptId.nonEmpty, instructions: m.instructions.nonEmpty)
        case .createTask(let m):
            self.init(type: .createTask, text: m.text.nonEmpty, dueInSeconds: Int(m.dueInSeconds), taskType: m.taskType.positive.map { Int($0) },
                      responsibleUserID: m.responsibleUserId.positive)
        case .addNote(let m):
            self.init(type: .addNote, text: m.text.nonEmpty)
        case .changeStage(let m):
            self.init(type: .changeStage, stageID: m.stageId.positive, pipelineID: m.pipelineId.positive)
        case .setField(let m):
            // An empty value is a value: it clears the field.
            self.init(type: .setField, field: m.field.nonEmpty, value: m.value)
        case .addTags(let m):
            self.init(type: .addTags, tags: m.tags)
        case .removeTags(let m):
            self.init(type: .removeTags, tags: m.tags)
        case .webhook(let m):
            self.init(type: .webhook, url: m.url.nonEmpty, payloadTemplate: m.payloadTemplate.nonEmpty)
        case .startSequence(let m):
            self.init(type: .startSequence, sequenceID: m.sequenceId.nonEmpty)
        case .stopSequence(let m):
            self.init(type: .stopSequence, sequenceID: m.sequenceId.nonEmpty)
        case .kommoAction(let m):
            guard let operation = KommoOperation(m.operation) else {
                throw RPCError.invalid(field: "\(field).kommo_action.operation", "is not a known Kommo operation (\(m.operation.name))")
            }
            self.init(type: .kommoAction, operation: operation, parameters: m.parameters)
        }
    }
}

extension KommoOperation {
    /// The operation a wire value names; nil for unspecified or unknown values.
    package init?(_ operation: PB.Action.KommoAction.Operation) {
        switch operation {
        case .updateLead: self = .updateLead
        case .changeStage: self = .changeStage
        case .changeResponsible: self = .changeResponsible
        case .setField: self = .setField
        case .addTags: self = .addTags
        case .removeTags: self = .removeTags
        case .createTask: self = .createTask
        case .completeTask: self = .completeTask
        case .addNote: self = .addNote
        case .runSalesbot: self = .runSalesbot
        case .updateContact: self = .updateContact
        case .unspecified, .unrecognized: return nil
        }
    }
}

// MARK: - Helpers

private extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}

private extension Int64 {
    var positive: Int64? { self > 0 ? self : nil }
}
