import Foundation

extension TemplateValues {
    /// The values an event itself carries.
    ///
    /// - Lead events (`entityType == "lead"`): `lead.name` and `lead.price` from `fields["name"]` and
    ///   `fields["price"]`, and every custom field under `lead.cf.<id>` and `lead.cf.<name>` (several
    ///   values joined with ", ").
    /// - Contact events: `contact.name`, `contact.first_name`, `contact.last_name` from the fields of the
    ///   same names, and `contact.phone` / `contact.email` from the custom fields with Kommo's `PHONE` /
    ///   `EMAIL` codes (first value).
    /// - Incoming chat messages: `contact.name` from the author's name, the only name such an event has.
    /// - Any event: `lead.id`, and `lead.stage`, `lead.pipeline`, `lead.responsible` as Kommo ids. The
    ///   event has no display names for those; callers that know them lay them on top with
    ///   ``merging(_:)`` together with `agent.name`, `manager.name` and script variables.
    package init(event: KommoEvent) {
        self.init()
        let isLead = event.entityType == "lead"
        if let leadID = event.leadID {
            self[TemplateVocabulary.leadID] = String(leadID)
        } else if isLead, !event.entityID.isEmpty {
            self[TemplateVocabulary.leadID] = event.entityID
        }
        if let statusID = event.statusID { self[TemplateVocabulary.leadStage] = String(statusID) }
        if let pipelineID = event.pipelineID { self[TemplateVocabulary.leadPipeline] = String(pipelineID) }
        if let userID = event.responsibleUserID { self[TemplateVocabulary.leadResponsible] = String(userID) }

        switch event.entityType {
        case "lead":
            self[TemplateVocabulary.leadName] = event.fields["name"]
            self[TemplateVocabulary.leadPrice] = event.fields["price"]
            for field in event.customFields {
                setCustomField(id: field.id, name: field.name, value: Self.joined(field.values))
            }
        case "contact":
            self[TemplateVocabulary.contactName] = event.fields["name"]
            self[TemplateVocabulary.contactFirstName] = event.fields["first_name"]
            self[TemplateVocabulary.contactLastName] = event.fields["last_name"]
            // Kommo keeps phones and e-mails as system custom fields identified by code.
            for field in event.customFields {
                switch field.code.uppercased() {
                case "PHONE": self[TemplateVocabulary.contactPhone] = Self.first(field.values)
                case "EMAIL": self[TemplateVocabulary.contactEmail] = Self.first(field.values)
                default: break
                }
            }
        default:
            break
        }

        if let message = event.message, message.direction == "incoming",
           !message.authorName.isEmpty, self[TemplateVocabulary.contactName] == nil {
            self[TemplateVocabulary.contactName] = message.authorName
        }
    }

    private static func joined(_ values: [String]) -> String {
        values.filter { $0.contains { !$0.isWhitespace } }.joined(separator: ", ")
    }

    private static func first(_ values: [String]) -> String? {
        values.first { $0.contains { !$0.isWhitespace } }
    }
}
