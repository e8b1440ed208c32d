import Basics
import Domain
import Foundation
import Hummingbird
import Wire

/// A preview of a script: for a lead (its stored facts), with sample values on top, or both.
struct RenderScriptBody: RequestBody {
    static let fields: Set<String> = ["lead_id", "values"]
    var leadID: Int64?
    var values: [String: JSONValue]?
    enum CodingKeys: String, CodingKey { case leadID = "lead_id", values }

    /// `lead_id` as a number or, like the other lead ids of this API, a string of digits.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        values = try container.decodeIfPresent([String: JSONValue].self, forKey: .values)
        leadID = try Self.leadID(in: container, key: .leadID)
    }

    /// A lead id given as a number or a string of digits; anything else is answered 400.
    static func leadID<Key: CodingKey>(in container: KeyedDecodingContainer<Key>, key: Key) throws -> Int64? {
        // The two accepted shapes, tried in turn.
        if let number = try? container.decodeIfPresent(Int64.self, forKey: key) { return number }
        if let text = try? container.decodeIfPresent(String.self, forKey: key) {
            guard let number = Int64(text) else { throw Problem.field("lead_id", "must be a Kommo id (a positive integer)") }
            return number
        }
        if container.contains(key), try !container.decodeNil(forKey: key) {
            throw Problem.field("lead_id", "must be a Kommo id (a positive integer)")
        }
        return nil
    }
}

/// A preview of a template that is not stored (an action's text in the editor), for a lead, with
/// sample values on top, or both.
struct RenderTemplateBody: RequestBody {
    static let fields: Set<String> = ["template", "lead_id", "values"]
    var template: String
    var leadID: Int64?
    var values: [String: JSONValue]?
    enum CodingKeys: String, CodingKey { case template, leadID = "lead_id", values }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        template = try container.decode(String.self, forKey: .template)
        values = try container.decodeIfPresent([String: JSONValue].self, forKey: .values)
        leadID = try RenderScriptBody.leadID(in: container, key: .leadID)
    }
}

/// A rendered template: the text, and the variables that had no value (rendered empty, or as their default).
struct TemplateRenderDTO: Codable, Sendable {
    var text: String
    var missing: [String]
}

struct RollbackScriptBody: RequestBody {
    static let fields: Set<String> = ["version"]
    var version: Int64
}

struct RenderDTO: Codable, Sendable {
    var text: String?
    var blocked: Bool
    var missing: [String]
    var reason: String?
    var version: Int64
}

struct ScriptVersionDTO: Codable, Sendable {
    var version: Int64
    var createdAt: String
    var script: JSONValue
    enum CodingKeys: String, CodingKey { case version, script, createdAt = "created_at" }
}

struct ScriptVersionsDTO: Codable, Sendable {
    var scriptID: String
    var currentVersion: Int64
    var items: [ScriptVersionDTO]
    enum CodingKeys: String, CodingKey { case items, scriptID = "script_id", currentVersion = "current_version" }
}

extension GatewayApp {
    /// Preview, versions, rollback and effectiveness of sales scripts; the CRUD and search are the
    /// document routes. Every call names the agent, so another agent's or tenant's script answers 404.
    /// Sample values of a preview: strings, numbers or booleans by variable name; `null` leaves one out.
    static func renderValues(_ values: [String: JSONValue]?) throws -> [PB.KeyValue] {
        var list: [PB.KeyValue] = []
        for (key, value) in (values ?? [:]).sorted(by: { $0.key < $1.key }) {
            if value == .null { continue }
            guard let text = value.string else { throw Problem.field("values.\(key)", "must be a string, number or boolean") }
            list.append(PB.KeyValue(key: key, value: text))
        }
        return list
    }

    static func addScriptRoutes(to api: RouterGroup<GatewayContext>, peers: Peers) {
        api.post("/agents/{id}/scripts/{scriptId}/render") { request, context -> Response in
            let body = try await request.decodeBody(RenderScriptBody.self, context: context)
            var render = PB.RenderRequest()
            render.agentId = try context.parameters.require("id")
            render.scriptId = try context.parameters.require("scriptId")
            if let lead = body.leadID {
                guard lead > 0 else { throw Problem.field("lead_id", "must be a Kommo id (a positive integer)") }
                render.leadId = lead
            }
            render.values = try Self.renderValues(body.values)
            let answer = try await peers.rules.renderScript(render, options: peers.options(context))
            return try jsonResponse(RenderDTO(text: answer.blocked ? nil : answer.text, blocked: answer.blocked, missing: answer.missing,
                                              reason: answer.reason.isEmpty ? nil : answer.reason, version: answer.version))
        }
        api.post("/agents/{id}/templates/render") { request, context -> Response in
            let body = try await request.decodeBody(RenderTemplateBody.self, context: context)
            guard !body.template.isEmpty else { throw Problem.field("template", "must not be empty") }
            guard body.template.count <= Limits.templateLength else {
                throw Problem.field("template", "must be at most \(Limits.templateLength) characters")
            }
            var render = PB.RenderRequest()
            render.agentId = try context.parameters.require("id")
            render.template = body.template
            if let lead = body.leadID {
                guard lead > 0 else { throw Problem.field("lead_id", "must be a Kommo id (a positive integer)") }
                render.leadId = lead
            }
            render.values = try Self.renderValues(body.values)
            let answer = try await peers.rules.renderScript(render, options: peers.options(context))
            return try jsonResponse(TemplateRenderDTO(text: answer.text, missing: answer.missing))
        }
        api.get("/agents/{id}/scripts/{scriptId}/versions") { _, context -> Response in
            var ref = PB.DocumentRef()
            ref.parentId = try context.parameters.require("id")
            ref.id = try context.parameters.require("scriptId")
            let list = try await peers.rules.listScriptVersions(ref, options: peers.options(context))
            return try jsonResponse(ScriptVersionsDTO(scriptID: list.scriptId, currentVersion: list.currentVersion, items: list.items.map {
                ScriptVersionDTO(version: $0.version, createdAt: RFC3339.string(micros: $0.createdAtMicros) ?? "",
                                 script: JSONValue(parsing: $0.json) ?? .null)
            }))
        }
        api.post("/agents/{id}/scripts/{scriptId}/rollback") { request, context -> Response in
            let body = try await request.decodeBody(RollbackScriptBody.self, context: context)
            guard body.version > 0 else { throw Problem.field("version", "must be a positive version number") }
            var rollback = PB.ScriptRollback()
            rollback.agentId = try context.parameters.require("id")
            rollback.scriptId = try context.parameters.require("scriptId")
            rollback.version = body.version
            rollback.ifVersion = try ifVersion(request)
            return try documentResponse(try await peers.rules.rollbackScript(
                rollback, options: try peers.options(context)))
        }
        api.get("/agents/{id}/scripts/{scriptId}/stats") { request, context -> Response in
            let stats = try statsQuery(request, context: context, item: "scriptId")
            let report = try await peers.rules.scriptStats(stats, options: peers.options(context))
            return try jsonResponse(JSONValue(parsing: report.json) ?? .object([:]))
        }
        api.get("/agents/{id}/scripts-ranking") { request, context -> Response in
            let query = QueryReader(request)
            var stats = PB.StatsQuery()
            stats.agentId = try context.parameters.require("id")
            stats.fromMicros = try query.time("from") ?? 0
            stats.toMicros = try query.time("to") ?? 0
            let report = try await peers.rules.scriptRanking(stats, options: peers.options(context))
            return try jsonResponse(JSONValue(parsing: report.json) ?? .object([:]))
        }
    }
}
