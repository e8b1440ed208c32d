import Foundation
import Testing
import Domain
@testable import RuleEngine

@Suite("Rule engine: ordering, gates, cooldown, loop guard, explanations")
struct RuleEngineTests {
    typealias F = RuleFixture

    // MARK: - Priority and stop processing

    @Test("Higher priority runs first; stop_processing stops only lower-priority rules of the same agent")
    func priorityAndStop() throws {
        let rules = [
            F.rule("b-low", priority: 5),
            F.rule("d-other-agent", agent: "agent-2", priority: 1),
            F.rule("c-same", priority: 10),
            F.rule("a-stopper", priority: 10, stop: true),
        ]
        let decision = F.evaluate(F.message("hi"), rules: rules, agents: [F.agent, AgentGate(agentID: "agent-2")])
        #expect(decision.explanations.map(\.ruleID) == ["a-stopper", "c-same", "b-low", "d-other-agent"])
        #expect(decision.firedRuleIDs == ["a-stopper", "c-same", "d-other-agent"])
        let stopped = try F.outcome(decision, "b-low")
        #expect(stopped.outcome == .stoppedByPriority)
        #expect(stopped.blockedBy == "a-stopper")
        #expect(stopped.detail.contains("a-stopper"))
        #expect(decision.actions.map(\.ruleID) == ["a-stopper", "c-same", "d-other-agent"])
    }

    @Test("A stop_processing rule that does not fire stops nothing")
    func stopOnlyWhenFired() throws {
        let rules = [
            F.rule("high", conditions: .stageIs(.init(stageIDs: [999])), priority: 10, stop: true),
            F.rule("low", priority: 1),
        ]
        let decision = F.evaluate(F.message("hi"), rules: rules)
        #expect(try F.outcome(decision, "high").outcome == .conditionFalse)
        #expect(try F.outcome(decision, "low").outcome == .fired)
    }

    // MARK: - Cooldown and fire limit

    @Test("Cooldown blocks the rule until it runs out, then the rule fires and counts again")
    func cooldown() throws {
        let rule = F.rule("r", cooldown: 3600)
        let first = F.evaluate(F.message("1", id: "e1", at: F.t0), rules: [rule])
        #expect(try F.outcome(first, "r").outcome == .fired)
        let state = try #require(first.stateUpdates["r"])
        #expect(state == RuleState(lastFiredAt: F.t0, fireCount: 1))

        let halfHour = F.t0.addingTimeInterval(1800)
        let second = F.evaluate(F.message("2", id: "e2", at: halfHour), rules: [rule], facts: first.facts, states: first.stateUpdates)
        let blocked = try F.outcome(second, "r")
        #expect(blocked.outcome == .cooldown)
        #expect(blocked.until == F.t0.addingTimeInterval(3600))
        #expect(blocked.detail.contains("2025-01-06T13:00:00"))
        #expect(second.actions.isEmpty)
        #expect(second.stateUpdates.isEmpty)

        let later = F.t0.addingTimeInterval(3601)
        let third = F.evaluate(F.message("3", id: "e3", at: later), rules: [rule], facts: second.facts, states: first.stateUpdates)
        #expect(try F.outcome(third, "r").outcome == .fired)
        #expect(third.stateUpdates["r"] == RuleState(lastFiredAt: later, fireCount: 2))
    }

    @Test("The engine uses the injected time, not the event's, for cooldown")
    func cooldownUsesInjectedClock() throws {
        let rule = F.rule("r", cooldown: 600)
        let states = ["r": RuleState(lastFiredAt: F.t0, fireCount: 1)]
        let event = F.message("late delivery", at: F.t0.addingTimeInterval(60))
        let stillCooling = F.evaluate(event, rules: [rule], states: states, now: F.t0.addingTimeInterval(300))
        #expect(try F.outcome(stillCooling, "r").outcome == .cooldown)
        let cooled = F.evaluate(event, rules: [rule], states: states, now: F.t0.addingTimeInterval(601))
        #expect(try F.outcome(cooled, "r").outcome == .fired)
    }

