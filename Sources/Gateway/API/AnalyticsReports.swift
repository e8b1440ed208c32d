import Foundation

// The REST reports built from the services' counters (keys documented in `SequenceStore+Analytics`,
// `RulesStore.evaluate` and `IngestStore.intake`). Everything here is arithmetic over one range's sums:
// no service is scanned per request.

/// One counter key split at its dots.
private func parts(_ key: String) -> [Substring] { key.split(separator: ".", omittingEmptySubsequences: false) }

/// Rule outcomes that are not an evaluation of the rule's conditions: the event was not for it.
private let notEvaluated: Set<String> = ["trigger_mismatch"]

/// What the tiles and the daily chart show, for one day or the whole range.
struct OverviewFigures: Codable, Sendable, Equatable {
    var events: Int64 = 0
    var deliveriesUnparsed: Int64 = 0
    var deliveriesRejected: Int64 = 0
    var dispatchFailed: Int64 = 0
    var rulesEvaluated: Int64 = 0
    var ruleFires: Int64 = 0
    var rulesNotFired: Int64 = 0
    var actionsSucceeded: Int64 = 0
    var actionsFailed: Int64 = 0
    var actionsOther: Int64 = 0
    var messagesSent: Int64 = 0
    var aiReplies: Int64 = 0
    var inboundMessages: Int64 = 0
    var managerMessages: Int64 = 0
    var replies24h: Int64 = 0
    /// replies_24h / messages_sent; null without messages sent.
    var replyRate: Double?
    var enrolled: Int64 = 0
    var completed: Int64 = 0
    var exited: Int64 = 0
    var leadsTouched: Int64 = 0
    var leadsAdvanced: Int64 = 0
    var leadsWon: Int64 = 0
    var leadsLost: Int64 = 0
    var wonValue: Int64 = 0
    /// Our first messages after a lead wrote (their times are in `first_response`).
    var firstResponses: Int64 = 0
    /// Managers taking over a lead: a manager's message to a lead no manager had taken over.
    var handoffs: Int64 = 0

    enum CodingKeys: String, CodingKey, CaseIterable {
        case events, deliveriesUnparsed = "deliveries_unparsed", deliveriesRejected = "deliveries_rejected"
        case dispatchFailed = "dispatch_failed", rulesEvaluated = "rules_evaluated", ruleFires = "rule_fires"
        case rulesNotFired = "rules_not_fired", actionsSucceeded = "actions_succeeded", actionsFailed = "actions_failed"
        case actionsOther = "actions_other", messagesSent = "messages_sent", aiReplies = "ai_replies"
        case inboundMessages = "inbound_messages", managerMessages = "manager_messages", replies24h = "replies_24h"
        case replyRate = "reply_rate", enrolled, completed, exited, leadsTouched = "leads_touched"
        case leadsAdvanced = "leads_advanced", leadsWon = "leads_won", leadsLost = "leads_lost", wonValue = "won_value"
        case firstResponses = "first_responses", handoffs
    }

    /// The figures counted without an agent (events, deliveries and dispatches in ingest-service, events
    /// evaluated in rules-service, the conversation in sequence-service).
    static let tenantWide = ["events", "deliveries_unparsed", "deliveries_rejected", "dispatch_failed", "rules_evaluated",
                             "inbound_messages", "manager_messages", "replies_24h", "reply_rate", "first_responses", "handoffs",
                             "events_by_type", "events_by_origin", "kommo", "first_response"]

    init(_ counts: [String: Int64]) {
        var slots: [String: WritableKeyPath<OverviewFigures, Int64>?] = [:]
        self.init(counts, slots: &slots)
    }

    /// The figures of one day or the range; `slots` remembers which figure each key adds to, so the days
    /// of a report classify each key once rather than once per day.
    init(_ counts: [String: Int64], slots: inout [String: WritableKeyPath<OverviewFigures, Int64>?]) {
        for (key, value) in counts {
            let slot: WritableKeyPath<OverviewFigures, Int64>?
            if let known = slots[key] {
                slot = known
            } else {
                slot = Self.slot(key)
                slots[key] = slot
            }
            if let slot { self[keyPath: slot] += value }
        }
        replyRate = messagesSent == 0 ? nil : Double(replies24h) / Double(messagesSent)
    }

