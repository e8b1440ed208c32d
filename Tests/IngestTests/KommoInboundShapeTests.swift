import Basics
import Domain
import Foundation
import Testing

@testable import Ingest

private let shapeTenant = "tn_acme"
private let shapeReceived = Date(timeIntervalSince1970: 1_764_100_000)

private func shapeFixture(_ name: String) throws -> ParsedDelivery {
    try KommoWebhookParser.parse(body: Fixtures.body(name), tenantID: shapeTenant, receivedAt: shapeReceived)
}

private func shapeBody(_ tree: FormValue) -> String {
    FormEncoder.encode(tree) + "&account%5Bsubdomain%5D=acmesales&account%5Bid%5D=29012345"
}

private func at(_ seconds: Int) -> Date { Date(timeIntervalSince1970: TimeInterval(seconds)) }

/// The shapes beyond the account webhooks' classic families: outgoing messages, Digital Pipeline,
/// company notes, declined unsorted leads and Chats API channel webhooks.
@Suite("Kommo inbound shapes")
struct KommoInboundShapeTests {
    @Test("outgoing_message_manager: message_sent by a manager, linked to its lead")
    func managerMessage() throws {
        let delivery = try shapeFixture("outgoing_message_manager")
        let event = try #require(delivery.events.only)
        #expect(event.type == .messageSent)
        #expect(event.entityType == "message")
        #expect(event.entityID == "8b2d4f60-7a1c-4e3b-9d5f-0c1e2a3b4c5d")
        #expect(event.leadID == 4_410_022)
        #expect(event.accountID == 29_012_345)
        #expect(event.occurredAt == at(1_764_072_500))
        let message = try #require(event.message)
        #expect(message.text == "Hola Maria, soy Ana. Sí, el apartamento sigue disponible; ¿le llamo hoy?")
        #expect(message.direction == "outgoing")
        #expect(message.origin == "waba")
        #expect(message.authorID == "8812001")
        #expect(message.authorType == "user")
        #expect(message.authorName == "Ana Torres")
        #expect(message.authorKind == .manager)
        #expect(message.chatID == "a7b8c9d0-1e2f-4a3b-8c5d-6e7f8091a2b3")
    }

    @Test("outgoing_message_salesbot: message_sent by a bot")
    func salesbotMessage() throws {
        let event = try #require(try shapeFixture("outgoing_message_salesbot").events.only)
        #expect(event.type == .messageSent)
        #expect(event.leadID == 4_410_022)
        let kind = event.message?.authorKind
        #expect(kind == .bot)
        #expect(event.message?.text == "Hi Maria! I'm Sofia; when can we talk?")
    }

    @Test("an outgoing message's author: users are managers, bots are bots, anything else an integration")
    func authorKinds() throws {
        let tree: FormValue = ["outgoing_message": ["add": [
            "0": ["id": "m1", "text": "a", "entity_type": "lead", "entity_id": "1", "author": ["id": "42", "type": "user"]],
            "1": ["id": "m2", "text": "b", "entity_type": "lead", "entity_id": "1", "author": ["id": "0", "type": "bot"]],
            "2": ["id": "m3", "text": "c", "entity_type": "lead", "entity_id": "1", "author": ["id": "x-9", "type": "integration"]],
            "3": ["id": "m4", "text": "d", "entity_type": "lead", "entity_id": "1", "author": ["id": "8812001"]],
            "4": ["id": "m5", "text": "e", "entity_type": "lead", "entity_id": "1"],
        ]]]
        let events = try KommoWebhookParser.parse(body: shapeBody(tree), tenantID: shapeTenant, receivedAt: shapeReceived).events
        let kinds = events.map { $0.message?.authorKind }
        #expect(kinds == [.manager, .bot, .integration, .manager, .integration])
        #expect(events.allSatisfy { $0.type == .messageSent && $0.message?.direction == "outgoing" })
        // An incoming message's author is the client.
        let incoming = try shapeFixture("message_incoming_whatsapp").events.only
        let incomingKind = incoming?.message?.authorKind
        #expect(incomingKind == .client)
    }

    @Test("Digital Pipeline webhooks of a lead's stage are typed, on the lead")
    func digitalPipelineLeads() throws {
        let expected: [(String, EventType, Int)] = [
            ("dp_lead_mail_in", .leadMailIn, 1_764_073_000), ("dp_lead_call_in", .leadCallIn, 1_764_073_100),
            ("dp_lead_chat", .leadChat, 1_764_073_200), ("dp_lead_site_visit", .leadSiteVisit, 1_764_073_300),
        ]
        for (name, type, time) in expected {
            let event = try #require(try shapeFixture(name).events.only, "\(name)")
            #expect(event.type == type, "\(name)")
            #expect(event.entityType == "lead", "\(name)")
            #expect(event.leadID == 4_410_021, "\(name)")
            #expect(event.statusID == 61_234_502, "\(name)")
            #expect(event.pipelineID == 7_100_001, "\(name)")
            #expect(event.occurredAt == at(time), "\(name)")
        }
    }

    @Test("dp_customer_period: customer_period on the customer")
    func customerPeriod() throws {
        let event = try #require(try shapeFixture("dp_customer_period").events.only)
        #expect(event.type == .customerPeriod)
        #expect(event.entityType == "customer")
        #expect(event.entityID == "3300017")
        #expect(event.leadID == nil)
        #expect(event.fields["next_price"] == "1200")
        #expect(event.fields["next_date"] == "1766664000")
    }

