import Basics
import Foundation
import Hummingbird
import ServiceKit
import Wire

struct RunRuleBody: RequestBody {
    static let fields: Set<String> = ["lead_id"]
    var leadId: String
    enum CodingKeys: String, CodingKey { case leadId = "lead_id" }
}

/// An event to try a rule on: given inline, by history id, or the tenant's last N events.
struct TestRuleBody: RequestBody {
    static let fields: Set<String> = ["event", "event_id", "last"]
    var event: InlineEvent?
    var eventId: String?
    var last: Int?
    enum CodingKeys: String, CodingKey { case event, last, eventId = "event_id" }
}

struct InlineEvent: Codable, Sendable {
    var type: String
    var leadId: String?
    var pipelineId: String?
    var statusId: String?
    var oldStatusId: String?
    var text: String?
    var origin: String?
    var fields: [String: String]?
    enum CodingKeys: String, CodingKey {
        case type, text, origin, fields
        case leadId = "lead_id", pipelineId = "pipeline_id", statusId = "status_id", oldStatusId = "old_status_id"
    }
}

struct RuleTestDTO: Codable, Sendable {
    var results: [DecisionDTO]
}

extension GatewayApp {
    static func kommoID(_ text: String?, field: String) throws -> Int64 {
        guard let text else { return 0 }
        guard let value = Int64(text), value > 0 else { throw Problem.field(field, "must be a Kommo id (a positive integer as a string)") }
        return value
    }

    /// The statistics query of `/agents/{id}/<kind>/{item}/stats`: the agent, the item and the optional
    /// `from`/`to` window.
    static func statsQuery(_ request: Request, context: GatewayContext, item: String) throws -> PB.StatsQuery {
        let query = QueryReader(request)
        var stats = PB.StatsQuery()
        stats.agentId = try context.parameters.require("id")
        stats.id = try context.parameters.require(item)
        stats.fromMicros = try query.time("from") ?? 0
        stats.toMicros = try query.time("to") ?? 0
        return stats
    }

    static func addRuleRunRoutes(to api: RouterGroup<GatewayContext>, peers: Peers, clock: any WallClock) {
        // Manual run: enters ingest as a `manual` event and follows the normal journey.
        api.post("/agents/{id}/rules/{ruleId}/run") { request, context -> Response in
            let tenant = try context.tenant
            let body = try await request.decodeBody(RunRuleBody.self, context: context)
            let leadID = try kommoID(body.leadId, field: "lead_id")
            let options = peers.options(tenant: tenant, requestID: context.requestID)
            var ref = PB.DocumentRef()
            ref.parentId = try context.parameters.require("id")
            ref.id = try context.parameters.require("ruleId")
            _ = try await peers.rules.getRule(ref, options: options)
            var event = PB.Event()
            event.id = RandomID.make("ev_manual_", hexDigits: 24)
            event.tenantId = tenant
            event.type = .manual
            event.entityType = "lead"
            event.entityId = String(leadID)
            event.leadId = leadID
            event.origin = .manual
            event.ruleId = ref.id
            var ingest = PB.IngestRequest()
            ingest.events = [event]
            let answer = try await peers.ingest.ingest(ingest, options: options)
            return try jsonResponse(["event_id": answer.eventIds.first ?? event.id, "status": answer.status.name], status: .accepted)
        }
        // Dry run: explanations and would-be actions; nothing is written.
        api.post("/agents/{id}/rules/{ruleId}/test") { request, context -> Response in
            let tenant = try context.tenant
            let body = try await request.decodeBody(TestRuleBody.self, context: context)
            if let last = body.last, !(1...50).contains(last) { throw Problem.field("last", "must be between 1 and 50") }
            let options = peers.options(tenant: tenant, requestID: context.requestID)
            var ref = PB.DocumentRef()
            ref.parentId = try context.parameters.require("id")
            ref.id = try context.parameters.require("ruleId")
            _ = try await peers.rules.getRule(ref, options: options)
            var events: [PB.Event] = []
            if let inline = body.event {
                var event = PB.Event()
                event.id = RandomID.make("ev_test_", hexDigits: 24)
                event.tenantId = tenant
                event.type = try WireNames.eventType(inline.type, field: "event.type")
                event.leadId = try kommoID(inline.leadId, field: "event.lead_id")
                event.entityType = "lead"
                event.entityId = String(event.leadId)
                event.pipelineId = try kommoID(inline.pipelineId, field: "event.pipeline_id")
                event.statusId = try kommoID(inline.statusId, field: "event.status_id")
                event.oldStatusId = try kommoID(inline.oldStatusId, field: "event.old_status_id")
                event.origin = .manual
                event.occurredAtMicros = clock.now().unixMicros
                event.receivedAtMicros = event.occurredAtMicros
                event.fields = (inline.fields ?? [:]).sorted { $0.key < $1.key }.map { PB.KeyValue(key: $0.key, value: $0.value) }
                if let text = inline.text {
                    var message = PB.MessageFields()
                    message.text = text
                    message.direction = .incoming
                    message.origin = inline.origin ?? ""
                    event.message = message
                }
                events.append(event)
            } else if let eventID = body.eventId {
                guard !eventID.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw Problem.field("event_id", "must not be empty: the id of a stored event (ev_…)")
                }
                var id = PB.IdRequest()
                id.id = eventID
                if let event = try await peers.ingest.getEvent(id, options: options).event { events.append(event) }
            } else if let last = body.last {
                var query = PB.EventQuery()
                query.limit = Int32(last)
                for summary in try await peers.ingest.listEvents(query, options: options).items {
                    var id = PB.IdRequest()
                    id.id = summary.id
                    if let event = try await peers.ingest.getEvent(id, options: options).event { events.append(event) }
                }
            } else {
                throw Problem(status: .badRequest, detail: "give an event, an event_id or last",
                              errors: [FieldViolation(field: "event", message: "or event_id or last is required")])
            }
            var results: [DecisionDTO] = []
            for event in events {
                var evaluate = PB.EvaluateRequest()
                evaluate.event = event
                evaluate.dryRun = true
                evaluate.onlyRuleIds = [ref.id]
                results.append(DecisionDTO(try await peers.rules.evaluate(evaluate, options: options)))
            }
            return try jsonResponse(RuleTestDTO(results: results))
        }
        api.get("/agents/{id}/rules/{ruleId}/stats") { request, context -> Response in
            let stats = try statsQuery(request, context: context, item: "ruleId")
            let report = try await peers.rules.ruleStats(stats, options: peers.options(context))
            return try jsonResponse(JSONValue(parsing: report.json) ?? .object([:]))
        }
    }
}