    /// The figure a counter key adds to, if any.
    private static func slot(_ key: String) -> WritableKeyPath<OverviewFigures, Int64>? {
        let p = parts(key)
        switch (p.first, p.count) {
        case ("events", 3) where p[1] == "type": return \.events
        case ("rule", 3):
            if p[2] == "fired" { return \.ruleFires }
            return notEvaluated.contains(String(p[2])) ? nil : \.rulesNotFired
        case ("actions", 3):
            switch p[2] {
            case "succeeded": return \.actionsSucceeded
            case "failed": return \.actionsFailed
            default: return \.actionsOther
            }
        case ("response", 3) where p[1] == "first_seconds": return \.firstResponses
        case ("sequence", 3):
            switch p[2] {
            case "enrolled": return \.enrolled
            case "completed": return \.completed
            case "exited": return \.exited
            default: return nil
            }
        default:
            switch key {
            case "deliveries.unparsed": return \.deliveriesUnparsed
            case "deliveries.rejected": return \.deliveriesRejected
            case "dispatch.failed": return \.dispatchFailed
            case "rules.evaluated": return \.rulesEvaluated
            case "usage.message_sent": return \.messagesSent
            case "usage.ai_reply": return \.aiReplies
            case "messages.inbound": return \.inboundMessages
            case "messages.manager": return \.managerMessages
            case "messages.replied_24h": return \.replies24h
            case "leads.touched": return \.leadsTouched
            case "outcomes.advanced": return \.leadsAdvanced
            case "outcomes.won": return \.leadsWon
            case "outcomes.lost": return \.leadsLost
            case "outcomes.won_value": return \.wonValue
            case "handoffs.manager": return \.handoffs
            default: return nil
            }
        }
    }

    /// The figures as CSV cells, in `CodingKeys` order.
    var cells: [String] {
        [events, deliveriesUnparsed, deliveriesRejected, dispatchFailed, rulesEvaluated, ruleFires, rulesNotFired, actionsSucceeded,
         actionsFailed, actionsOther, messagesSent, aiReplies, inboundMessages, managerMessages, replies24h].map(String.init)
            + [replyRate.map { String(format: "%.4f", $0) } ?? ""]
            + [enrolled, completed, exited, leadsTouched, leadsAdvanced, leadsWon, leadsLost, wonValue, firstResponses, handoffs].map(String.init)
    }
}

/// Kommo API calls: how many, how many were refused with 429, and latency percentiles read from the
/// buckets (the upper bound of the bucket the percentile falls in; above the last bound, null).
struct KommoFigures: Codable, Sendable, Equatable {
    var calls: Int64
    var rateLimited: Int64
    var latencyP50Ms: Int64?
    var latencyP99Ms: Int64?
    /// Calls per latency bucket: `le_50` … `le_5000`, `gt_5000`.
    var latencyBuckets: [String: Int64]

    enum CodingKeys: String, CodingKey {
        case calls, rateLimited = "rate_limited", latencyP50Ms = "latency_p50_ms", latencyP99Ms = "latency_p99_ms"
        case latencyBuckets = "latency_buckets"
    }

    static let bounds: [Int64] = [50, 100, 250, 500, 1000, 2500, 5000]

    init(_ counts: [String: Int64]) {
        calls = counts["kommo.calls"] ?? 0
        rateLimited = counts["kommo.429"] ?? 0
        var buckets: [String: Int64] = [:]
        for (key, value) in counts where key.hasPrefix("kommo.latency_ms.") { buckets[String(key.dropFirst("kommo.latency_ms.".count))] = value }
        latencyBuckets = buckets
        let total = buckets.values.reduce(0, +)
        func percentile(_ p: Double) -> Int64? {
            guard total > 0 else { return nil }
            let rank = Int64((Double(total) * p).rounded(.up))
            var seen: Int64 = 0
            for bound in Self.bounds {
                seen += buckets["le_\(bound)"] ?? 0
                if seen >= rank { return bound }
            }
            return nil
        }
        latencyP50Ms = percentile(0.5)
        latencyP99Ms = percentile(0.99)
    }
}

/// Time to first response: from a lead's message (the earliest since our previous one) to our next
/// message. Kept per hour as counts in buckets (`le_10` … `le_86400`, `gt_86400`, seconds), so the median
/// of any range is read from the summed buckets: the upper bound of the bucket the median falls in (null
/// without responses, or when it falls above a day).
struct FirstResponseFigures: Codable, Sendable, Equatable {
    var responses: Int64
    var medianSeconds: Int64?
    var buckets: [String: Int64]

