import Basics
import Domain
import Foundation
import Ingest
import Testing

/// Events are stored as JSON written by hand on the intake path; it must say what `Codable` says, so
/// that the store reads every event back whole.
@Suite struct StoredEventJSONTests {
    /// Every property set, with text that needs escaping.
    static func fullEvent() -> KommoEvent {
        var message = MessageFields()
        message.id = "m-1"; message.text = "Hola \"amigo\"\n\\ tab\t bell\u{07} ñ 😀"; message.chatID = "c-1"
        message.talkID = "t-1"; message.contactID = "77"; message.origin = "waba"; message.messageType = "text"
        message.direction = "incoming"; message.authorID = "a-1"; message.authorType = "contact"
        message.authorName = "José"; message.attachmentType = "picture"; message.attachmentLink = "https://x/y.png"
        message.attachmentFileName = "y.png"; message.authorKind = .client; message.transcript = "Olá, quanto custa?"
        return KommoEvent(
            id: "evt-1", tenantID: "ten-1", accountID: 9_007_199_254_740_993, type: .stageChanged,
            entityType: "lead", entityID: "123", leadID: 123,
            occurredAt: Date(unixMicros: 1_729_717_200_123_457), receivedAt: Date(unixMicros: 1_729_717_201_000_001),
            origin: .kommo, pipelineID: 5, statusID: 142, oldStatusID: 61, oldPipelineID: 4,
            responsibleUserID: 8, oldResponsibleUserID: 7, noteType: 10, message: message,
            fields: ["name": "Acme / \"big\" deal", "price": "1500"],
            customFields: [CustomFieldValue(id: "501", name: "Budget", code: "BUDGET", values: ["5000", "6000"])],
            ruleID: "rul-1")
    }

    static func codableJSON(_ event: KommoEvent) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.unixMicros)
        }
        return String(decoding: try encoder.encode(event), as: UTF8.self)
    }

    @Test func readsBackWhole() throws {
        let event = Self.fullEvent()
        let stored = event.storedJSON()
        let back = try KommoEvent.stored(json: stored)
        #expect(back == event)
    }

    @Test func saysWhatCodableSays() throws {
        for event in [Self.fullEvent(), KommoEvent(id: "e", tenantID: "t", type: .unknown, entityType: "x", entityID: "",
                                                    occurredAt: Date(unixMicros: 0), receivedAt: Date(unixMicros: 1))] {
            let handWritten = JSONValue(parsing: event.storedJSON())
            let codable = JSONValue(parsing: try Self.codableJSON(event))
            #expect(handWritten != nil)
            #expect(handWritten == codable)
        }
    }

    /// A property added to the event must be added to `storedJSON()` too; this lists what it writes.
    @Test func coversEveryProperty() {
        let event = Self.fullEvent()
        let eventLabels = Mirror(reflecting: event).children.compactMap(\.label)
        #expect(eventLabels == ["id", "tenantID", "accountID", "type", "entityType", "entityID", "leadID",
                                "occurredAt", "receivedAt", "origin", "pipelineID", "statusID", "oldStatusID",
                                "oldPipelineID", "responsibleUserID", "oldResponsibleUserID", "noteType", "message",
                                "fields", "customFields", "ruleID"])
        let messageLabels = Mirror(reflecting: MessageFields()).children.compactMap(\.label)
        #expect(messageLabels == ["id", "text", "chatID", "talkID", "contactID", "origin", "messageType", "direction",
                                  "authorID", "authorType", "authorName", "attachmentType", "attachmentLink",
                                  "attachmentFileName", "authorKind", "transcript"])
        let fieldLabels = Mirror(reflecting: CustomFieldValue(id: "", values: [])).children.compactMap(\.label)
        #expect(fieldLabels == ["id", "name", "code", "values"])
    }
}