    @Test("company_note: a note under contacts with element_type 3 is a company's note")
    func companyNote() throws {
        let event = try #require(try shapeFixture("company_note").events.only)
        #expect(event.type == .noteAdded)
        #expect(event.entityType == "company")
        #expect(event.entityID == "7730001")
        #expect(event.leadID == nil)
        #expect(event.noteType == 4)
        #expect(event.fields["text"] == "Signed the framework agreement; invoice quarterly.")
        // A contact's note stays a contact's.
        let tree: FormValue = ["contacts": ["note": ["0": ["note": ["id": "5", "element_id": "7720011", "element_type": "1", "note_type": "4", "text": "hi"]]]]]
        let contact = try KommoWebhookParser.parse(body: shapeBody(tree), tenantID: shapeTenant, receivedAt: shapeReceived).events.only
        #expect(contact?.entityType == "contact")
    }

    @Test("unsorted_declined: the declined lead is the event's lead")
    func unsortedDeclined() throws {
        let event = try #require(try shapeFixture("unsorted_declined").events.only)
        #expect(event.type == .unsortedDeclined)
        #expect(event.entityType == "unsorted")
        #expect(event.entityID == "d3f1b2c4-5a6e-4f70-8b91-a2c3d4e5f607")
        #expect(event.leadID == 4_410_031)
        #expect(event.fields["decline_result[leads][0]"] == "4410031")
        // The other spelling of the list, `[leads][0][id]`, names the lead too.
        let tree: FormValue = ["unsorted": ["delete": ["0": ["uid": "u9", "action": "decline", "decline_result": ["leads": ["0": ["id": "4410032"]]]]]]]
        let nested = try KommoWebhookParser.parse(body: shapeBody(tree), tenantID: shapeTenant, receivedAt: shapeReceived).events.only
        #expect(nested?.leadID == 4_410_032)
    }

    @Test("a NUL byte in a value leaves the body unparsed with its own code")
    func nulIsUnparsed() throws {
        let raw = "leads%5Badd%5D%5B0%5D%5Bid%5D=1&leads%5Badd%5D%5B0%5D%5Bname%5D=a%00b&account%5Bid%5D=29012345"
        let error = try #require(throws: KommoWebhookError.self) {
            try KommoWebhookParser.parse(body: raw, tenantID: shapeTenant, receivedAt: shapeReceived)
        }
        let code = error.code
        #expect(code == .nulByte)
        let hasNul = error.reason.utf8.contains(0)
        #expect(hasNul == false)
    }
}

@Suite("Kommo Chats API channel webhooks")
struct KommoChatsWebhookTests {
    static func fixture() throws -> [UInt8] {
        Array(try Data(contentsOf: Fixtures.directory().appendingPathComponent("chats_manager_message.json")))
    }

    @Test("chats_manager_message: a manager's message on our channel is message_sent for the lead we named")
    func managerMessage() throws {
        let events = try KommoChatsWebhookParser.parse(body: try Self.fixture(), tenantID: shapeTenant, scopeID: "scope-1",
                                                       receivedAt: shapeReceived)
        let event = try #require(events.only)
        #expect(event.type == .messageSent)
        #expect(event.leadID == 4_410_022)
        #expect(event.entityType == "message")
        #expect(event.entityID == "0f3a1c2e-4b5d-4e6f-8a9b-0c1d2e3f4a5b")
        #expect(event.occurredAt == Date(timeIntervalSince1970: 1_764_072_700.123))
        let message = try #require(event.message)
        #expect(message.text == "Maria, I have just sent you the floor plan.")
        #expect(message.authorKind == .manager)
        #expect(message.authorName == "Ana Torres")
        #expect(message.origin == KommoChatsWebhookParser.origin)
        #expect(message.chatID == "8e3e7640-49af-4448-a2c6-d5a421f7f217")
        #expect(event.fields["scope_id"] == "scope-1")
        // The same message again is the same event; another tenant's is another.
        let again = try KommoChatsWebhookParser.parse(body: try Self.fixture(), tenantID: shapeTenant, scopeID: "scope-1",
                                                      receivedAt: shapeReceived.addingTimeInterval(60))
        #expect(again.only?.id == event.id)
        let other = try KommoChatsWebhookParser.parse(body: try Self.fixture(), tenantID: "tn_other", scopeID: "scope-1",
                                                      receivedAt: shapeReceived)
        #expect(other.only?.id != event.id)
    }

    @Test("JSON of another shape is one unknown event with its scalars; non-JSON is refused")
    func otherShapes() throws {
        let typing = Array(#"{"account_id":"a1","time":1764072700,"typing":{"conversation":{"id":"c1"},"user":{"id":"u1"}}}"#.utf8)
        let events = try KommoChatsWebhookParser.parse(body: typing, tenantID: shapeTenant, scopeID: "scope-1", receivedAt: shapeReceived)
        let event = try #require(events.only)
        #expect(event.type == .unknown)
        #expect(event.entityType == "chats_api")
        #expect(event.fields["typing.conversation.id"] == "c1")
        #expect(event.fields["time"] == "1764072700")

        let form = Array("leads[add][0][id]=1".utf8)
        let error = try #require(throws: KommoWebhookError.self) {
            try KommoChatsWebhookParser.parse(body: form, tenantID: shapeTenant, scopeID: "scope-1", receivedAt: shapeReceived)
        }
        let code = error.code
        #expect(code == .notFormData)
    }
}