    enum CodingKeys: String, CodingKey { case responses, medianSeconds = "median_seconds", buckets }

    static let bounds: [Int64] = [10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400]

    init(_ counts: [String: Int64]) {
        let prefix = "response.first_seconds."
        var buckets: [String: Int64] = [:]
        for (key, value) in counts where key.hasPrefix(prefix) { buckets[String(key.dropFirst(prefix.count))] = value }
        self.buckets = buckets
        responses = buckets.values.reduce(0, +)
        let rank = (responses + 1) / 2
        var seen: Int64 = 0
        medianSeconds = nil
        guard responses > 0 else { return }
        for bound in Self.bounds {
            seen += buckets["le_\(bound)"] ?? 0
            if seen >= rank { medianSeconds = bound; return }
        }
    }
}

/// `GET /api/v1/analytics/overview` (and `/analytics/agents/{id}`).
struct AnalyticsOverviewDTO: Codable, Sendable {
    struct Day: Codable, Sendable {
        var day: String
        var figures: OverviewFigures
    }
    struct TopRule: Codable, Sendable {
        var ruleId: String
        var name: String?
        var agentId: String?
        var fires: Int64
        enum CodingKeys: String, CodingKey { case ruleId = "rule_id", name, agentId = "agent_id", fires }
    }

    var from: String
    var to: String
    var tz: String
    var agentId: String?
    var totals: OverviewFigures
    var days: [Day]
    var eventsByType: [String: Int64]
    var eventsByOrigin: [String: Int64]
    var notFiredByReason: [String: Int64]
    /// Final outcomes of actions per type: `{"send_message": {"succeeded": 3}}`.
    var actionsByType: [String: [String: Int64]]
    var actionsByOutcome: [String: Int64]
    var kommo: KommoFigures
    var firstResponse: FirstResponseFigures
    /// Enrollments active or paused at the end of the range, over every sequence.
    var liveEnrollments: Int64
    var topRules: [TopRule]
    /// With `agent_id`: the figures (in `totals` and `days`; also `events_by_type`, `events_by_origin`,
    /// `kommo` and `first_response`) that are counted for the whole tenant, not per agent, so they read 0
    /// here without meaning the agent had none. Empty without `agent_id`.
    var tenantWide: [String]

    enum CodingKeys: String, CodingKey {
        case from, to, tz, agentId = "agent_id", totals, days, eventsByType = "events_by_type", eventsByOrigin = "events_by_origin"
        case notFiredByReason = "not_fired_by_reason", actionsByType = "actions_by_type", actionsByOutcome = "actions_by_outcome"
        case kommo, firstResponse = "first_response", liveEnrollments = "live_enrollments", topRules = "top_rules"
        case tenantWide = "tenant_wide"
    }

    init(range: AnalyticsRange, counts: AnalyticsCounts, ruleNames: [String: String]) {
        from = range.from
        to = range.to
        tz = range.timeZone.identifier
        agentId = range.agentID
        var slots: [String: WritableKeyPath<OverviewFigures, Int64>?] = [:]
        totals = OverviewFigures(counts.totals, slots: &slots)
        days = zip(range.days, counts.days).map { Day(day: $0, figures: OverviewFigures($1, slots: &slots)) }
        var byType: [String: Int64] = [:], byOrigin: [String: Int64] = [:], reasons: [String: Int64] = [:]
        var actions: [String: [String: Int64]] = [:], outcomes: [String: Int64] = [:], fires: [String: Int64] = [:]
        for (key, value) in counts.totals {
            let p = parts(key)
            guard p.count == 3 else { continue }
            switch p[0] {
            case "events" where p[1] == "type": byType[String(p[2]), default: 0] += value
            case "events" where p[1] == "origin": byOrigin[String(p[2]), default: 0] += value
            case "rule" where p[2] == "fired": fires[String(p[1]), default: 0] += value
            case "rule" where !notEvaluated.contains(String(p[2])): reasons[String(p[2]), default: 0] += value
            case "actions":
                actions[String(p[1]), default: [:]][String(p[2]), default: 0] += value
                outcomes[String(p[2]), default: 0] += value
            default: break
            }
        }
        eventsByType = byType
        eventsByOrigin = byOrigin
        notFiredByReason = reasons
        actionsByType = actions
        actionsByOutcome = outcomes
        kommo = KommoFigures(counts.totals)
        firstResponse = FirstResponseFigures(counts.totals)
        liveEnrollments = counts.levels.filter { $0.key.hasPrefix("sequence.") && $0.key.hasSuffix(".live") }.values.reduce(0, +)
        tenantWide = range.agentID == nil ? [] : OverviewFigures.tenantWide
        topRules = fires.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.prefix(10)
            .map { TopRule(ruleId: $0.key, name: ruleNames[$0.key], agentId: counts.agents["rule.\($0.key)"], fires: $0.value) }
    }

