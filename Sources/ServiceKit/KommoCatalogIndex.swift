import Basics
import Domain
import Wire

/// What a connected Kommo account's catalog names, by id: pipelines and their stages, users, custom
/// fields with their enum values, and task types. Built from the catalog's JSON (the shape of
/// `GET /api/v1/kommo/catalog`), it checks the ids a rule, sequence, agent or script names and gives
/// each id its name for explanations ("Qualified (61234502)").
package struct KommoCatalogIndex: Sendable, Hashable {
    package struct Stage: Sendable, Hashable {
        package var name: String
        package var pipelineID: Int64
        package var pipelineName: String
    }

    package var pipelines: [Int64: String] = [:]
    package var stages: [Int64: [Stage]] = [:]
    package var users: [Int64: String] = [:]
    /// Custom fields by entity (`leads`, `contacts`, `companies`) and id.
    package var fields: [String: [Int64: String]] = [:]
    package var taskTypes: [Int64: String] = [:]

    /// Kommo's own task types, in every account whether or not an answer lists them.
    package static let builtInTaskTypes: [Int64: String] = [1: "Follow-up", 2: "Meeting"]

    package init(catalog json: JSONValue) {
        for pipeline in json["pipelines"]?.array ?? [] {
            guard let id = pipeline["id"]?.int64 else { continue }
            let name = pipeline["name"]?.string ?? ""
            pipelines[id] = name
            for stage in pipeline["stages"]?.array ?? [] {
                guard let stageID = stage["id"]?.int64 else { continue }
                stages[stageID, default: []].append(Stage(name: stage["name"]?.string ?? "", pipelineID: id, pipelineName: name))
            }
        }
        for user in json["users"]?.array ?? [] {
            if let id = user["id"]?.int64 { users[id] = user["name"]?.string ?? "" }
        }
        for entity in ["leads", "contacts", "companies"] {
            var known: [Int64: String] = [:]
            for field in json["custom_fields"]?[entity]?.array ?? [] {
                guard let id = field["id"]?.int64 else { continue }
                known[id] = field["name"]?.string ?? ""
            }
            fields[entity] = known
        }
        taskTypes = Self.builtInTaskTypes
        for type in json["task_types"]?.array ?? [] {
            if let id = type["id"]?.int64 { taskTypes[id] = type["name"]?.string ?? "" }
        }
    }

    // MARK: Names

    /// What an id names in this account, by the kind of thing the document says it is.
    package func name(_ kind: KommoIDKind, _ id: Int64, pipelineID: Int64? = nil) -> String? {
        switch kind {
        case .pipeline: return pipelines[id]
        case .stage:
            guard let candidates = stages[id] else { return nil }
            let stage = candidates.first { $0.pipelineID == pipelineID } ?? candidates[0]
            // Won and lost share their ids across pipelines: the pipeline tells them apart.
            return candidates.count > 1 && pipelineID == nil ? stage.name : "\(stage.pipelineName) › \(stage.name)"
        case .user: return users[id]
        case .taskType: return taskTypes[id]
        case .leadField: return fields["leads"]?[id]
        case .contactField: return fields["contacts"]?[id]
        case .companyField: return fields["companies"]?[id]
        }
    }

    /// `Name (id)` when the catalog knows the id, else the id alone.
    package func label(_ kind: KommoIDKind, _ id: Int64, pipelineID: Int64? = nil) -> String {
        guard let name = name(kind, id, pipelineID: pipelineID), !name.isEmpty else { return String(id) }
        return "\(name) (\(id))"
    }

    // MARK: Checking a document

    /// The ids `document` names that this account does not know, each as a problem at its JSON path,
    /// and stages named with a pipeline they are not in.
    package func unknownIDs(in document: JSONValue) -> [FieldViolation] {
        var problems: [FieldViolation] = []
        for reference in KommoIDReference.all(in: document) {
            let known: Bool
            switch reference.kind {
            case .stage:
                guard let candidates = stages[reference.id] else { known = false; break }
                if let pipelineID = reference.pipelineID, pipelines[pipelineID] != nil,
                   !candidates.contains(where: { $0.pipelineID == pipelineID }) {
                    problems.append(FieldViolation(field: reference.path, message:
                        "stage \(reference.id) is not in pipeline \(label(.pipeline, pipelineID)); it is in "
                        + candidates.map { "\($0.pipelineName) (\($0.pipelineID))" }.joined(separator: ", ")))
                    continue
                }
                known = true
            default:
                known = name(reference.kind, reference.id) != nil
            }
            if !known {
                problems.append(FieldViolation(field: reference.path, message:
                    "the Kommo account has no \(reference.kind.noun) \(reference.id); pick one from the account's catalog "
                    + "(refresh it if it was added in Kommo just now)"))
            }
        }
        return problems
    }
}

