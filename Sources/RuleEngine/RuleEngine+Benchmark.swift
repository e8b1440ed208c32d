import Domain
import Foundation

/// A ready-made workload for measuring the engine: a tenant with many rules spread over every trigger type
/// and a stream of mixed events. Bench code times `run()`; nothing here measures time itself.
package struct RuleBenchmarkCase: Sendable {
    /// The engine under test.
    package let engine: RuleEngine
    /// The prepared rules.
    package let rules: RuleSet
    /// The tenant's agents.
    package let agents: [AgentGate]
    /// Facts of the lead the events are about.
    package let facts: LeadFacts
    /// Events evaluated by one `run()`.
    package let events: [KommoEvent]
    /// The evaluation time.
    package let now: Date

    /// Creates a workload from its parts, for bench code that wants its own rules or events.
    package init(engine: RuleEngine, rules: RuleSet, agents: [AgentGate], facts: LeadFacts, events: [KommoEvent], now: Date) {
        self.engine = engine; self.rules = rules; self.agents = agents
        self.facts = facts; self.events = events; self.now = now
    }

    /// Evaluates every event once and returns the number of actions planned, which depends on all the work
    /// done and so keeps the optimizer from skipping it.
    package func run() -> Int {
        var planned = 0
        var facts = self.facts
        for event in events {
            let decision = engine.evaluate(
                event: event, rules: rules, agents: agents, facts: facts, states: [:], ownWrites: [], now: now
            )
            planned += decision.actions.count + decision.timers.count
            if let updated = decision.facts { facts = updated }
        }
        return planned
    }
}

extension RuleEngine {
    /// A benchmark tenant with `ruleCount` rules over `agentCount` agents and `eventCount` events. Rules
    /// rotate through the trigger types and carry a few conditions each (field values, keywords, a regular
    /// expression, working hours), so the per-event cost reflects real rules.
    package static func benchmarkCase(ruleCount: Int, agentCount: Int = 10, eventCount: Int = 100) -> RuleBenchmarkCase {
        // Saturday 2025-01-04T00:00Z: outside the agents' weekday hours, so the rules' last condition holds.
        let start = Date(timeIntervalSince1970: 1_735_948_800)
        let hours = WorkingHours(timeZone: "America/Sao_Paulo", days: [.monday, .tuesday, .wednesday, .thursday, .friday], start: "09:00", end: "18:00")
        let agents = (0..<max(agentCount, 1)).map { AgentGate(agentID: "agent-\($0)", workingHours: hours) }
        let triggers: [Trigger] = [
            Trigger(type: .messageReceived),
            .stageChanged(pipelineID: 1, stageID: 11),
            Trigger(type: .leadUpdated),
            Trigger(type: .leadCreated),
            .timeBased(.lastOutbound, after: 86_400),
            Trigger(type: .manual),
        ]
        let rules = (0..<ruleCount).map { index in
            Rule(
                id: "rule-\(index)", agentID: "agent-\(index % max(agentCount, 1))", name: "Rule \(index)",
                priority: index % 7, trigger: triggers[index % triggers.count],
                conditions: .all([
                    .fieldValue(FieldValueCondition(field: "cf.Budget", op: .in, values: ["2500-5000", "5000+"])),
                    .any([
                        .messageText(MessageTextCondition(op: .containsAny, keywords: ["preço", "price", "quanto"])),
                        .messageText(MessageTextCondition(op: .matches, pattern: "\\b(comprar|buy)\\b")),
                    ]),
                    .not(.withinWorkingHours(WorkingHoursCondition())),
                ]),
                actions: [Action(type: .aiResponse, instructions: "Answer about prices")],
                cooldownSeconds: 60
            )
        }
        let facts = LeadFacts(
            leadID: 1, pipelineID: 1, stageID: 10, stageEnteredAt: start, leadCreatedAt: start,
            inboundCount: 3, fieldValues: ["cf.budget": "2500-5000", "price": "3000"]
        )
        let events = (0..<max(eventCount, 1)).map { index -> KommoEvent in
            let at = start.addingTimeInterval(TimeInterval(index * 60))
            var message = MessageFields()
            message.text = index % 2 == 0 ? "Qual é o preço?" : "Quero comprar agora"
            message.origin = "waba"
            switch index % 3 {
            case 0:
                return KommoEvent(id: "e\(index)", tenantID: "t", type: .messageReceived, entityType: "message", entityID: "m\(index)",
                                  leadID: 1, occurredAt: at, receivedAt: at, message: message)
            case 1:
                return KommoEvent(id: "e\(index)", tenantID: "t", type: .stageChanged, entityType: "lead", entityID: "1",
                                  leadID: 1, occurredAt: at, receivedAt: at, pipelineID: 1, statusID: index % 2 == 0 ? 10 : 11)
            default:
                return KommoEvent(id: "e\(index)", tenantID: "t", type: .leadUpdated, entityType: "lead", entityID: "1",
                                  leadID: 1, occurredAt: at, receivedAt: at, fields: ["price": "\(index * 100)"],
                                  customFields: [CustomFieldValue(id: "77", name: "Budget", values: ["2500-5000"])])
            }
        }
        return RuleBenchmarkCase(
            engine: RuleEngine(), rules: RuleSet(rules), agents: agents, facts: facts, events: events,
            now: start.addingTimeInterval(TimeInterval(eventCount * 60 + 3600))
        )
    }
}
