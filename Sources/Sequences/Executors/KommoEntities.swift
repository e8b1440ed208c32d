import Basics
import Domain
import Foundation

// MARK: - Entities read

/// A custom field's values as Kommo returned them, every value in text form.
package struct KommoCustomField: Sendable, Hashable {
    /// The field id.
    package var id: Int64
    /// The field name.
    package var name: String
    /// The field code (`PHONE`, `EMAIL`, … for system fields), empty when none.
    package var code: String
    /// The values as text.
    package var values: [String]

    /// Creates a field value record.
    package init(id: Int64, name: String, code: String = "", values: [String]) {
        self.id = id
        self.name = name
        self.code = code
        self.values = values
    }

    static func list(_ json: JSONValue?) -> [KommoCustomField] {
        (json?.array ?? []).compactMap { field in
            guard let id = field["field_id"]?.int64 else { return nil }
            return KommoCustomField(
                id: id, name: field["field_name"]?.string ?? "", code: field["field_code"]?.string ?? "",
                values: (field["values"]?.array ?? []).compactMap { $0["value"]?.string ?? $0.string })
        }
    }
}

/// A contact linked to a lead.
package struct KommoContactLink: Sendable, Hashable {
    /// Contact id.
    package var id: Int64
    /// Whether it is the lead's main contact.
    package var isMain: Bool

    /// Creates a link.
    package init(id: Int64, isMain: Bool) {
        self.id = id
        self.isMain = isMain
    }
}

/// A lead as `GET /api/v4/leads/{id}?with=contacts` returns it (the members executors use).
package struct KommoLead: Sendable, Hashable {
    /// Lead id.
    package var id: Int64
    /// Lead name (deal title).
    package var name: String
    /// Budget.
    package var price: Int64?
    /// Stage id.
    package var statusID: Int64?
    /// Pipeline id.
    package var pipelineID: Int64?
    /// Responsible user id.
    package var responsibleUserID: Int64?
    /// Custom field values.
    package var customFields: [KommoCustomField]
    /// Tag names.
    package var tags: [String]
    /// Linked contacts.
    package var contacts: [KommoContactLink]

    /// The main contact's id, else the first contact's.
    package var mainContactID: Int64? {
        (contacts.first(where: \.isMain) ?? contacts.first)?.id
    }

    /// Reads a lead from Kommo's JSON; `nil` without an id.
    package init?(json: JSONValue) {
        guard let id = json["id"]?.int64 else { return nil }
        self.id = id
        name = json["name"]?.string ?? ""
        price = json["price"]?.int64
        statusID = json["status_id"]?.int64
        pipelineID = json["pipeline_id"]?.int64
        responsibleUserID = json["responsible_user_id"]?.int64
        customFields = KommoCustomField.list(json["custom_fields_values"])
        tags = (json["_embedded"]?["tags"]?.array ?? []).compactMap { $0["name"]?.string }
        contacts = (json["_embedded"]?["contacts"]?.array ?? []).compactMap { contact in
            contact["id"]?.int64.map { KommoContactLink(id: $0, isMain: contact["is_main"]?.bool ?? false) }
        }
    }

    /// Template values of this lead and, when given, its contact: `lead.*` (stage, pipeline and
    /// responsible as ids), `lead.cf.<id|name>`, and `contact.*` from ``KommoContact/templateValues``.
    package func templateValues(contact: KommoContact? = nil) -> TemplateValues {
        var values = TemplateValues()
        values[TemplateVocabulary.leadID] = String(id)
        values[TemplateVocabulary.leadName] = name
        values[TemplateVocabulary.leadPrice] = price.map(String.init)
        values[TemplateVocabulary.leadStage] = statusID.map(String.init)
        values[TemplateVocabulary.leadPipeline] = pipelineID.map(String.init)
        values[TemplateVocabulary.leadResponsible] = responsibleUserID.map(String.init)
        for field in customFields {
            values.setCustomField(id: String(field.id), name: field.name, value: field.values.joined(separator: ", "))
        }
        if let contact { values = values.merging(contact.templateValues) }
        return values
    }
}

/// A contact as `GET /api/v4/contacts/{id}?with=leads` returns it (the members executors use).
package struct KommoContact: Sendable, Hashable {
    /// Contact id.
    package var id: Int64
    /// Full name.
    package var name: String
    /// First name, when Kommo has it separately.
    package var firstName: String
    /// Last name, when Kommo has it separately.
    package var lastName: String
    /// Custom field values (phones and e-mails are fields with codes `PHONE` and `EMAIL`).
    package var customFields: [KommoCustomField]
    /// Ids of linked leads.
    package var leadIDs: [Int64]

    /// Reads a contact from Kommo's JSON; `nil` without an id.
    package init?(json: JSONValue) {
        guard let id = json["id"]?.int64 else { return nil }
        self.id = id
        name = json["name"]?.string ?? ""
        firstName = json["first_name"]?.string ?? ""
        lastName = json["last_name"]?.string ?? ""
        customFields = KommoCustomField.list(json["custom_fields_values"])
        leadIDs = (json["_embedded"]?["leads"]?.array ?? []).compactMap { $0["id"]?.int64 }
    }

    /// The first phone number, from the `PHONE` field.
    package var phone: String? { customFields.first { $0.code.uppercased() == "PHONE" }?.values.first }
    /// The first e-mail address, from the `EMAIL` field.
    package var email: String? { customFields.first { $0.code.uppercased() == "EMAIL" }?.values.first }

    /// `contact.name`, `contact.first_name`, `contact.last_name`, `contact.phone`, `contact.email`.
    package var templateValues: TemplateValues {
        var values = TemplateValues()
        values[TemplateVocabulary.contactName] = name
        values[TemplateVocabulary.contactFirstName] = firstName
        values[TemplateVocabulary.contactLastName] = lastName
        values[TemplateVocabulary.contactPhone] = phone
        values[TemplateVocabulary.contactEmail] = email
        return values
    }
}

/// The outcome of a read: the action-log record and, when found, the entity.
package struct KommoRead<Entity: Sendable>: Sendable {
    /// What the call did. A 204 (unknown id) is `succeeded` with ``entity`` `nil`.
    package var result: ExecutionResult
    /// The entity, when Kommo returned one.
    package var entity: Entity?
}

/// The account a token belongs to (`GET /api/v4/account`).
package struct KommoAccountInfo: Sendable, Hashable {
    package var id: Int64
    package var name: String
    package var subdomain: String

    /// Reads the account from Kommo's JSON; `nil` without an id.
    package init?(json: JSONValue) {
        guard let id = json["id"]?.int64 else { return nil }
        self.id = id
        name = json["name"]?.string ?? ""
        subdomain = json["subdomain"]?.string ?? ""
    }
}