    static var csvHeader: [String] { ["day"] + OverviewFigures.CodingKeys.allCases.map(\.rawValue) }
    var csvRows: [[String]] { days.map { [$0.day] + $0.figures.cells } }
}

/// `GET /api/v1/analytics/rules`: every rule with counts in the range, most fires first.
struct AnalyticsRulesDTO: Codable, Sendable {
    struct Day: Codable, Sendable {
        var day: String
        var fired: Int64
        var notFired: Int64
        enum CodingKeys: String, CodingKey { case day, fired, notFired = "not_fired" }
    }
    struct Rule: Codable, Sendable {
        var ruleId: String
        var name: String?
        var agentId: String?
        /// Events the rule's conditions were checked against (every outcome but `trigger_mismatch`).
        var evaluated: Int64
        var fired: Int64
        var notFired: Int64
        /// Per outcome: `fired`, `condition_false`, `cooldown`, `max_fires`, `disabled`, `stopped_by_priority`, …
        var outcomes: [String: Int64]
        /// Stage changes of leads whose last touch was this rule's action.
        var leadsAdvanced: Int64
        var leadsWon: Int64
        var leadsLost: Int64
        var wonValue: Int64
        var days: [Day]
        enum CodingKeys: String, CodingKey {
            case ruleId = "rule_id", name, agentId = "agent_id", evaluated, fired, notFired = "not_fired", outcomes
            case leadsAdvanced = "leads_advanced", leadsWon = "leads_won", leadsLost = "leads_lost", wonValue = "won_value", days
        }
    }

    var from: String
    var to: String
    var tz: String
    var agentId: String?
    var rules: [Rule]

    enum CodingKeys: String, CodingKey { case from, to, tz, agentId = "agent_id", rules }

    static func ruleIDs(_ counts: AnalyticsCounts) -> [String] {
        Set(counts.totals.keys.compactMap { key -> String? in
            let p = parts(key)
            return p.count == 3 && p[0] == "rule" ? String(p[1]) : nil
        }).sorted()
    }

    init(range: AnalyticsRange, counts: AnalyticsCounts, names: [String: String]) {
        from = range.from
        to = range.to
        tz = range.timeZone.identifier
        agentId = range.agentID
        // One pass over the keys: outcomes per rule in total, fired and not fired per rule and day.
        var outcomes: [String: [String: Int64]] = [:]
        for (key, value) in counts.totals {
            let p = parts(key)
            if p.count == 3, p[0] == "rule" { outcomes[String(p[1]), default: [:]][String(p[2])] = value }
        }
        // Each key's rule and kind of outcome, worked out once rather than once per day.
        var kinds: [String: (id: String, fired: Bool)?] = [:]
        for key in counts.totals.keys {
            let p = parts(key)
            guard p.count == 3, p[0] == "rule", p[2] == "fired" || !notEvaluated.contains(String(p[2])) else { kinds[key] = .some(nil); continue }
            kinds[key] = (String(p[1]), p[2] == "fired")
        }
        var perDay: [String: [(fired: Int64, notFired: Int64)]] = [:]
        for (index, values) in counts.days.enumerated() {
            for (key, value) in values {
                guard let kind = kinds[key] ?? nil else { continue }
                if perDay[kind.id] == nil { perDay[kind.id] = Array(repeating: (0, 0), count: counts.days.count) }
                if kind.fired { perDay[kind.id]![index].fired += value } else { perDay[kind.id]![index].notFired += value }
            }
        }
        let t = counts.totals
        rules = outcomes.keys.sorted().map { id in
            let outcomes = outcomes[id] ?? [:]
            let fired = outcomes["fired"] ?? 0
            let evaluated = outcomes.filter { !notEvaluated.contains($0.key) }.values.reduce(0, +)
            let daily = perDay[id] ?? Array(repeating: (0, 0), count: counts.days.count)
            let days = zip(range.days, daily).map { Day(day: $0, fired: $1.fired, notFired: $1.notFired) }
            return Rule(ruleId: id, name: names[id], agentId: counts.agents["rule.\(id)"], evaluated: evaluated, fired: fired,
                        notFired: evaluated - fired, outcomes: outcomes, leadsAdvanced: t["outcomes.advanced.rule.\(id)"] ?? 0,
                        leadsWon: t["outcomes.won.rule.\(id)"] ?? 0, leadsLost: t["outcomes.lost.rule.\(id)"] ?? 0,
                        wonValue: t["outcomes.won_value.rule.\(id)"] ?? 0, days: days)
        }.sorted { ($1.fired, $0.ruleId) < ($0.fired, $1.ruleId) }
    }