    @Test("max_fires_per_lead stops the rule after the limit")
    func maxFires() throws {
        let rule = F.rule("r", maxFires: 2)
        var facts: LeadFacts? = F.facts()
        var states: [String: RuleState] = [:]
        var outcomes: [RuleOutcome] = []
        for index in 0..<3 {
            let decision = F.evaluate(F.message("\(index)", id: "e\(index)", at: F.t0.addingTimeInterval(Double(index))), rules: [rule], facts: facts, states: states)
            outcomes.append(try F.outcome(decision, "r").outcome)
            facts = decision.facts
            states.merge(decision.stateUpdates) { $1 }
        }
        #expect(outcomes == [.fired, .fired, .maxFires])
        #expect(states["r"]?.fireCount == 2)
    }

    // MARK: - Disabled rules and agent gates

    @Test("Disabled rules are explained and plan nothing")
    func disabled() throws {
        let decision = F.evaluate(F.message("hi"), rules: [F.rule("off", enabled: false), F.rule("on")])
        #expect(try F.outcome(decision, "off").outcome == .disabled)
        #expect(decision.actions.map(\.ruleID) == ["on"])
    }

    struct GateCase: Sendable, CustomTestStringConvertible {
        var name: String
        var gates: [AgentGate]
        var outcome: RuleOutcome
        var testDescription: String { name }
    }

    static let gateCases: [GateCase] = [
        .init(name: "active agent", gates: [AgentGate(agentID: "agent-1")], outcome: .fired),
        .init(name: "paused agent", gates: [AgentGate(agentID: "agent-1", paused: true)], outcome: .agentPaused),
        .init(name: "unknown agent", gates: [AgentGate(agentID: "agent-9")], outcome: .agentPaused),
        .init(name: "lead in another pipeline", gates: [AgentGate(agentID: "agent-1", pipelineIDs: [7002])], outcome: .agentScope),
        .init(name: "lead in the agent's pipeline", gates: [AgentGate(agentID: "agent-1", pipelineIDs: [7001, 7002])], outcome: .fired),
        .init(name: "lead in another stage", gates: [AgentGate(agentID: "agent-1", stageIDs: [502])], outcome: .agentScope),
        .init(name: "lead in the agent's stage", gates: [AgentGate(agentID: "agent-1", pipelineIDs: [7001], stageIDs: [501])], outcome: .fired),
    ]

    @Test("Agent gates", arguments: gateCases)
    func agentGates(_ testCase: GateCase) throws {
        let decision = F.evaluate(F.message("hi"), rules: [F.rule("r")], agents: testCase.gates)
        #expect(try F.outcome(decision, "r").outcome == testCase.outcome)
        #expect(decision.actions.isEmpty == (testCase.outcome != .fired))
    }

    @Test("An agent limited to pipelines does not act on a lead whose pipeline is unknown")
    func scopeWithUnknownPipeline() throws {
        let decision = F.evaluate(F.message("hi", lead: nil), rules: [F.rule("r")], facts: nil,
                                  agents: [AgentGate(agentID: "agent-1", pipelineIDs: [7001])])
        let explanation = try F.outcome(decision, "r")
        #expect(explanation.outcome == .agentScope)
        #expect(explanation.detail.contains("unknown"))
    }

    // MARK: - Triggers

    @Test("stage_changed with a stage filter fires only for that stage; a dry run explains a mismatch")
    func stageFilter() throws {
        let rule = F.rule("r", trigger: .stageChanged(pipelineID: 7001, stageID: 502))
        let into502 = F.evaluate(F.stageChange(to: 502, from: 501), rules: [rule])
        #expect(try F.outcome(into502, "r").outcome == .fired)
        // Rules watching another stage are not reached at all (they are indexed by stage)…
        let into503 = F.evaluate(F.stageChange(to: 503, from: 501), rules: [rule])
        #expect(into503.explanations.isEmpty)
        #expect(into503.actions.isEmpty)
        // …and a dry run still says why they did not fire.
        let dry = F.evaluate(F.stageChange(to: 503, from: 501), rules: [rule], dryRun: true)
        let mismatch = try F.outcome(dry, "r")
        #expect(mismatch.outcome == .triggerMismatch)
        #expect(mismatch.detail.contains("503") && mismatch.detail.contains("502"))
        let otherPipeline = F.evaluate(F.stageChange(to: 502, pipeline: 7002, from: 501), rules: [rule])
        #expect(try F.outcome(otherPipeline, "r").outcome == .triggerMismatch)
    }

