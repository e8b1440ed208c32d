import Basics
import Foundation
import Hummingbird
import Wire

// MARK: - Answers

/// One link of a cascade: a rule fired on an event and its write to Kommo came back as the next event.
struct CascadeStepDTO: Codable, Sendable {
    var ruleId: String
    var ruleName: String
    var eventId: String
    var at: String?
    enum CodingKeys: String, CodingKey { case at, ruleId = "rule_id", ruleName = "rule_name", eventId = "event_id" }
}

/// The chain of our own writes an event echoes, and whether the bound stopped rules on it.
struct CascadeDTO: Codable, Sendable {
    var originEventId: String
    var depth: Int
    var maxDepth: Int
    var stopped: Bool
    var steps: [CascadeStepDTO]
    enum CodingKeys: String, CodingKey { case depth, stopped, steps, originEventId = "origin_event_id", maxDepth = "max_depth" }

    init(_ cascade: PB.Cascade) {
        originEventId = cascade.originEventId
        depth = Int(cascade.depth)
        maxDepth = Int(cascade.maxDepth)
        stopped = cascade.stopped
        steps = cascade.steps.map {
            CascadeStepDTO(ruleId: $0.ruleId, ruleName: $0.ruleName, eventId: $0.eventId, at: RFC3339.string(micros: $0.atMicros))
        }
    }

    /// The same members as a JSON value, for the lead timeline's entries.
    var json: JSONValue {
        .object([
            "origin_event_id": .string(originEventId), "depth": .int(Int64(depth)), "max_depth": .int(Int64(maxDepth)),
            "stopped": .bool(stopped),
            "steps": .array(steps.map { step in
                .object(["rule_id": .string(step.ruleId), "rule_name": .string(step.ruleName), "event_id": .string(step.eventId),
                         "at": step.at.map(JSONValue.string) ?? .null])
            }),
        ])
    }
}

struct CascadeRuleDTO: Codable, Sendable {
    var id: String
    var name: String
    var agentId: String?
    enum CodingKeys: String, CodingKey { case id, name, agentId = "agent_id" }
}

/// A cycle of rules the cascade bound stopped: which rules, how often, when last.
struct CascadeStopDTO: Codable, Sendable {
    var rules: [CascadeRuleDTO]
    var stops: Int64
    var lastStoppedAt: String?
    var lastEventId: String
    var lastLeadId: String?
    var lastCascade: CascadeDTO?
    enum CodingKeys: String, CodingKey {
        case rules, stops
        case lastStoppedAt = "last_stopped_at", lastEventId = "last_event_id", lastLeadId = "last_lead_id", lastCascade = "last_cascade"
    }

    init(_ stop: PB.CascadeStop) {
        rules = stop.rules.map { CascadeRuleDTO(id: $0.ruleId, name: $0.ruleName, agentId: $0.agentId.isEmpty ? nil : $0.agentId) }
        stops = stop.stops
        lastStoppedAt = RFC3339.string(micros: stop.lastStoppedAtMicros)
        lastEventId = stop.lastEventId
        lastLeadId = stop.lastLeadId == 0 ? nil : String(stop.lastLeadId)
        lastCascade = stop.lastCascade.map(CascadeDTO.init)
    }
}

struct CascadeStopListDTO: Codable, Sendable {
    var items: [CascadeStopDTO]
}

// MARK: - Routes

extension GatewayApp {
    /// The cycles of an agent's rules that the cascade bound stopped (owned by rules-service), for the
    /// rules page: which rules kept undoing each other, how often they were stopped, when last.
    static func addCascadeRoutes(to api: RouterGroup<GatewayContext>, peers: Peers) {
        api.get("/agents/{id}/cascades") { request, context -> Response in
            var query = PB.CascadeQuery()
            query.agentId = try context.parameters.require("id")
            query.limit = try QueryReader(request).limit()
            let list = try await peers.rules.listCascadeStops(query, options: peers.options(context))
            return try jsonResponse(CascadeStopListDTO(items: list.items.map(CascadeStopDTO.init)))
        }
    }
}
