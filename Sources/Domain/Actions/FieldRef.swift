import Foundation

/// A reference to a lead, contact or company field, as written in `field_value` conditions, `set_field`
/// actions and own writes.
///
/// Syntax (case-insensitive prefixes):
/// - `name`, `price`, `status_id`, `lead.name` — a plain lead field (the keys Kommo's webhooks use);
/// - `cf.123456`, `cf.Budget`, `lead.cf.Budget` — a lead custom field by id, or by name or code;
/// - `contact.phone`, `contact.cf.Email`, `company.cf.INN` — the same for the lead's contact or company.
///
/// `LeadFacts.fieldValues` stores each value under canonical keys built here, so lookups and writes agree.
package struct FieldRef: Sendable, Hashable, CustomStringConvertible {
    /// Whose field.
    package enum Entity: String, Sendable, Hashable {
        /// The lead itself.
        case lead
        /// The lead's contact.
        case contact
        /// The lead's company.
        case company
    }

    /// Whose field.
    package let entity: Entity
    /// A custom field (looked up by id, then by name or code) rather than a plain field.
    package let isCustom: Bool
    /// The plain key, or the custom field's id or name, as written.
    package let key: String
    /// Keys to try in `LeadFacts.fieldValues`, most specific first: a custom field's id as written, then its
    /// folded name; a plain field's lowercased key. Stored because every evaluation of the leaf needs them.
    package let lookupKeys: [String]

    /// Parses a reference; `nil` when it names nothing (empty, or a bare prefix such as `cf.`).
    package init?(_ text: String) {
        var rest = TextFold.trim(text)
        var entity = Entity.lead
        for candidate in [Entity.lead, .contact, .company] {
            let prefix = candidate.rawValue + "."
            if Self.hasPrefix(rest, prefix) {
                entity = candidate
                rest = rest.dropFirst(prefix.count)
                break
            }
        }
        var isCustom = false
        if Self.hasPrefix(rest, "cf.") {
            isCustom = true
            rest = rest.dropFirst(3)
        }
        let key = String(TextFold.trim(rest))
        guard !key.isEmpty else { return nil }
        self.entity = entity
        self.isCustom = isCustom
        self.key = key
        let prefix = FieldRef.prefix(entity)
        if isCustom {
            let exact = "\(prefix)cf.\(key)"
            let folded = "\(prefix)cf.\(TextFold.fold(key))"
            lookupKeys = exact == folded ? [exact] : [exact, folded]
        } else {
            lookupKeys = ["\(prefix)\(key.lowercased())"]
        }
    }

    /// Whether `text` starts with the ASCII `prefix`, ignoring case.
    private static func hasPrefix(_ text: Substring, _ prefix: String) -> Bool {
        text.utf8.count >= prefix.utf8.count
            && zip(text.utf8, prefix.utf8).allSatisfy { a, b in a == b || (a >= 0x41 && a <= 0x5A && a + 0x20 == b) }
    }

    /// The reference in its written form (`contact.cf.Email`).
    package var description: String {
        (entity == .lead ? "" : "\(entity.rawValue).") + (isCustom ? "cf." : "") + key
    }


    /// The key prefix of an entity: none for the lead, `contact.` / `company.` otherwise.
    @inlinable package static func prefix(_ entity: Entity) -> String { entity == .lead ? "" : "\(entity.rawValue)." }

    /// The storage keys of a plain field of `entity`.
    @inlinable package static func plainKey(_ key: String, entity: Entity) -> String { prefix(entity) + key.lowercased() }

    /// The storage keys of a custom field: by id, by folded name and by folded code.
    @inlinable package static func customKeys(_ field: CustomFieldValue, entity: Entity) -> [String] {
        let prefix = prefix(entity)
        var keys: [String] = []
        // Name and code first so that the id, written last, wins the rare clash with a field named like an id.
        if !field.name.isEmpty { keys.append("\(prefix)cf.\(TextFold.fold(field.name))") }
        if !field.code.isEmpty { keys.append("\(prefix)cf.\(TextFold.fold(field.code))") }
        if !field.id.isEmpty { keys.append("\(prefix)cf.\(field.id)") }
        return keys
    }
}
