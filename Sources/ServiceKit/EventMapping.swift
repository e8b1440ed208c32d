import Basics
import Domain
import Foundation
import Wire

/// The one mapping between the domain's `KommoEvent` and the wire's `PB.Event`.
/// On the wire, 0 in an id field means "not known"; in the domain that is nil.
extension PB.Event {
    package init(_ event: KommoEvent) {
        self.init()
        id = event.id
        tenantId = event.tenantID
        accountId = event.accountID ?? 0
        type = event.type.rawValue
        entityType = event.entityType
        entityId = event.entityID
        leadId = event.leadID ?? 0
        occurredAtMicros = event.occurredAt.unixMicros
        receivedAtMicros = event.receivedAt.unixMicros
        origin = event.origin.rawValue
        pipelineId = event.pipelineID ?? 0
        statusId = event.statusID ?? 0
        oldStatusId = event.oldStatusID ?? 0
        oldPipelineId = event.oldPipelineID ?? 0
        responsibleUserId = event.responsibleUserID ?? 0
        oldResponsibleUserId = event.oldResponsibleUserID ?? 0
        noteType = Int32(event.noteType ?? 0)
        if let message = event.message {
            var fields = PB.MessageFields()
            fields.id = message.id
            fields.text = message.text
            fields.chatId = message.chatID
            fields.talkId = message.talkID
            fields.contactId = message.contactID
            fields.origin = message.origin
            fields.messageType = message.messageType
            fields.direction = message.direction
            fields.authorId = message.authorID
            fields.authorType = message.authorType
            fields.authorName = message.authorName
            fields.attachmentType = message.attachmentType
            fields.attachmentLink = message.attachmentLink
            fields.attachmentFileName = message.attachmentFileName
            self.message = fields
        }
        fields = event.fields.sorted { $0.key < $1.key }.map { PB.KeyValue(key: $0.key, value: $0.value) }
        customFields = event.customFields.map {
            var field = PB.CustomField()
            field.id = $0.id
            field.name = $0.name
            field.code = $0.code
            field.values = $0.values
            return field
        }
        ruleId = event.ruleID ?? ""
    }
}

extension KommoEvent {
    package init(_ event: PB.Event) {
        func id(_ value: Int64) -> Int64? { value == 0 ? nil : value }
        var message: MessageFields?
        if let fields = event.message {
            var value = MessageFields()
            value.id = fields.id
            value.text = fields.text
            value.chatID = fields.chatId
            value.talkID = fields.talkId
            value.contactID = fields.contactId
            value.origin = fields.origin
            value.messageType = fields.messageType
            value.direction = fields.direction
            value.authorID = fields.authorId
            value.authorType = fields.authorType
            value.authorName = fields.authorName
            value.attachmentType = fields.attachmentType
            value.attachmentLink = fields.attachmentLink
            value.attachmentFileName = fields.attachmentFileName
            message = value
        }
        self.init(
            id: event.id, tenantID: event.tenantId, accountID: id(event.accountId), type: EventType(rawValue: event.type),
            entityType: event.entityType, entityID: event.entityId, leadID: id(event.leadId),
            occurredAt: Date(unixMicros: event.occurredAtMicros), receivedAt: Date(unixMicros: event.receivedAtMicros),
            origin: EventOrigin(rawValue: event.origin) ?? .kommo,
            pipelineID: id(event.pipelineId), statusID: id(event.statusId), oldStatusID: id(event.oldStatusId),
            oldPipelineID: id(event.oldPipelineId), responsibleUserID: id(event.responsibleUserId),
            oldResponsibleUserID: id(event.oldResponsibleUserId), noteType: event.noteType == 0 ? nil : Int(event.noteType),
            message: message,
            fields: Dictionary(event.fields.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last }),
            customFields: event.customFields.map { CustomFieldValue(id: $0.id, name: $0.name, code: $0.code, values: $0.values) },
            ruleID: event.ruleId.isEmpty ? nil : event.ruleId)
    }
}