    static let csvHeader = ["rule_id", "name", "agent_id", "evaluated", "fired", "not_fired", "leads_advanced", "leads_won", "leads_lost",
                            "won_value"]
    var csvRows: [[String]] {
        rules.map { [$0.ruleId, $0.name ?? "", $0.agentId ?? "", String($0.evaluated), String($0.fired), String($0.notFired),
                     String($0.leadsAdvanced), String($0.leadsWon), String($0.leadsLost), String($0.wonValue)] }
    }
}

/// A sequence's enrollment figures in a range.
struct SequenceFigures: Codable, Sendable {
    var enrolled: Int64
    var completed: Int64
    var exited: Int64
    var failed: Int64
    /// Exits by reason: `lead_replied`, `stage_changed`, `cancelled`, …
    var exitsByReason: [String: Int64]
    var leadsWon: Int64
    var wonValue: Int64
    /// Enrollments active or paused at the end of the range (not only those enrolled in it).
    var active: Int64

    enum CodingKeys: String, CodingKey {
        case enrolled, completed, exited, failed, exitsByReason = "exits_by_reason", leadsWon = "leads_won", wonValue = "won_value", active
    }

    init(id: String, counts: [String: Int64], levels: [String: Int64]) {
        let prefix = "sequence.\(id)."
        enrolled = counts[prefix + "enrolled"] ?? 0
        completed = counts[prefix + "completed"] ?? 0
        exited = counts[prefix + "exited"] ?? 0
        failed = counts[prefix + "failed"] ?? 0
        var reasons: [String: Int64] = [:]
        var won: Int64 = 0, value: Int64 = 0
        for (key, count) in counts {
            if key.hasPrefix(prefix + "exit.") { reasons[String(key.dropFirst((prefix + "exit.").count))] = count }
            if key.hasPrefix("outcomes.won.step.\(id).") { won += count }
            if key.hasPrefix("outcomes.won_value.step.\(id).") { value += count }
        }
        exitsByReason = reasons
        leadsWon = won
        wonValue = value
        active = levels["sequence.\(id).live"] ?? 0
    }
}

/// `GET /api/v1/analytics/sequences`: every sequence with counts in the range, most enrollments first.
struct AnalyticsSequencesDTO: Codable, Sendable {
    struct Sequence: Codable, Sendable {
        var sequenceId: String
        var name: String?
        var agentId: String?
        var figures: SequenceFigures
        enum CodingKeys: String, CodingKey { case sequenceId = "sequence_id", name, agentId = "agent_id", figures }
    }

    var from: String
    var to: String
    var tz: String
    var agentId: String?
    var sequences: [Sequence]

    enum CodingKeys: String, CodingKey { case from, to, tz, agentId = "agent_id", sequences }

    static func sequenceIDs(_ counts: AnalyticsCounts) -> [String] {
        Set((Array(counts.totals.keys) + Array(counts.levels.keys)).compactMap { key -> String? in
            let p = parts(key)
            return p.count >= 3 && p[0] == "sequence" ? String(p[1]) : nil
        }).sorted()
    }

