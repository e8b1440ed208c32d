import Domain
import Foundation
import Wire

/// A sales script of an agent (the body of `/agents/{id}/scripts`):
///
/// ```json
/// {"name": "Warm greeting", "type": "greeting", "body": "Hi {{contact.first_name|there}}! I'm {{agent.name}}.",
///  "stage_ids": [61234501], "pipeline_id": 7100001, "language": "en", "active": true,
///  "trigger_phrases": ["hello", "hi"], "block_on_missing": true, "variables": ["promo_code"]}
/// ```
///
/// `stage_ids` empty means every stage; `pipeline_id` absent means every pipeline; `active` and
/// `block_on_missing` default to true (a lead is never sent a message with a hole in it). `variables`
/// declares the names callers supply (a rule's values, a render request), so only the rest warn. Answers add `id`,
/// `agent_id`, `version`, `created_at` and `updated_at`, and warn about variables the vocabulary does not
/// know.
package struct ScriptResource: Codable, Sendable, Hashable {
    /// The kinds of script, in the order a sale uses them.
    package static let types = ["greeting", "qualification", "presentation", "objection_handling", "closing"]
    /// Members the server sets; accepted in a body and ignored.
    package static let readOnlyKeys: Set<String> = ["id", "agent_id", "version", "created_at", "updated_at"]

    package var name: String
    package var type: String
    /// The template text (see `Template`).
    package var body: String
    package var stageIDs: [Int64]
    package var pipelineID: Int64?
    package var language: String
    package var active: Bool
    package var triggerPhrases: [String]
    /// Refuse to render when a variable without a default has no value.
    package var blockOnMissing: Bool
    /// Names of the variables callers supply, beyond the lead, contact, agent and manager vocabulary.
    package var variables: [String]

    private enum CodingKeys: String, CodingKey {
        case name, type, body, stageIDs = "stage_ids", pipelineID = "pipeline_id", language, active
        case triggerPhrases = "trigger_phrases", blockOnMissing = "block_on_missing", variables
    }

    /// Decodes the body with the documented defaults.
    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        type = try c.decodeIfPresent(String.self, forKey: .type) ?? ""
        body = try c.decodeIfPresent(String.self, forKey: .body) ?? ""
        stageIDs = try c.decodeIfPresent([Int64].self, forKey: .stageIDs) ?? []
        pipelineID = try c.decodeIfPresent(Int64.self, forKey: .pipelineID)
        language = try c.decodeIfPresent(String.self, forKey: .language) ?? ""
        active = try c.decodeIfPresent(Bool.self, forKey: .active) ?? true
        triggerPhrases = try c.decodeIfPresent([String].self, forKey: .triggerPhrases) ?? []
        blockOnMissing = try c.decodeIfPresent(Bool.self, forKey: .blockOnMissing) ?? true
        variables = try c.decodeIfPresent([String].self, forKey: .variables) ?? []
    }

    /// The parsed body; throws why it does not parse.
    package func template() throws(TemplateError) -> Template { try Template(parsing: body) }

    /// Everything wrong with the script, each with its field path.
    package func problems() -> [FieldViolation] {
        var problems: [FieldViolation] = []
        func add(_ field: String, _ message: String) { problems.append(FieldViolation(field: field, message: message)) }
        if name.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { add("name", "must not be empty") }
        else if name.count > Limits.nameLength { add("name", "must be at most \(Limits.nameLength) characters") }
        if !Self.types.contains(type) { add("type", "must be one of: \(Self.types.joined(separator: ", "))") }
        if body.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            add("body", "must not be empty")
        } else if body.utf8.count > Limits.scriptLength, body.count > Limits.scriptLength {
            add("body", "must be at most \(Limits.scriptLength) characters")
        } else {
            do {
                _ = try template()
            } catch {
                add("body", error.message)
            }
        }
        if stageIDs.count > Limits.idItems { add("stage_ids", "has \(stageIDs.count) stages; the limit is \(Limits.idItems)") }
        if triggerPhrases.count > Limits.triggerPhrases {
            add("trigger_phrases", "has \(triggerPhrases.count) phrases; the limit is \(Limits.triggerPhrases)")
        }
        if variables.count > Limits.scriptVariables { add("variables", "has \(variables.count) variables; the limit is \(Limits.scriptVariables)") }
        for (index, stage) in stageIDs.prefix(Limits.idItems).enumerated() where stage <= 0 { add("stage_ids[\(index)]", "must be a Kommo stage id") }
        if let pipelineID, pipelineID <= 0 { add("pipeline_id", "must be a Kommo pipeline id") }
        if !language.isEmpty, !AgentResource.isLanguageTag(language) { add("language", "must be a language tag such as es or pt-BR") }
        for (index, phrase) in triggerPhrases.prefix(Limits.triggerPhrases).enumerated() {
            if phrase.trimmingCharacters(in: .whitespaces).isEmpty { add("trigger_phrases[\(index)]", "must not be blank") }
            else if phrase.count > Limits.keywordLength { add("trigger_phrases[\(index)]", "must be at most \(Limits.keywordLength) characters") }
        }
        for (index, variable) in variables.prefix(Limits.scriptVariables).enumerated() {
            if !Self.isVariableName(variable) {
                add("variables[\(index)]", "must be a name of letters, digits, `_` and `.`, starting with a letter, at most 64 characters")
            } else if Self.vocabularyRoots.contains(String(variable.prefix { $0 != "." })) {
                add("variables[\(index)]", "\(variable) belongs to the built-in vocabulary and needs no declaration")
            } else if variables[..<index].contains(variable) {
                add("variables[\(index)]", "\(variable) is declared twice")
            }
        }
        return problems
    }

    /// Variables the vocabulary does not know, as warnings on `body`: probably typos. A body that does not
    /// parse (validation refuses one, so only a damaged record has it) is warned about with its error.
    package func warnings() -> [FieldViolation] {
        do {
            return try template().unknownVariables(known: Set(variables)).map {
                FieldViolation(field: "body", message: "unknown variable {{\($0)}}: it renders as its default, or blocks the send")
            }
        } catch {
            return [FieldViolation(field: "body", message: error.message)]
        }
    }

    /// The first segments of the built-in variables (`lead.name`, `contact.first_name`, …).
    static let vocabularyRoots: Set<String> = ["lead", "contact", "agent", "manager"]

    static func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.count <= 64, first.properties.isAlphabetic, first.isASCII else { return false }
        return name.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "_" || $0 == "." }
    }

    /// Whether the script applies to a lead in `stageID` of `pipelineID` (unknown values match).
    package func applies(pipelineID lead: Int64?, stageID: Int64?) -> Bool {
        if let pipelineID, let lead, pipelineID != lead { return false }
        if stageIDs.isEmpty { return true }
        guard let stageID else { return false }
        return stageIDs.contains(stageID)
    }
}
