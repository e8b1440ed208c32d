import Basics
import Foundation

/// Analytics: reports over the counters the services keep as things happen.
extension OpenAPIDocument {
    static let analyticsParameters: [JSONValue] = [
        query("from", Schema.string(format: "date", maxLength: 10), "First day (in `tz`), included; default 29 days before `to`."),
        query("to", Schema.string(format: "date", maxLength: 10), "Last day (in `tz`), included; default today. At most 366 days after `from`."),
        query("tz", Schema.string(maxLength: 64), "IANA time zone the days are in, e.g. `Europe/Madrid`; default UTC."),
        query("agent_id", Schema.string(maxLength: 64), "Only what this agent did. Figures counted for the whole tenant (events, deliveries, dispatches, events evaluated, the conversation: inbound and manager messages, replies, first responses, hand-offs; Kommo calls) are not per agent: they read 0, and the overview names them in `tenant_wide`."),
    ]

    static var analyticsOperations: [APIOperation] {
        let csv = " `Accept: text/csv` answers CSV."
        return [
            APIOperation(method: "get", path: "/api/v1/analytics/overview", id: "analyticsOverview", summary: "What the agents did and earned",
                         tag: "analytics",
                         description: "Daily figures and totals: events, deliveries unparsed/rejected, failed dispatches, rule fires and "
                             + "non-fires by reason, actions by type and outcome, Kommo latency and 429s, messages, replies within 24 h, "
                             + "time to first response (a median from hourly buckets), hand-offs to managers, enrollments, live "
                             + "enrollments at the end of the range and pipeline outcomes of the leads our agents touched." + csv,
                         parameters: analyticsParameters, success: [200: ("The overview.", Schema.ref("AnalyticsOverview"))], csv: true),
            APIOperation(method: "get", path: "/api/v1/analytics/agents/{agentId}", id: "analyticsAgent", summary: "The overview of one agent",
                         tag: "analytics", description: "The overview with `agent_id` set to the path's agent." + csv,
                         parameters: [pathID("agentId")] + analyticsParameters,
                         success: [200: ("The agent's overview.", Schema.ref("AnalyticsOverview"))], csv: true),
            APIOperation(method: "get", path: "/api/v1/analytics/rules", id: "analyticsRules", summary: "Rules: evaluated, fired, not fired",
                         tag: "analytics", description: "Every rule counted in the range, most fires first, with outcomes and wins by last touch." + csv,
                         parameters: analyticsParameters, success: [200: ("The rules.", Schema.ref("AnalyticsRules"))], csv: true),
            APIOperation(method: "get", path: "/api/v1/analytics/sequences", id: "analyticsSequences", summary: "Sequences: enrolled, completed, exited",
                         tag: "analytics", description: "Every sequence counted in the range, most enrollments first." + csv,
                         parameters: analyticsParameters, success: [200: ("The sequences.", Schema.ref("AnalyticsSequences"))], csv: true),
            APIOperation(method: "get", path: "/api/v1/analytics/sequences/{sequenceId}/funnel", id: "analyticsSequenceFunnel",
                         summary: "A sequence's funnel", tag: "analytics",
                         description: "The sequence's steps in order: enrollments that reached each, how its runs ended, wins by last touch." + csv,
                         parameters: [pathID("sequenceId")] + analyticsParameters,
                         success: [200: ("The funnel.", Schema.ref("AnalyticsFunnel"))], csv: true),
            APIOperation(method: "get", path: "/api/v1/analytics/scripts", id: "analyticsScripts", summary: "Scripts ranked by effectiveness",
                         tag: "analytics",
                         description: "The scripts of every agent (or of `agent_id`) ranked by reply rate, then uses: uses in the range, "
                             + "replies within 24 h, advances within 7 days, wins within 30 days and the median seconds to reply, in total "
                             + "and per version. CSV: a row per script (version `all`), then one per version." + csv,
                         parameters: analyticsParameters, success: [200: ("The scripts.", Schema.ref("AnalyticsScripts"))], csv: true),
            APIOperation(method: "get", path: "/api/v1/analytics/outcomes", id: "analyticsOutcomes", summary: "Pipeline outcomes of touched leads",
                         tag: "analytics",
                         description: "Leads one of our actions touched that then advanced a stage, were won (142) or lost (143), and the sum "
                             + "of `price` of won leads, attributed by last touch: the latest action of ours that succeeded on the lead "
                             + "before the stage change — its agent, rule, sequence step and script." + csv,
                         parameters: analyticsParameters, success: [200: ("The outcomes.", Schema.ref("AnalyticsOutcomes"))], csv: true),
        ]
    }