    init(range: AnalyticsRange, counts: AnalyticsCounts, names: [String: String]) {
        from = range.from
        to = range.to
        tz = range.timeZone.identifier
        agentId = range.agentID
        sequences = Self.sequenceIDs(counts).map {
            Sequence(sequenceId: $0, name: names[$0], agentId: counts.agents["sequence.\($0)"], figures: SequenceFigures(id: $0, counts: counts.totals, levels: counts.levels))
        }.sorted { ($1.figures.enrolled, $0.sequenceId) < ($0.figures.enrolled, $1.sequenceId) }
    }

    static let csvHeader = ["sequence_id", "name", "agent_id", "enrolled", "completed", "exited", "failed", "leads_won", "won_value", "active"]
    var csvRows: [[String]] {
        sequences.map { s in
            [s.sequenceId, s.name ?? "", s.agentId ?? ""]
                + [s.figures.enrolled, s.figures.completed, s.figures.exited, s.figures.failed, s.figures.leadsWon, s.figures.wonValue,
                   s.figures.active].map(String.init)
        }
    }
}

/// `GET /api/v1/analytics/sequences/{id}/funnel`: the sequence's steps in order, how many enrollments
/// reached each and how its runs ended.
struct AnalyticsFunnelDTO: Codable, Sendable {
    struct Step: Codable, Sendable {
        var position: Int
        var stepId: String
        var actionType: String
        var reached: Int64
        /// Final outcomes of the step's runs: `succeeded`, `failed`, `skipped`, `blocked`, `cancelled`, …
        var outcomes: [String: Int64]
        var succeeded: Int64
        /// Leads won whose last touch was this step, and their value.
        var leadsWon: Int64
        var wonValue: Int64
        enum CodingKeys: String, CodingKey {
            case position, stepId = "step_id", actionType = "action_type", reached, outcomes, succeeded, leadsWon = "leads_won"
            case wonValue = "won_value"
        }
    }

    var from: String
    var to: String
    var tz: String
    var sequenceId: String
    var name: String
    var figures: SequenceFigures
    var steps: [Step]

    enum CodingKeys: String, CodingKey { case from, to, tz, sequenceId = "sequence_id", name, figures, steps }

    init(range: AnalyticsRange, counts: AnalyticsCounts, sequenceID: String, name: String, steps: [(id: String, actionType: String)]) {
        from = range.from
        to = range.to
        tz = range.timeZone.identifier
        sequenceId = sequenceID
        self.name = name
        figures = SequenceFigures(id: sequenceID, counts: counts.totals, levels: counts.levels)
        let t = counts.totals
        self.steps = steps.enumerated().map { index, step in
            let prefix = "sequence.\(sequenceID).step.\(step.id)."
            var outcomes: [String: Int64] = [:]
            for (key, value) in t where key.hasPrefix(prefix) && key != prefix + "reached" {
                outcomes[String(key.dropFirst(prefix.count))] = value
            }
            return Step(position: index + 1, stepId: step.id, actionType: step.actionType, reached: t[prefix + "reached"] ?? 0,
                        outcomes: outcomes, succeeded: outcomes["succeeded"] ?? 0,
                        leadsWon: t["outcomes.won.step.\(sequenceID).\(step.id)"] ?? 0,
                        wonValue: t["outcomes.won_value.step.\(sequenceID).\(step.id)"] ?? 0)
        }
    }

    static let csvHeader = ["position", "step_id", "action_type", "reached", "succeeded", "leads_won", "won_value"]
    var csvRows: [[String]] {
        steps.map { [String($0.position), $0.stepId, $0.actionType, String($0.reached), String($0.succeeded), String($0.leadsWon), String($0.wonValue)] }
    }
}

/// `GET /api/v1/analytics/outcomes`: stage changes of leads our agents touched, and what they were
/// attributed to. Last touch: the latest action of ours that succeeded on the lead before the change —
/// its agent, its rule (actions a rule decided on), its sequence step, and the script it used.
struct AnalyticsOutcomesDTO: Codable, Sendable {
    struct Figures: Codable, Sendable, Equatable {
        var leadsAdvanced: Int64
        var leadsWon: Int64
        var leadsLost: Int64
        var wonValue: Int64
        enum CodingKeys: String, CodingKey { case leadsAdvanced = "leads_advanced", leadsWon = "leads_won", leadsLost = "leads_lost", wonValue = "won_value" }

