import Foundation
import Testing

@testable import Domain

@Suite("Template values")
struct TemplateValuesTests {
    // MARK: - Lookup

    @Test func namesAreCaseAndWhitespaceInsensitive() {
        var values: TemplateValues = [" Promo_Code ": "A"]
        #expect(values.resolve("promo_code") == "A")
        #expect(values["PROMO_CODE"] == "A")
        values["promo_code"] = nil
        #expect(values.resolve("promo_code") == nil)
    }

    @Test func laterLiteralPairWins() {
        let values: TemplateValues = ["lead.name": "first", "LEAD.NAME": "second"]
        #expect(values.resolve("lead.name") == "second")
    }

    @Test func customFieldsByIDThenName() {
        var values = TemplateValues()
        values.setCustomField(id: "100", name: "Budget", value: "by id 100")
        values.setCustomField(id: "200", name: "100", value: "named 100")
        // An id match beats a field whose name happens to be the same text, as in KommoEvent.customField.
        #expect(values.resolve("lead.cf.100") == "by id 100")
        #expect(values.resolve("lead.cf.budget") == "by id 100")
        #expect(values.resolve("lead.cf.200") == "named 100")
        #expect(values.resolve("lead.cf.300") == nil)
    }

    @Test func fullNameEntryBeatsCustomFieldTable() {
        var values: TemplateValues = ["lead.cf.Budget": "explicit"]
        values.setCustomField(id: "1", name: "Budget", value: "from field")
        #expect(values.resolve("lead.cf.BUDGET") == "explicit")
    }

    @Test func blankCustomFieldByIDFallsBackToName() {
        var values = TemplateValues()
        values.setCustomField(id: "7", name: "", value: "")
        values.setCustomField(id: "", name: "7", value: "named seven")
        #expect(values.resolve("lead.cf.7") == "named seven")
    }

    @Test func customFieldPrefixIsNotAPlainLookup() {
        // `lead.cf.` with no key is not a custom field, and nothing supplies it.
        let values: TemplateValues = ["lead.name": "x"]
        #expect(values.resolve("lead.cf.") == nil)
    }

    @Test func mergingLaysTheOtherOnTop() {
        var base: TemplateValues = ["lead.name": "Old", "lead.stage": "142"]
        base.setCustomField(id: "1", name: "Budget", value: "100")
        var top: TemplateValues = ["lead.stage": "Won", "agent.name": "Sofia"]
        top.setCustomField(id: "1", name: "Budget", value: "200")
        let merged = base.merging(top)
        #expect(merged.resolve("lead.name") == "Old")
        #expect(merged.resolve("lead.stage") == "Won")
        #expect(merged.resolve("agent.name") == "Sofia")
        #expect(merged.resolve("lead.cf.budget") == "200")
        #expect(merged.resolve("lead.cf.1") == "200")
    }

    // MARK: - From a Kommo event

    private static let time = Date(timeIntervalSince1970: 1_743_000_000)

    @Test func leadEvent() throws {
        let event = KommoEvent(
            id: "e1", tenantID: "t1", type: .stageChanged, entityType: "lead", entityID: "9001",
            occurredAt: Self.time, receivedAt: Self.time, pipelineID: 77, statusID: 142, responsibleUserID: 5,
            fields: ["name": "Website redesign", "price": "12500"],
            customFields: [
                CustomFieldValue(id: "512345", name: "Callback date", values: ["2025-04-01"]),
                CustomFieldValue(id: "512346", name: "Services", values: ["SEO", " ", "Ads"]),
            ]
        )
        let values = TemplateValues(event: event)
        let template = try Template(parsing: """
            {{lead.id}}|{{lead.name}}|{{lead.price}}|{{lead.stage}}|{{lead.pipeline}}|{{lead.responsible}}|\
            {{lead.cf.Callback date}}|{{lead.cf.512345}}|{{lead.cf.services}}|{{contact.name|-}}
            """)
        #expect(template.render(values: values, policy: .block)
            == .rendered("9001|Website redesign|12500|142|77|5|2025-04-01|2025-04-01|SEO, Ads|-"))
    }

    @Test func leadIDComesFromLeadIDWhenSet() {
        let event = KommoEvent(
            id: "e1", tenantID: "t1", type: .noteAdded, entityType: "note", entityID: "n-1", leadID: 42,
            occurredAt: Self.time, receivedAt: Self.time, fields: ["name": "not a lead name"]
        )
        let values = TemplateValues(event: event)
        #expect(values.resolve("lead.id") == "42")
        // A note's fields do not describe the lead.
        #expect(values.resolve("lead.name") == nil)
    }

    @Test func contactEvent() throws {
        let event = KommoEvent(
            id: "e2", tenantID: "t1", type: .leadUpdated, entityType: "contact", entityID: "300",
            occurredAt: Self.time, receivedAt: Self.time,
            fields: ["name": "Ana María López", "last_name": "López"],
            customFields: [
                CustomFieldValue(id: "1", name: "Phone", code: "PHONE", values: ["", "+34 600 000 000", "+34 611"]),
                CustomFieldValue(id: "2", name: "Email", code: "EMAIL", values: ["ana@example.com"]),
                CustomFieldValue(id: "3", name: "Budget", values: ["100"]),
            ]
        )
        let values = TemplateValues(event: event)
        let template = try Template(parsing: """
            {{contact.name}}|{{contact.first_name}}|{{contact.last_name}}|{{contact.phone}}|{{contact.email}}|{{lead.cf.Budget|none}}|{{lead.name|none}}
            """)
        #expect(template.render(values: values, policy: .block)
            == .rendered("Ana María López|Ana|López|+34 600 000 000|ana@example.com|none|none"))
    }

    @Test func incomingMessageAuthorIsTheContact() {
        var message = MessageFields()
        message.direction = "incoming"
        message.authorName = "Luis Pérez"
        let event = KommoEvent(
            id: "e3", tenantID: "t1", type: .messageReceived, entityType: "message", entityID: "m1", leadID: 9,
            occurredAt: Self.time, receivedAt: Self.time, message: message
        )
        #expect(TemplateValues(event: event).resolve("contact.first_name") == "Luis")

        message.direction = "outgoing"
        let outgoing = KommoEvent(
            id: "e4", tenantID: "t1", type: .messageReceived, entityType: "message", entityID: "m2", leadID: 9,
            occurredAt: Self.time, receivedAt: Self.time, message: message
        )
        #expect(TemplateValues(event: outgoing).resolve("contact.name") == nil)
    }

    @Test func callerValuesOverrideEventIDs() {
        let event = KommoEvent(
            id: "e1", tenantID: "t1", type: .stageChanged, entityType: "lead", entityID: "9001",
            occurredAt: Self.time, receivedAt: Self.time, statusID: 142, fields: ["name": "Deal"]
        )
        let values = TemplateValues(event: event).merging(["lead.stage": "Won", "agent.name": "Sofia"])
        #expect(values.resolve("lead.stage") == "Won")
        #expect(values.resolve("lead.name") == "Deal")
        #expect(values.resolve("agent.name") == "Sofia")
    }
}