    @Test("message_received fires on incoming messages only")
    func outgoingMessages() throws {
        let decision = F.evaluate(F.message("sent by a manager", direction: "outgoing"), rules: [F.rule("r")])
        let explanation = try F.outcome(decision, "r")
        #expect(explanation.outcome == .triggerMismatch)
        #expect(explanation.detail.contains("outgoing"))
    }

    @Test("Each event reaches only the rules of its trigger type")
    func triggerIndex() throws {
        let rules = [
            F.rule("created", trigger: Trigger(type: .leadCreated)),
            F.rule("updated", trigger: Trigger(type: .leadUpdated)),
            F.rule("message", trigger: Trigger(type: .messageReceived)),
            F.rule("stage", trigger: .stageChanged()),
            F.rule("timed", trigger: .timeBased(.lastInbound, after: 60)),
            F.rule("manual", trigger: Trigger(type: .manual)),
        ]
        let cases: [(KommoEvent, [String])] = [
            (F.leadCreated(), ["created"]),
            (F.leadUpdate(fields: ["price": "1"]), ["updated"]),
            (F.note("call back"), ["updated"]),
            (F.message("hi"), ["message"]),
            (F.stageChange(to: 502, from: 501), ["stage"]),
            (F.manual(rule: nil), ["manual"]),
            (F.manual(rule: "manual"), ["manual"]),
        ]
        for (event, expected) in cases {
            let decision = F.evaluate(event, rules: rules)
            #expect(decision.explanations.map(\.ruleID) == expected, "\(event.type)")
            #expect(decision.firedRuleIDs == expected, "\(event.type)")
        }
        let unrelated = KommoEvent(id: "t", tenantID: "tenant-1", type: .taskCompleted, entityType: "task", entityID: "5",
                                   leadID: 1, occurredAt: F.t0, receivedAt: F.t0)
        #expect(F.evaluate(unrelated, rules: rules).explanations.isEmpty)
        // A note on the lead's contact is not an update of the lead.
        let contactNote = KommoEvent(id: "cn", tenantID: "tenant-1", type: .noteAdded, entityType: "contact", entityID: "9",
                                     leadID: 1, occurredAt: F.t0, receivedAt: F.t0, noteType: 4, fields: ["text": "hi"])
        #expect(try F.outcome(F.evaluate(contactNote, rules: rules), "updated").outcome == .triggerMismatch)
    }

    @Test("A manual run names one rule and runs only that one, whatever its trigger")
    func manualRun() throws {
        let rules = [F.rule("by-hand", trigger: Trigger(type: .manual)), F.rule("other-manual", trigger: Trigger(type: .manual)), F.rule("msg")]
        let decision = F.evaluate(F.manual(rule: "by-hand"), rules: rules)
        #expect(decision.firedRuleIDs == ["by-hand"])
        #expect(decision.explanations.count == 1)
        // An operator may run any rule by hand for a lead: its trigger is skipped, its conditions are not.
        let named = F.evaluate(F.manual(rule: "msg"), rules: rules)
        #expect(named.firedRuleIDs == ["msg"])
        #expect(named.explanations.count == 1)
    }

    @Test("A dry run explains every rule, including those the trigger did not reach")
    func dryRun() throws {
        let rules = [F.rule("message"), F.rule("created", trigger: Trigger(type: .leadCreated))]
        let live = F.evaluate(F.message("hi"), rules: rules)
        #expect(live.explanation(for: "created") == nil)
        let dry = F.evaluate(F.message("hi"), rules: rules, dryRun: true)
        #expect(dry.dryRun)
        #expect(try F.outcome(dry, "message").outcome == .fired)
        let skipped = try F.outcome(dry, "created")
        #expect(skipped.outcome == .triggerMismatch)
        #expect(skipped.detail.contains("lead_created") && skipped.detail.contains("message_received"))
    }

    // MARK: - Loop guard

