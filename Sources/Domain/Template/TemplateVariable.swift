import Foundation

// MARK: - Variables

/// One `{{...}}` placeholder of a template.
package struct TemplateVariable: Hashable, Sendable {
    /// The variable's name with surrounding whitespace removed, as written: `lead.name`,
    /// `lead.cf.Callback date`, `promo_code`. Names are matched case-insensitively.
    package var path: String
    /// The text after the first `|`, trimmed, when the placeholder has one. An empty default
    /// (`{{lead.name|}}`) is a default all the same: it marks the variable as optional.
    package var defaultValue: String?
    /// Where the placeholder's `{{` starts, in characters from the start of the template.
    package var offset: Int

    /// Creates a placeholder description.
    package init(path: String, defaultValue: String? = nil, offset: Int = 0) {
        self.path = path
        self.defaultValue = defaultValue
        self.offset = offset
    }

    /// The custom-field id or name of a `lead.cf.<key>` variable; `nil` for every other variable.
    package var customFieldKey: String? { TemplateVocabulary.customFieldKey(of: path) }

    /// Whether the variable belongs to the fixed vocabulary (including `lead.cf.<key>`), so it needs no
    /// declaration by the script author.
    package var isBuiltIn: Bool { TemplateVocabulary.isBuiltIn(path) }
}

/// One piece of a parsed template.
package enum TemplateSegment: Hashable, Sendable {
    /// Text copied to the output as is.
    case literal(String)
    /// A placeholder replaced by a value when rendering.
    case variable(TemplateVariable)
}

// MARK: - Vocabulary

/// The variable names every template understands without declaring them.
///
/// Script authors may use further names (`{{promo_code}}`); those must be declared by the caller of
/// ``Template/unknownVariables(known:)`` or they are reported so the editor can warn before saving.
package enum TemplateVocabulary {
    /// The Kommo lead id.
    package static let leadID = "lead.id"
    /// The lead's name (deal title).
    package static let leadName = "lead.name"
    /// The lead's budget, as Kommo sends it.
    package static let leadPrice = "lead.price"
    /// The stage: the Kommo status id unless the caller supplies a display name.
    package static let leadStage = "lead.stage"
    /// The pipeline: the Kommo pipeline id unless the caller supplies a display name.
    package static let leadPipeline = "lead.pipeline"
    /// The responsible user: the Kommo user id unless the caller supplies a display name.
    package static let leadResponsible = "lead.responsible"
    /// The main contact's full name.
    package static let contactName = "contact.name"
    /// Derived from `contact.name` when not supplied (see ``TemplateValues/resolve(_:)``).
    package static let contactFirstName = "contact.first_name"
    /// The main contact's last name.
    package static let contactLastName = "contact.last_name"
    /// The main contact's first phone number.
    package static let contactPhone = "contact.phone"
    /// The main contact's first e-mail address.
    package static let contactEmail = "contact.email"
    /// The AI agent's display name, supplied by the caller.
    package static let agentName = "agent.name"
    /// The human manager's name, supplied by the caller.
    package static let managerName = "manager.name"
    /// Prefix of a lead custom field looked up by id or name: `lead.cf.512345`, `lead.cf.Callback date`.
    package static let customFieldPrefix = "lead.cf."

    /// The fixed names, in the order an editor would list them.
    package static let builtInNames: [String] = [
        leadID, leadName, leadPrice, leadStage, leadPipeline, leadResponsible,
        contactName, contactFirstName, contactLastName, contactPhone, contactEmail,
        agentName, managerName,
    ]

    private static let builtInSet = Set(builtInNames)

    /// The form names are compared in: trimmed and lowercased, so `{{ Lead.Name }}` and `lead.name`
    /// are the same variable.
    package static func normalize(_ name: String) -> String {
        name.trimmingCharacters(in: .whitespaces).lowercased()
    }

    /// The trimmed id or name after `lead.cf.` (prefix matched case-insensitively), or `nil` when
    /// `name` is not a custom-field reference or names no field.
    package static func customFieldKey(of name: String) -> String? {
        let trimmed = name.trimmingCharacters(in: .whitespaces)
        guard trimmed.count > customFieldPrefix.count,
              trimmed.prefix(customFieldPrefix.count).lowercased() == customFieldPrefix
        else { return nil }
        let key = trimmed.dropFirst(customFieldPrefix.count).trimmingCharacters(in: .whitespaces)
        return key.isEmpty ? nil : key
    }

    /// Whether `name` is one of ``builtInNames`` or a `lead.cf.<key>` reference.
    package static func isBuiltIn(_ name: String) -> Bool {
        builtInSet.contains(normalize(name)) || customFieldKey(of: name) != nil
    }
}
