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
        type = PB.EventType(event.type)
        entityType = event.entityType
        entityId = event.entityID
        leadId = event.leadID ?? 0
        occurredAtMicros = event.occurredAt.unixMicros
        receivedAtMicros = event.receivedAt.unixMicros
        origin = PB.EventOrigin(event.origin)
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
            fields.direction = PB.MessageDirection(name: message.direction) ?? .unspecified
            fields.authorId = message.authorID
            fields.authorType = message.authorType
            fields.authorName = message.authorName
            fields.attachmentType = message.attachmentType
            fields.attachmentLink = message.attachmentLink
            fields.attachmentFileName = message.attachmentFileName
            fields.transcript = message.transcript ?? ""
            fields.authorKind = message.authorKind.flatMap { PB.MessageAuthorKind(name: $0.rawValue) } ?? .unspecified
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
            value.direction = fields.direction == .unspecified ? "" : fields.direction.name
            value.authorID = fields.authorId
            value.authorType = fields.authorType
            value.authorName = fields.authorName
            value.attachmentType = fields.attachmentType
            value.attachmentLink = fields.attachmentLink
            value.attachmentFileName = fields.attachmentFileName
            value.transcript = fields.transcript.isEmpty ? nil : fields.transcript
            value.authorKind = MessageAuthorKind(rawValue: fields.authorKind.name)
            message = value
        }
        self.init(
            id: event.id, tenantID: event.tenantId, accountID: id(event.accountId), type: EventType(event.type),
            entityType: event.entityType, entityID: event.entityId, leadID: id(event.leadId),
            occurredAt: Date(unixMicros: event.occurredAtMicros), receivedAt: Date(unixMicros: event.receivedAtMicros),
            origin: EventOrigin(event.origin),
            pipelineID: id(event.pipelineId), statusID: id(event.statusId), oldStatusID: id(event.oldStatusId),
            oldPipelineID: id(event.oldPipelineId), responsibleUserID: id(event.responsibleUserId),
            oldResponsibleUserID: id(event.oldResponsibleUserId), noteType: event.noteType == 0 ? nil : Int(event.noteType),
            message: message,
            fields: Dictionary(event.fields.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last }),
            customFields: event.customFields.map { CustomFieldValue(id: $0.id, name: $0.name, code: $0.code, values: $0.values) },
            ruleID: event.ruleId.isEmpty ? nil : event.ruleId)
    }
}

// MARK: - Closed sets

extension PB.EventType {
    /// The wire's value for a domain type; a type the wire does not name travels as `unknown`.
    package init(_ type: EventType) {
        self = PB.EventType(wireName: type.rawValue) ?? .unknown
    }
}

extension EventType {
    /// The domain's type for a wire value. A number this build does not know keeps its number as
    /// its name, so it is stored and sent on unchanged; an event without a type is `unknown`.
    package init(_ type: PB.EventType) {
        switch type {
        case .unspecified: self = .unknown
        case .unrecognized(let number): self.init(rawValue: String(number))
        default: self.init(rawValue: type.name)
        }
    }
}

extension PB.EventType {
    /// The wire value for a name, including the number of a value this build does not know.
    package init?(wireName name: String) {
        if let known = PB.EventType(name: name) { self = known } else if let number = Int32(name) { self.init(rawValue: number) } else { return nil }
    }
}

extension PB.EventOrigin {
    package init(_ origin: EventOrigin) {
        self = PB.EventOrigin(name: origin.rawValue) ?? .kommo
    }
}

extension EventOrigin {
    /// An event without an origin (or with one this build does not know) came from Kommo.
    package init(_ origin: PB.EventOrigin) {
        self = EventOrigin(rawValue: origin.name) ?? .kommo
    }
}