        init(_ counts: [String: Int64], suffix: String = "") {
            leadsAdvanced = counts["outcomes.advanced" + suffix] ?? 0
            leadsWon = counts["outcomes.won" + suffix] ?? 0
            leadsLost = counts["outcomes.lost" + suffix] ?? 0
            wonValue = counts["outcomes.won_value" + suffix] ?? 0
        }
    }
    struct Day: Codable, Sendable {
        var day: String
        var leadsTouched: Int64
        var figures: Figures
        enum CodingKeys: String, CodingKey { case day, leadsTouched = "leads_touched", figures }
    }
    struct Attribution: Codable, Sendable {
        /// `rule`, `step` or `script`.
        var kind: String
        /// The rule or script id, or `<sequence id>.<step id>`.
        var id: String
        var name: String?
        var figures: Figures
    }

    var from: String
    var to: String
    var tz: String
    var agentId: String?
    var leadsTouched: Int64
    var totals: Figures
    /// Mean seconds from a won lead's first touch to its win; null without wins.
    var averageSecondsToWon: Int64?
    var attributions: [Attribution]
    var days: [Day]

    enum CodingKeys: String, CodingKey {
        case from, to, tz, agentId = "agent_id", leadsTouched = "leads_touched", totals, averageSecondsToWon = "average_seconds_to_won"
        case attributions, days
    }

    init(range: AnalyticsRange, counts: AnalyticsCounts, ruleNames: [String: String]) {
        from = range.from
        to = range.to
        tz = range.timeZone.identifier
        agentId = range.agentID
        let t = counts.totals
        leadsTouched = t["leads.touched"] ?? 0
        totals = Figures(t)
        averageSecondsToWon = totals.leadsWon == 0 ? nil : (t["outcomes.won_seconds"] ?? 0) / totals.leadsWon
        var seen = Set<String>()
        for key in t.keys {
            let p = parts(key)
            guard p.count >= 4, p[0] == "outcomes", ["rule", "step", "script"].contains(p[2]) else { continue }
            seen.insert(p[2...].joined(separator: "."))
        }
        attributions = seen.sorted().map { suffix in
            let kind = String(suffix.prefix { $0 != "." })
            let id = String(suffix.dropFirst(kind.count + 1))
            return Attribution(kind: kind, id: id, name: kind == "rule" ? ruleNames[id] : nil, figures: Figures(t, suffix: "." + suffix))
        }.sorted { ($1.figures.wonValue, $1.figures.leadsWon, $0.kind, $0.id) < ($0.figures.wonValue, $0.figures.leadsWon, $1.kind, $1.id) }
        days = zip(range.days, counts.days).map { Day(day: $0, leadsTouched: $1["leads.touched"] ?? 0, figures: Figures($1)) }
    }

    static let csvHeader = ["day", "leads_touched", "leads_advanced", "leads_won", "leads_lost", "won_value"]
    var csvRows: [[String]] {
        days.map { [$0.day] + [$0.leadsTouched, $0.figures.leadsAdvanced, $0.figures.leadsWon, $0.figures.leadsLost, $0.figures.wonValue].map(String.init) }
    }
}

