import Foundation

/// The values a template is rendered with: variable name → text.
///
/// Names are matched case-insensitively and with surrounding whitespace ignored. A `lead.cf.<key>`
/// variable is looked up first as an entry with that full name, then among the custom fields by id, then
/// by name (ignoring case), mirroring ``KommoEvent/customField(_:)``.
///
/// A value that is empty or only whitespace counts as missing: Kommo sends an empty string for a
/// cleared field, and "Hello , welcome" is worse than the template's default or a blocked send.
package struct TemplateValues: Hashable, Sendable, ExpressibleByDictionaryLiteral {
    /// Entries keyed by normalized name.
    private var entries: [String: String] = [:]
    /// Custom field values keyed by lowercased, trimmed id.
    private var customFieldsByID: [String: String] = [:]
    /// Custom field values keyed by lowercased, trimmed name.
    private var customFieldsByName: [String: String] = [:]

    /// No values.
    package init() {}

    /// The given name → value pairs (`["lead.name": "Big deal", "promo_code": "SPRING"]`). When two keys
    /// differ only in case or surrounding whitespace, the later one in iteration order wins, which for a
    /// dictionary is unspecified; don't pass such keys.
    package init(_ values: [String: String]) {
        for (name, value) in values { self[name] = value }
    }

    /// The given pairs; a later pair replaces an earlier one with the same name.
    package init(dictionaryLiteral elements: (String, String)...) {
        for (name, value) in elements { self[name] = value }
    }

    /// The value stored under `name` exactly as set, without custom-field lookup or derivation; setting
    /// `nil` removes it.
    package subscript(_ name: String) -> String? {
        get { entries[TemplateVocabulary.normalize(name)] }
        set { entries[TemplateVocabulary.normalize(name)] = newValue }
    }

    /// Records a lead custom field so `{{lead.cf.<id>}}` and `{{lead.cf.<name>}}` both find it. Either key
    /// may be empty, and then only the other one works.
    package mutating func setCustomField(id: String, name: String, value: String) {
        let id = TemplateVocabulary.normalize(id)
        let name = TemplateVocabulary.normalize(name)
        if !id.isEmpty { customFieldsByID[id] = value }
        if !name.isEmpty { customFieldsByName[name] = value }
    }

    /// These values with `other`'s on top: what `other` sets wins, whatever it leaves unset is kept.
    /// Used to lay caller-known names (agent, manager, stage names) over values taken from an event.
    package func merging(_ other: TemplateValues) -> TemplateValues {
        var merged = self
        merged.entries.merge(other.entries) { _, new in new }
        merged.customFieldsByID.merge(other.customFieldsByID) { _, new in new }
        merged.customFieldsByName.merge(other.customFieldsByName) { _, new in new }
        return merged
    }

    /// The text a `{{name}}` placeholder renders as, or `nil` when the value is missing (absent, empty or
    /// whitespace).
    ///
    /// `contact.first_name`, when not supplied, is the first whitespace-separated word of `contact.name`:
    /// Kommo often has only the full name, and scripts greet by first name.
    package func resolve(_ name: String) -> String? {
        let key = TemplateVocabulary.normalize(name)
        if let value = present(entries[key]) { return value }
        if let field = TemplateVocabulary.customFieldKey(of: name) {
            let fieldKey = field.lowercased()
            return present(customFieldsByID[fieldKey]) ?? present(customFieldsByName[fieldKey])
        }
        if key == TemplateVocabulary.contactFirstName,
           let fullName = present(entries[TemplateVocabulary.contactName]),
           let first = fullName.split(whereSeparator: { $0.isWhitespace }).first {
            return String(first)
        }
        return nil
    }

    private func present(_ value: String?) -> String? {
        guard let value, value.contains(where: { !$0.isWhitespace }) else { return nil }
        return value
    }
}