    @Test("Our own stage change echoed back does not re-trigger the rule that made it, but triggers others")
    func loopGuardStage() throws {
        let mover = F.rule("mover", trigger: .stageChanged(), actions: [Action(type: .changeStage, stageID: 502, pipelineID: 7001)])
        let watcher = F.rule("watcher", trigger: .stageChanged())
        let write = OwnWrite(kind: .stageChange, leadID: 1, value: "502", ruleID: "mover", at: F.t0.addingTimeInterval(-5))
        let echo = F.evaluate(F.stageChange(to: 502, from: 501), rules: [mover, watcher], ownWrites: [write])
        let guarded = try F.outcome(echo, "mover")
        #expect(guarded.outcome == .loopGuard)
        #expect(guarded.blockedBy == "mover")
        #expect(guarded.detail.contains("502"))
        #expect(try F.outcome(echo, "watcher").outcome == .fired)
        // The lead really is in 502 now: the guard does not hide the move from the facts.
        #expect(echo.facts?.stageID == 502)

        let otherStage = F.evaluate(F.stageChange(to: 503, from: 501), rules: [mover], ownWrites: [write])
        #expect(try F.outcome(otherStage, "mover").outcome == .fired)
        let otherLead = F.evaluate(F.stageChange(to: 502, from: 501, lead: 2), rules: [mover], facts: nil, ownWrites: [write])
        #expect(try F.outcome(otherLead, "mover").outcome == .fired)
        let stale = F.evaluate(F.stageChange(to: 502, from: 501), rules: [mover], ownWrites: [write],
                               now: F.t0.addingTimeInterval(RuleEngine.Options().loopGuardWindow + 60))
        #expect(try F.outcome(stale, "mover").outcome == .fired)
    }

    @Test("Our own note and field writes echoed back are recognised")
    func loopGuardNoteAndField() throws {
        let noter = F.rule("noter", trigger: Trigger(type: .leadUpdated), actions: [Action(type: .addNote, text: "Lead qualified by AI")])
        let setter = F.rule("setter", trigger: Trigger(type: .leadUpdated), actions: [Action(type: .setField, field: "cf.Status AI", value: "qualified")])
        let writes = [
            OwnWrite(kind: .note, leadID: 1, value: "Lead qualified by AI", ruleID: "noter", at: F.t0.addingTimeInterval(-2)),
            OwnWrite(kind: .field, leadID: 1, field: "cf.Status AI", value: "qualified", ruleID: "setter", at: F.t0.addingTimeInterval(-2)),
        ]
        let noteEcho = F.evaluate(F.note("Lead qualified by AI"), rules: [noter, setter], ownWrites: writes)
        #expect(try F.outcome(noteEcho, "noter").outcome == .loopGuard)
        #expect(try F.outcome(noteEcho, "setter").outcome == .fired)
        let humanNote = F.evaluate(F.note("Client asked for a discount"), rules: [noter], ownWrites: writes)
        #expect(try F.outcome(humanNote, "noter").outcome == .fired)

        let fieldEcho = F.evaluate(F.leadUpdate(custom: [CustomFieldValue(id: "90", name: "Status AI", values: ["qualified"])]),
                                   rules: [noter, setter], ownWrites: writes)
        #expect(try F.outcome(fieldEcho, "setter").outcome == .loopGuard)
        #expect(try F.outcome(fieldEcho, "noter").outcome == .fired)
    }

    @Test("Planned actions describe the own writes they will make")
    func ownWritesFromActions() throws {
        let rule = F.rule("r", trigger: .stageChanged(), actions: [
            Action(type: .changeStage, stageID: 502),
            Action(type: .addNote, text: "Moved"),
            Action(type: .sendMessage, text: "Hi"),
            Action(type: .kommoAction, operation: .setField, parameters: ["field": "cf.Score", "value": "9"]),
        ])
        let decision = F.evaluate(F.stageChange(to: 501, from: 500), rules: [rule])
        let writes = decision.actions.compactMap { $0.ownWrite(at: F.t0) }
        #expect(writes.map(\.kind) == [.stageChange, .note, .field])
        #expect(writes.map(\.value) == ["502", "Moved", "9"])
        #expect(writes.allSatisfy { $0.ruleID == "r" && $0.leadID == 1 })
    }

    // MARK: - Output

    @Test("Idempotency keys are event id, rule id and action index")
    func idempotencyKeys() throws {
        let rule = F.rule("rule-a", actions: [Action(type: .aiResponse), Action(type: .addTags, tags: ["hot"])])
        let decision = F.evaluate(F.message("hi", id: "evt-42"), rules: [rule, F.rule("rule-b")])
        #expect(decision.actions.map(\.idempotencyKey) == ["evt-42:rule-a:0", "evt-42:rule-a:1", "evt-42:rule-b:0"])
        #expect(decision.actions.map(\.actionIndex) == [0, 1, 0])
        #expect(decision.actions.allSatisfy { $0.leadID == 1 && $0.eventID == "evt-42" && $0.agentID == "agent-1" })
        #expect(PlannedAction.idempotencyKey(eventID: "e", ruleID: "r", actionIndex: 3) == "e:r:3")
    }