    static var analyticsSchemas: [String: JSONValue] {
        let count = Schema.integer(minimum: 0)
        let counts = Schema.object([:], description: "Counts by name.")
        let range: [String: JSONValue] = [
            "from": Schema.string(format: "date"), "to": Schema.string(format: "date"), "tz": Schema.string("The IANA time zone of the days."),
        ]
        let figures = Schema.object(Dictionary(uniqueKeysWithValues: OverviewFigures.CodingKeys.allCases.map { key in
            (key.rawValue, key == .replyRate ? Schema.number("Replies within 24 h per message sent; null without messages.", nullable: true) : count)
        }), required: OverviewFigures.CodingKeys.allCases.filter { $0 != .replyRate }.map(\.rawValue))
        let outcomeFigures = Schema.object(["leads_advanced": count, "leads_won": count, "leads_lost": count, "won_value": count],
                                           required: ["leads_advanced", "leads_won", "leads_lost", "won_value"])
        let sequenceFigures = Schema.object([
            "enrolled": count, "completed": count, "exited": count, "failed": count, "exits_by_reason": counts,
            "leads_won": count, "won_value": count,
            "active": Schema.integer("Enrollments active or paused at the end of the range.", minimum: 0),
        ], required: ["enrolled", "completed", "exited", "failed", "exits_by_reason", "leads_won", "won_value", "active"])
        let rate = Schema.number("0…1, four places; 0 without uses.")
        var scriptFigures: [String: JSONValue] = [
            "uses": count, "replies": count, "reply_rate": rate, "advances": count, "advance_rate": rate, "wins": count, "win_rate": rate,
            "median_reply_seconds": Schema.number("Null without replies.", nullable: true),
        ]
        let scriptFigureNames = ["uses", "replies", "reply_rate", "advances", "advance_rate", "wins", "win_rate"]
        let versionFigures = Schema.object(scriptFigures.merging(["version": Schema.integer(minimum: 1)]) { $1 },
                                           required: scriptFigureNames + ["version"])
        scriptFigures.merge([
            "rank": Schema.integer(minimum: 1), "script_id": Schema.string(), "agent_id": Schema.string(), "name": Schema.string(),
            "type": Schema.string(), "active": Schema.boolean(), "version": Schema.integer("The script's current version.", minimum: 1),
            "versions": Schema.array(versionFigures, "The versions used in the range, oldest first."),
        ]) { $1 }
        return [
            "AnalyticsOverview": Schema.object(range.merging([
                "agent_id": Schema.string(),
                "totals": figures,
                "days": Schema.array(Schema.object(["day": Schema.string(format: "date"), "figures": figures], required: ["day", "figures"])),
                "events_by_type": counts, "events_by_origin": counts, "not_fired_by_reason": counts,
                "actions_by_type": Schema.object([:], description: "Per action type, counts by final outcome."),
                "actions_by_outcome": counts,
                "kommo": Schema.object([
                    "calls": count, "rate_limited": count,
                    "latency_p50_ms": Schema.integer("Upper bound of the latency bucket of the median call.", minimum: 0, nullable: true),
                    "latency_p99_ms": Schema.integer("Upper bound of the latency bucket of the 99th percentile.", minimum: 0, nullable: true),
                    "latency_buckets": counts,
                ], required: ["calls", "rate_limited", "latency_buckets"]),
                "top_rules": Schema.array(Schema.object(["rule_id": Schema.string(), "name": Schema.string(), "agent_id": Schema.string(), "fires": count],
                                                        required: ["rule_id", "fires"])),
                "first_response": Schema.object([
                    "responses": count,
                    "median_seconds": Schema.integer("Upper bound of the bucket the median falls in; null without responses or above a day.",
                                                     minimum: 0, nullable: true),
                    "buckets": Schema.object([:], description: "Responses by seconds: `le_10` … `le_86400`, `gt_86400`."),
                ], required: ["responses", "buckets"]),
                "live_enrollments": Schema.integer("Enrollments active or paused at the end of the range, over every sequence.", minimum: 0),
                "tenant_wide": Schema.array(Schema.string(), "With `agent_id`: the figures counted for the whole tenant, not per agent (they read 0 here). Empty without."),
            ]) { $1 }, required: ["from", "to", "tz", "totals", "days", "events_by_type", "events_by_origin", "not_fired_by_reason",
                                  "actions_by_type", "actions_by_outcome", "kommo", "first_response", "live_enrollments", "top_rules",
                                  "tenant_wide"]),
            "AnalyticsScripts": Schema.object(range.merging([
                "agent_id": Schema.string(),
                "scripts": Schema.array(Schema.object(scriptFigures, required: scriptFigureNames + ["rank", "script_id", "agent_id", "name", "type",
                                                                                                     "active", "version", "versions"])),
            ]) { $1 }, required: ["from", "to", "tz", "scripts"]),
            "AnalyticsRules": Schema.object(range.merging([
                "agent_id": Schema.string(),
                "rules": Schema.array(Schema.object([
                    "rule_id": Schema.string(), "name": Schema.string("Absent for a rule deleted since."), "agent_id": Schema.string(),
                    "evaluated": count, "fired": count, "not_fired": count, "outcomes": counts,
                    "leads_advanced": count, "leads_won": count, "leads_lost": count, "won_value": count,
                    "days": Schema.array(Schema.object(["day": Schema.string(format: "date"), "fired": count, "not_fired": count],
                                                       required: ["day", "fired", "not_fired"])),
                ], required: ["rule_id", "evaluated", "fired", "not_fired", "outcomes", "leads_advanced", "leads_won", "leads_lost",
                              "won_value", "days"])),
            ]) { $1 }, required: ["from", "to", "tz", "rules"]),
            "AnalyticsSequences": Schema.object(range.merging([
                "agent_id": Schema.string(),
                "sequences": Schema.array(Schema.object([
                    "sequence_id": Schema.string(), "name": Schema.string("Absent for a sequence deleted since."), "agent_id": Schema.string(),
                    "figures": sequenceFigures,
                ], required: ["sequence_id", "figures"])),
            ]) { $1 }, required: ["from", "to", "tz", "sequences"]),
            "AnalyticsFunnel": Schema.object(range.merging([
                "sequence_id": Schema.string(), "name": Schema.string(), "figures": sequenceFigures,
                "steps": Schema.array(Schema.object([
                    "position": Schema.integer(minimum: 1), "step_id": Schema.string(), "action_type": Schema.string(),
                    "reached": count, "outcomes": counts, "succeeded": count, "leads_won": count, "won_value": count,
                ], required: ["position", "step_id", "action_type", "reached", "outcomes", "succeeded", "leads_won", "won_value"])),
            ]) { $1 }, required: ["from", "to", "tz", "sequence_id", "name", "figures", "steps"]),
            "AnalyticsOutcomes": Schema.object(range.merging([
                "agent_id": Schema.string(),
                "leads_touched": count,
                "totals": outcomeFigures,
                "average_seconds_to_won": Schema.integer("Mean seconds from a won lead's first touch to the win.", minimum: 0, nullable: true),
                "attributions": Schema.array(Schema.object([
                    "kind": Schema.string(enumeration: ["rule", "step", "script"]),
                    "id": Schema.string("The rule or script id, or `<sequence id>.<step id>`."), "name": Schema.string(),
                    "figures": outcomeFigures,
                ], required: ["kind", "id", "figures"])),
                "days": Schema.array(Schema.object(["day": Schema.string(format: "date"), "leads_touched": count, "figures": outcomeFigures],
                                                   required: ["day", "leads_touched", "figures"])),
            ]) { $1 }, required: ["from", "to", "tz", "leads_touched", "totals", "attributions", "days"]),
        ]
    }
}
