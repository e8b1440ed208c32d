import Domain
import Foundation
import ServiceKit
import Wire

/// The template values an event carries about its lead, flattened to name → value so the store can keep
/// the latest of each per lead. Used to render texts when the tenant has no Kommo credentials (or Kommo
/// cannot be read): the values are those of the last events seen, not a fresh read.
package enum LeadValues {
    /// Built-in names and `lead.cf.<id>` / `lead.cf.<name>` entries with a value in `event`.
    package static func entries(of event: PB.Event) -> [String: String] {
        let kommoEvent = KommoEvent(event)
        let values = TemplateValues(event: kommoEvent)
        var entries: [String: String] = [:]
        for name in TemplateVocabulary.builtInNames {
            if let value = values.resolve(name) { entries[name] = value }
        }
        if event.entityType == "lead" {
            for field in event.customFields where !field.values.isEmpty {
                let value = field.values.joined(separator: ", ")
                if !field.id.isEmpty { entries[TemplateVocabulary.customFieldPrefix + field.id] = value }
                if !field.name.isEmpty { entries[TemplateVocabulary.customFieldPrefix + field.name] = value }
            }
        }
        return entries
    }
}