    @Test("The same inputs give the same decision")
    func deterministic() throws {
        let rules = (0..<20).map { F.rule("r\($0)", priority: $0 % 3, cooldown: 60) }
        let event = F.message("hi")
        let first = F.evaluate(event, rules: rules)
        let second = F.evaluate(event, rules: rules.reversed())
        #expect(first == second)
    }

    @Test("A false condition is explained with the failing leaf's path, actual and expected values")
    func explanationContent() throws {
        let rule = F.rule("r", trigger: Trigger(type: .leadUpdated), conditions: .all([
            .stageIs(.init(stageIDs: [501])),
            .fieldValue(.init(field: "cf.Budget", op: .equals, value: "2500-5000")),
        ]))
        let event = F.leadUpdate(custom: [CustomFieldValue(id: "881", name: "Budget", values: ["1000-2500"])])
        let explanation = try F.outcome(F.evaluate(event, rules: [rule]), "r")
        #expect(explanation.outcome == .conditionFalse)
        let leaf = try #require(explanation.failingLeaf)
        #expect(leaf.path == "conditions.all[1]")
        #expect(leaf.kind == .fieldValue)
        #expect(leaf.subject == "cf.Budget")
        #expect(leaf.op == "equals")
        #expect(leaf.actual == "1000-2500")
        #expect(leaf.expected == "\"2500-5000\"")
        #expect(explanation.detail == "conditions.all[1]: cf.Budget is \"1000-2500\"; expected equals \"2500-5000\"")
    }

    @Test("A false any names every alternative's failure through the first one, and a false not names what held")
    func groupExplanations() throws {
        let any = F.rule("any", conditions: .any([
            .stageIs(.init(stageIDs: [502])),
            .messageOrigin(.init(origins: ["telegram"])),
        ]))
        let not = F.rule("not", conditions: .not(.responsibleUserIs(.init(userIDs: [42]))))
        let decision = F.evaluate(F.message("hi"), rules: [any, not])
        let anyExplanation = try F.outcome(decision, "any")
        #expect(anyExplanation.failingLeaf?.path == "conditions.any[0]")
        #expect(anyExplanation.detail == "conditions.any[0]: none of the 2 alternatives in conditions.any holds; the first: the lead is in stage 501 of pipeline 7001; expected stage 502")
        let notExplanation = try F.outcome(decision, "not")
        #expect(notExplanation.failingLeaf?.path == "conditions.not")
        #expect(notExplanation.failingLeaf?.expected == "not (42)")
        #expect(notExplanation.detail == "conditions.not: negated, but it holds: the responsible user is 42")
    }

    @Test("An event without a lead is evaluated from the event alone and stores no facts")
    func eventWithoutLead() throws {
        let rule = F.rule("r", conditions: .messageOrigin(.init(origins: ["onlinechat"])))
        let decision = F.evaluate(F.message("hello", lead: nil, origin: "onlinechat"), rules: [rule], facts: nil)
        #expect(decision.facts == nil)
        #expect(try F.outcome(decision, "r").outcome == .fired)
        #expect(decision.actions.first?.leadID == nil)
        #expect(decision.timers.isEmpty)
    }

    @Test("Decisions encode with snake_case keys")
    func decisionJSON() throws {
        let decision = F.evaluate(F.message("hi", id: "evt-1"), rules: [F.rule("r")])
        let json = try #require(String(data: try RuleJSON.encoder().encode(decision), encoding: .utf8))
        #expect(json.contains("\"idempotency_key\":\"evt-1:r:0\""))
        #expect(json.contains("\"outcome\":\"fired\""))
        let back = try JSONDecoder().decode(Decision.self, from: try JSONEncoder().encode(decision))
        #expect(back == decision)
    }

    @Test("The benchmark case evaluates and plans work")
    func benchmarkCase() {
        let bench = RuleEngine.benchmarkCase(ruleCount: 60, agentCount: 3, eventCount: 12)
        #expect(bench.rules.count == 60)
        #expect(bench.run() > 0)
    }
}
