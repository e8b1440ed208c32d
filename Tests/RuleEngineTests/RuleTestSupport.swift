import Foundation
import Testing
import Domain
@testable import RuleEngine

/// Builders for rule-engine tests: a fixed clock, events in Kommo's normalized shape, rules with defaults.
enum RuleFixture {
    /// 2025-01-06T12:00:00Z, a Monday.
    static let t0 = date("2025-01-06T12:00:00Z")
    static let pipeline: Int64 = 7001
    static let otherPipeline: Int64 = 7002
    static let engine = RuleEngine()
    static let agent = AgentGate(agentID: "agent-1")

    static func date(_ iso: String) -> Date {
        guard let date = try? Date(iso, strategy: .iso8601) else { fatalError("bad date \(iso)") }
        return date
    }

    static func hours(_ count: Double) -> TimeInterval { count * 3600 }

    // MARK: Events

    static func message(
        _ text: String, id: String = "evt-msg", lead: Int64? = 1, at: Date = t0,
        origin: String = "waba", direction: String = "incoming"
    ) -> KommoEvent {
        var fields = MessageFields()
        fields.id = "msg-\(id)"
        fields.text = text
        fields.origin = origin
        fields.direction = direction
        return KommoEvent(
            id: id, tenantID: "tenant-1", type: .messageReceived, entityType: "message", entityID: "msg-\(id)",
            leadID: lead, occurredAt: at, receivedAt: at, message: fields
        )
    }

    static func stageChange(
        to stage: Int64, pipeline: Int64 = pipeline, from old: Int64? = nil, id: String = "evt-stage",
        lead: Int64 = 1, at: Date = t0
    ) -> KommoEvent {
        KommoEvent(
            id: id, tenantID: "tenant-1", type: .stageChanged, entityType: "lead", entityID: String(lead),
            leadID: lead, occurredAt: at, receivedAt: at, pipelineID: pipeline, statusID: stage, oldStatusID: old
        )
    }

    static func leadUpdate(
        fields: [String: String] = [:], custom: [CustomFieldValue] = [], id: String = "evt-update",
        lead: Int64 = 1, at: Date = t0, responsible: Int64? = nil
    ) -> KommoEvent {
        KommoEvent(
            id: id, tenantID: "tenant-1", type: .leadUpdated, entityType: "lead", entityID: String(lead),
            leadID: lead, occurredAt: at, receivedAt: at, responsibleUserID: responsible,
            fields: fields, customFields: custom
        )
    }

    static func leadCreated(stage: Int64 = 501, id: String = "evt-created", lead: Int64 = 1, at: Date = t0) -> KommoEvent {
        KommoEvent(
            id: id, tenantID: "tenant-1", type: .leadCreated, entityType: "lead", entityID: String(lead),
            leadID: lead, occurredAt: at, receivedAt: at, pipelineID: pipeline, statusID: stage,
            fields: ["name": "New lead"]
        )
    }

    static func note(_ text: String, id: String = "evt-note", lead: Int64 = 1, at: Date = t0) -> KommoEvent {
        KommoEvent(
            id: id, tenantID: "tenant-1", type: .noteAdded, entityType: "lead", entityID: String(lead),
            leadID: lead, occurredAt: at, receivedAt: at, noteType: 4, fields: ["text": text]
        )
    }

    static func timer(rule: String, id: String = "evt-timer", lead: Int64 = 1, at: Date) -> KommoEvent {
        KommoEvent(
            id: id, tenantID: "tenant-1", type: .timerFired, entityType: "lead", entityID: String(lead),
            leadID: lead, occurredAt: at, receivedAt: at, origin: .timer, ruleID: rule
        )
    }

    static func manual(rule: String?, id: String = "evt-manual", lead: Int64 = 1, at: Date = t0) -> KommoEvent {
        KommoEvent(
            id: id, tenantID: "tenant-1", type: .manualRun, entityType: "lead", entityID: String(lead),
            leadID: lead, occurredAt: at, receivedAt: at, origin: .manual, ruleID: rule
        )
    }

    // MARK: Rules and facts

    static let noteAction = Action(type: .addNote, text: "Rule fired")

    static func rule(
        _ id: String, agent: String = "agent-1", trigger: Trigger = Trigger(type: .messageReceived),
        conditions: Condition? = nil, actions: [Action] = [noteAction], priority: Int = 0, enabled: Bool = true,
        cooldown: Int = 0, maxFires: Int? = nil, stop: Bool = false
    ) -> Rule {
        Rule(
            id: id, agentID: agent, name: "Rule \(id)", enabled: enabled, priority: priority, trigger: trigger,
            conditions: conditions, actions: actions, cooldownSeconds: cooldown, maxFiresPerLead: maxFires,
            stopProcessing: stop
        )
    }

    /// A lead in stage 501 of pipeline 7001 since t0 − 1 h, responsible user 42, two messages so far.
    static func facts(
        stage: Int64 = 501, pipeline: Int64 = pipeline, fields: [String: String] = [:],
        lastInbound: Date? = nil, lastOutbound: Date? = nil, inboundCount: Int = 2
    ) -> LeadFacts {
        LeadFacts(
            leadID: 1, pipelineID: pipeline, stageID: stage, stageEnteredAt: t0.addingTimeInterval(-hours(1)),
            leadCreatedAt: t0.addingTimeInterval(-hours(48)), lastInboundAt: lastInbound, lastOutboundAt: lastOutbound,
            inboundCount: inboundCount, responsibleUserID: 42, fieldValues: fields
        )
    }

    /// Evaluates one event against `rules` with the default agent.
    static func evaluate(
        _ event: KommoEvent, rules: [Rule], facts: LeadFacts? = facts(), states: [String: RuleState] = [:],
        ownWrites: [OwnWrite] = [], agents: [AgentGate] = [agent], now: Date? = nil, dryRun: Bool = false
    ) -> Decision {
        engine.evaluate(
            event: event, rules: RuleSet(rules), agents: agents, facts: facts, states: states,
            ownWrites: ownWrites, now: now ?? event.occurredAt, dryRun: dryRun
        )
    }

    /// The outcome for one rule, failing the test when the rule was not explained.
    static func outcome(_ decision: Decision, _ ruleID: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> RuleExplanation {
        try #require(decision.explanation(for: ruleID), "no explanation for \(ruleID)", sourceLocation: sourceLocation)
    }
}
