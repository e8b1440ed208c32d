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
    /// The lead (or other entity) the note is on, as a batch element names it.
    var entityID: Int64
    var noteType: String
    var params: Params
    var requestID: String

    enum CodingKeys: String, CodingKey {
        case entityID = "entity_id", noteType = "note_type", params, requestID = "request_id"
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
    /// The lead, as an element of a `PATCH /api/v4/leads` batch names it.
    var id: Int64?
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
        case id, name, price, responsibleUserID = "responsible_user_id"
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