/// `GET /api/v1/analytics/scripts`: the scripts' effectiveness in the range, ranked by reply rate, then
/// uses — rules-service's figures from each use of a script and what the lead did afterwards (a reply
/// within 24 h, another stage of the same pipeline within 7 days, won within 30 days), in total and per
/// version. Not counters: the uses in the range are read, at most one agent's scripts per call.
struct AnalyticsScriptsDTO: Codable, Sendable {
    struct Figures: Codable, Sendable {
        var version: Int64?
        var uses: Int64
        var replies: Int64
        var replyRate: Double
        var advances: Int64
        var advanceRate: Double
        var wins: Int64
        var winRate: Double
        var medianReplySeconds: Double?
        enum CodingKeys: String, CodingKey {
            case version, uses, replies, replyRate = "reply_rate", advances, advanceRate = "advance_rate", wins, winRate = "win_rate"
            case medianReplySeconds = "median_reply_seconds"
        }
    }
    struct Script: Codable, Sendable {
        var rank: Int
        var scriptId: String
        var agentId: String
        var name: String
        var type: String
        var active: Bool
        /// The script's current version.
        var version: Int64
        var uses: Int64
        var replies: Int64
        var replyRate: Double
        var advances: Int64
        var advanceRate: Double
        var wins: Int64
        var winRate: Double
        var medianReplySeconds: Double?
        /// The same figures per version that was used in the range, oldest first.
        var versions: [Figures]
        enum CodingKeys: String, CodingKey {
            case rank, scriptId = "script_id", agentId = "agent_id", name, type, active, version, uses, replies, replyRate = "reply_rate"
            case advances, advanceRate = "advance_rate", wins, winRate = "win_rate", medianReplySeconds = "median_reply_seconds", versions
        }
    }
    private struct Ranking: Decodable {
        struct Entry: Decodable {
            var scriptId: String
            var agentId: String
            var name: String
            var type: String
            var active: Bool
            var version: Int64
            var figures: Figures
            var versions: [Figures]
            enum CodingKeys: String, CodingKey { case scriptId = "script_id", agentId = "agent_id", name, type, active, version, versions }
            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: CodingKeys.self)
                scriptId = try container.decode(String.self, forKey: .scriptId)
                agentId = try container.decode(String.self, forKey: .agentId)
                name = try container.decode(String.self, forKey: .name)
                type = try container.decode(String.self, forKey: .type)
                active = try container.decode(Bool.self, forKey: .active)
                version = try container.decode(Int64.self, forKey: .version)
                versions = try container.decode([Figures].self, forKey: .versions)
                figures = try Figures(from: decoder)
                figures.version = nil
            }
        }
        var scripts: [Entry]
    }

    var from: String
    var to: String
    var tz: String
    var agentId: String?
    var scripts: [Script]

    enum CodingKeys: String, CodingKey { case from, to, tz, agentId = "agent_id", scripts }

    /// `ranking` answers rules-service's ranking (JSON) of one agent's scripts; the agents are asked side by side.
    init(range: AnalyticsRange, agentIDs: [String], ranking: @escaping @Sendable (String) async throws -> String) async throws {
        from = range.from
        to = range.to
        tz = range.timeZone.identifier
        agentId = range.agentID
        let entries = try await withThrowingTaskGroup(of: [Ranking.Entry].self) { group in
            for agentID in agentIDs { group.addTask { try JSONDecoder().decode(Ranking.self, from: Data(try await ranking(agentID).utf8)).scripts } }
            var all: [Ranking.Entry] = []
            for try await some in group { all += some }
            return all
        }
        let ranked = entries.sorted {
            ($1.figures.uses == 0 ? -1 : $1.figures.replyRate, $1.figures.uses, $0.scriptId)
                < ($0.figures.uses == 0 ? -1 : $0.figures.replyRate, $0.figures.uses, $1.scriptId)
        }
        scripts = ranked.enumerated().map { index, entry in
            let f = entry.figures
            return Script(rank: index + 1, scriptId: entry.scriptId, agentId: entry.agentId, name: entry.name, type: entry.type,
                          active: entry.active, version: entry.version, uses: f.uses, replies: f.replies, replyRate: f.replyRate,
                          advances: f.advances, advanceRate: f.advanceRate, wins: f.wins, winRate: f.winRate,
                          medianReplySeconds: f.medianReplySeconds, versions: entry.versions)
        }
    }

    static let csvHeader = ["rank", "script_id", "name", "agent_id", "version", "uses", "replies", "reply_rate", "advances", "advance_rate",
                            "wins", "win_rate", "median_reply_seconds"]
    /// A row per script (version `all`), then one per version used.
    var csvRows: [[String]] {
        scripts.flatMap { script -> [[String]] in
            func row(_ version: String, _ f: Figures) -> [String] {
                [String(script.rank), script.scriptId, script.name, script.agentId, version, String(f.uses), String(f.replies),
                 String(format: "%.4f", f.replyRate), String(f.advances), String(format: "%.4f", f.advanceRate), String(f.wins),
                 String(format: "%.4f", f.winRate), f.medianReplySeconds.map { String(format: "%.0f", $0) } ?? ""]
            }
            let total = Figures(uses: script.uses, replies: script.replies, replyRate: script.replyRate, advances: script.advances,
                                advanceRate: script.advanceRate, wins: script.wins, winRate: script.winRate, medianReplySeconds: script.medianReplySeconds)
            return [row("all", total)] + script.versions.map { row(String($0.version ?? 0), $0) }
        }
    }
}
