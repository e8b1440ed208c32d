import Basics
import Domain
import Foundation

// MARK: - Requests

/// A task to create in Kommo (`POST /api/v4/tasks`).
package struct KommoTaskDraft: Sendable, Hashable {
    /// The task text (required by Kommo).
    package var text: String
    /// Deadline, unix seconds (required by Kommo).
    package var completeTill: Int64
    /// The lead the task belongs to.
    package var leadID: Int64?
    /// Kommo `task_type_id` (1 call, 2 meeting, or the account's own type).
    package var taskTypeID: Int?
    /// The user the task is assigned to; Kommo picks the lead's responsible user when absent.
    package var responsibleUserID: Int64?

    /// Creates a task draft.
    package init(text: String, completeTill: Int64, leadID: Int64? = nil, taskTypeID: Int? = nil,
                 responsibleUserID: Int64? = nil) {
        self.text = text
        self.completeTill = completeTill
        self.leadID = leadID
        self.taskTypeID = taskTypeID
        self.responsibleUserID = responsibleUserID
    }
}

/// The kind of lead note to add.
package enum KommoNoteKind: Sendable, Hashable {
    /// `common`: an ordinary note with text.
    case common
    /// `service_message`: a note shown as coming from a named service (e.g. the agent's product name).
    case serviceMessage(service: String)
}

/// One value of a custom field, as Kommo's `values[]` entries take it.
package enum KommoFieldValue: Sendable, Hashable, Encodable {
    /// `{"value": "…"}`: text, numbers and dates as Kommo accepts them in text form.
    case text(String)
    /// `{"value": 123}`: a numeric field.
    case number(Int64)
    /// `{"value": true}`: a checkbox.
    case flag(Bool)
    /// `{"enum_id": 123}`: an option of a list field.
    case enumID(Int64)

    private enum CodingKeys: String, CodingKey {
        case value
        case enumID = "enum_id"
    }

    /// Encodes the `values[]` entry.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .text(let value): try container.encode(value, forKey: .value)
        case .number(let value): try container.encode(value, forKey: .value)
        case .flag(let value): try container.encode(value, forKey: .value)
        case .enumID(let value): try container.encode(value, forKey: .enumID)
        }
    }
}

/// A custom field and its new values (`custom_fields_values[]`).
package struct KommoFieldUpdate: Sendable, Hashable, Encodable {
    /// The field's id in the account.
    package var fieldID: Int64
    /// The new values; an empty list clears the field.
    package var values: [KommoFieldValue]

    /// Sets `fieldID` to `values`.
    package init(fieldID: Int64, values: [KommoFieldValue]) {
        self.fieldID = fieldID
        self.values = values
    }

    /// Sets `fieldID` to one text value.
    package init(fieldID: Int64, text: String) {
        self.init(fieldID: fieldID, values: [.text(text)])
    }

    private enum CodingKeys: String, CodingKey {
        case fieldID = "field_id"
        case values
    }
}

// MARK: - Request bodies (wire shapes)

struct TaskBody: Encodable {
    var text: String
    var completeTill: Int64
    var entityID: Int64?
    var entityType: String?
    var taskTypeID: Int?
    var responsibleUserID: Int64?
    var requestID: String

    enum CodingKeys: String, CodingKey {
        case text, completeTill = "complete_till", entityID = "entity_id", entityType = "entity_type"
        case taskTypeID = "task_type_id", responsibleUserID = "responsible_user_id", requestID = "request_id"
    }
}

struct CompleteTaskBody: Encodable {
    struct Result: Encodable { var text: String }
    var isCompleted = true
    var result: Result?

    enum CodingKeys: String, CodingKey {
        case isCompleted = "is_completed", result
    }
}

struct NoteBody: Encodable {
    struct Params: Encodable {
        var text: String
        var service: String?
    }
    var noteType: String
    var params: Params

    enum CodingKeys: String, CodingKey {
        case noteType = "note_type", params
    }
}

struct TagName: Encodable {
    var name: String
}

/// Changes to a lead's own fields (`PATCH /api/v4/leads/{id}`); what is `nil` stays as it is.
package struct KommoLeadChanges: Sendable, Hashable {
    package var name: String?
    package var price: Int64?
    package var statusID: Int64?
    package var pipelineID: Int64?
    package var responsibleUserID: Int64?
    package var customFields: [KommoFieldUpdate]

    /// Creates a change set.
    package init(name: String? = nil, price: Int64? = nil, statusID: Int64? = nil, pipelineID: Int64? = nil,
                 responsibleUserID: Int64? = nil, customFields: [KommoFieldUpdate] = []) {
        self.name = name
        self.price = price
        self.statusID = statusID
        self.pipelineID = pipelineID
        self.responsibleUserID = responsibleUserID
        self.customFields = customFields
    }
}

/// Changes to a contact's fields (`PATCH /api/v4/contacts/{id}`); what is `nil` stays as it is.
package struct KommoContactChanges: Sendable, Hashable {
    package var name: String?
    package var firstName: String?
    package var lastName: String?
    package var responsibleUserID: Int64?
    package var customFields: [KommoFieldUpdate]

    /// Creates a change set.
    package init(name: String? = nil, firstName: String? = nil, lastName: String? = nil, responsibleUserID: Int64? = nil,
                 customFields: [KommoFieldUpdate] = []) {
        self.name = name
        self.firstName = firstName
        self.lastName = lastName
        self.responsibleUserID = responsibleUserID
        self.customFields = customFields
    }
}

/// The body of `PATCH /api/v4/contacts/{id}`; absent members are left out.
struct ContactPatchBody: Encodable {
    var name: String?
    var firstName: String?
    var lastName: String?
    var responsibleUserID: Int64?
    var customFieldsValues: [KommoFieldUpdate]?
    /// 0: changed by a robot (see ``LeadPatchBody/updatedBy``).
    var updatedBy: Int64 = 0

    enum CodingKeys: String, CodingKey {
        case name, firstName = "first_name", lastName = "last_name", responsibleUserID = "responsible_user_id"
        case customFieldsValues = "custom_fields_values", updatedBy = "updated_by"
    }
}

/// The body of `PATCH /api/v4/leads/{id}`; absent members are left out, so only what is set changes.
struct LeadPatchBody: Encodable {
    var name: String?
    var price: Int64?
    var responsibleUserID: Int64?
    var statusID: Int64?
    var pipelineID: Int64?
    var customFieldsValues: [KommoFieldUpdate]?
    var tagsToAdd: [TagName]?
    var tagsToDelete: [TagName]?
    /// 0 marks the change as made by a robot, so Kommo's echo of it can be told from a person's edit.
    var updatedBy: Int64 = 0

    enum CodingKeys: String, CodingKey {
        case name, price, responsibleUserID = "responsible_user_id"
        case statusID = "status_id", pipelineID = "pipeline_id", customFieldsValues = "custom_fields_values"
        case tagsToAdd = "tags_to_add", tagsToDelete = "tags_to_delete", updatedBy = "updated_by"
    }
}

struct SalesbotRunBody: Encodable {
    var botID: Int64
    var entityID: Int64
    /// 2 is a lead in the v2 API's numbering.
    var entityType = 2

    enum CodingKeys: String, CodingKey {
        case botID = "bot_id", entityID = "entity_id", entityType = "entity_type"
    }
}

/// Stands for "no body" in generic calls.
struct NoBody: Encodable {}

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