/// What kind of Kommo entity an id in a document names.
package enum KommoIDKind: String, Sendable, Hashable, CaseIterable {
    case pipeline, stage, user, taskType, leadField, contactField, companyField

    /// How a message names the kind.
    package var noun: String {
        switch self {
        case .pipeline: "pipeline"
        case .stage: "stage"
        case .user: "user"
        case .taskType: "task type"
        case .leadField: "lead field"
        case .contactField: "contact field"
        case .companyField: "company field"
        }
    }
}

/// One Kommo id a document names, where, and (for a stage) the pipeline named beside it.
package struct KommoIDReference: Sendable, Hashable {
    package var path: String
    package var kind: KommoIDKind
    package var id: Int64
    package var pipelineID: Int64?

    /// Members whose value is one id, or a list of ids, of a kind — the same names in rules (triggers,
    /// conditions, actions), sequences (triggers, entry filters, steps), agents and scripts.
    static let memberKinds: [String: KommoIDKind] = [
        "pipeline_id": .pipeline, "pipeline_ids": .pipeline,
        "stage_id": .stage, "stage_ids": .stage, "status_id": .stage, "resume_stage_ids": .stage,
        "responsible_user_id": .user, "user_ids": .user,
        "task_type": .taskType,
        // An agent's `ai_actions.field_ids`: the lead's custom fields its AI replies may set.
        "field_ids": .leadField,
    ]
    /// Members whose value is a field reference (`cf.123`, `contact.cf.456`).
    static let fieldMembers: Set<String> = ["field"]

    /// Every Kommo id `document` names, in document order.
    package static func all(in document: JSONValue) -> [KommoIDReference] {
        var found: [KommoIDReference] = []
        walk(document, path: "", into: &found)
        return found
    }

    private static func walk(_ value: JSONValue, path: String, into found: inout [KommoIDReference]) {
        switch value {
        case .object(let members):
            let pipelineID = members["pipeline_id"].flatMap(id)
            for key in members.keys.sorted() {
                let member = members[key]!
                let memberPath = path.isEmpty ? key : "\(path).\(key)"
                if let kind = memberKinds[key] {
                    if case .array(let items) = member {
                        for (index, item) in items.enumerated() {
                            if let id = id(item) { found.append(.init(path: "\(memberPath)[\(index)]", kind: kind, id: id, pipelineID: pipelineID)) }
                        }
                    } else if let id = id(member) {
                        found.append(.init(path: memberPath, kind: kind, id: id, pipelineID: kind == .stage ? pipelineID : nil))
                    }
                    continue
                }
                if fieldMembers.contains(key), let text = member.string, let reference = field(text) {
                    found.append(.init(path: memberPath, kind: reference.kind, id: reference.id))
                    continue
                }
                // `update_lead` parameters name custom fields by key: {"cf.123": "…"}.
                if let reference = field(key) {
                    found.append(.init(path: memberPath, kind: reference.kind, id: reference.id))
                }
                walk(member, path: memberPath, into: &found)
            }
        case .array(let items):
            for (index, item) in items.enumerated() { walk(item, path: "\(path)[\(index)]", into: &found) }
        default:
            break
        }
    }

    /// An id as documents write it: a whole number, or digits in a string (`kommo_action` parameters).
    private static func id(_ value: JSONValue) -> Int64? {
        if let number = value.int64, number > 0 { return number }
        if let text = value.string, !text.isEmpty, text.allSatisfy(\.isASCII), text.allSatisfy(\.isNumber), let number = Int64(text), number > 0 {
            return number
        }
        return nil
    }

    /// A custom field named by id (`cf.123`, `lead.cf.123`, `contact.cf.123`, `company.cf.123`); fields named
    /// by name or code are looked up by the service at run time and are not ids.
    private static func field(_ text: String) -> (kind: KommoIDKind, id: Int64)? {
        guard let reference = FieldRef(text), reference.isCustom, let id = Int64(reference.key), id > 0 else { return nil }
        switch reference.entity {
        case .lead: return (.leadField, id)
        case .contact: return (.contactField, id)
        case .company: return (.companyField, id)
        }
    }
}
