import Foundation
import Testing
import Domain
@testable import RuleEngine

private typealias F = RuleFixture

/// The chain bookkeeping of the cascade bound: which chain an echo continues, how deep it is, and when no
/// rule fires on it.
@Suite("Rule engine: cascade bound")
struct CascadeTests {
    /// Rule A: into 501 → move to 502. Rule B: into 502 → move to 501.
    static let ruleA = Rule(id: "rule-a", agentID: "agent-1", name: "Into new: qualify", enabled: true, priority: 0,
                            trigger: .stageChanged(stageID: 501), actions: [Action(type: .changeStage, stageID: 502)])
    static let ruleB = Rule(id: "rule-b", agentID: "agent-1", name: "Into qualified: back to new", enabled: true, priority: 0,
                            trigger: .stageChanged(stageID: 502), actions: [Action(type: .changeStage, stageID: 501)])

    /// What rules-service records for a write planned by `decision`'s rule: the decision's chain (or a
    /// fresh one from its event) one step longer.
    static func write(for decision: Decision, rule: String, stage: Int64, at: Date) -> OwnWrite {
        let parent = decision.cascade?.chain ?? Cascade(originEventID: decision.eventID)
        return OwnWrite(kind: .stageChange, leadID: 1, value: String(stage), ruleID: rule, at: at,
                        cascade: parent.extended(by: CascadeStep(ruleID: rule, ruleName: "Rule \(rule)", eventID: decision.eventID, at: at)))
    }

    /// Two opposing rules, each write echoed back a second later, until no rule fires: the decisions in order.
    static func pingPong(engine: RuleEngine = RuleEngine(), rounds: Int = 20) -> [Decision] {
        var writes: [OwnWrite] = []
        var decisions: [Decision] = []
        var now = F.t0
        var event = F.stageChange(to: 501, from: 500, id: "evt-manager", at: now)
        var facts = F.facts(stage: 500)
        for round in 1...rounds {
            let decision = engine.evaluate(event: event, rules: RuleSet([ruleA, ruleB]), agents: [F.agent], facts: facts, states: [:],
                                           ownWrites: writes.reversed(), now: now)
            decisions.append(decision)
            facts = decision.facts ?? facts
            // The store marks the write this event was taken as the echo of.
            if let echoed = decision.cascade?.echoOf, let index = writes.firstIndex(of: echoed) { writes[index].echoedBy = decision.eventID }
            guard let planned = decision.actions.first, let stage = planned.action.stageID else { break }
            now = now.addingTimeInterval(1)
            writes.append(write(for: decision, rule: planned.ruleID, stage: stage, at: now))
            now = now.addingTimeInterval(1)
            event = F.stageChange(to: stage, from: event.statusID, id: "evt-echo-\(round)", at: now)
        }
        return decisions
    }

    @Test("A manager's change starts a chain; each echo of our write is one step deeper")
    func depthGrows() throws {
        let decisions = Self.pingPong(rounds: 3)
        #expect(decisions.map { $0.cascade?.chain.depth } == [nil, 1, 2])
        #expect(decisions.dropFirst().allSatisfy { $0.cascade?.chain.originEventID == "evt-manager" })
        #expect(decisions[2].cascade?.chain.steps.map(\.ruleID) == ["rule-a", "rule-b"])
        #expect(decisions[2].cascade?.chain.steps.map(\.eventID) == ["evt-manager", "evt-echo-1"])
        #expect(decisions.allSatisfy { $0.cascade?.stopped != true })
        #expect(decisions.map(\.firedRuleIDs) == [["rule-a"], ["rule-b"], ["rule-a"]])
    }

    @Test("Beyond the default depth of 3 no rule fires: four writes, then the echo explains the chain")
    func stopsAtDefaultDepth() throws {
        let decisions = Self.pingPong()
        let writes = decisions.filter { !$0.actions.isEmpty }
        #expect(writes.count == 4)
        #expect(decisions.count == 5)
        let stopped = try #require(decisions.last)
        let cascade = try #require(stopped.cascade)
        #expect(cascade.stopped)
        #expect(cascade.chain.depth == 4)
        #expect(cascade.maxDepth == 3)
        #expect(cascade.chain.steps.map(\.ruleID) == ["rule-a", "rule-b", "rule-a", "rule-b"])
        #expect(stopped.actions.isEmpty)
        let explanation = try F.outcome(stopped, "rule-a")
        #expect(explanation.outcome == .loopGuard)
        #expect(explanation.blockedBy == "rule-b")
        // The chain, with the rules' names and ids, and where it started.
        #expect(explanation.detail.contains(#""Into new: qualify" (rule-a) → "Into qualified: back to new" (rule-b) → "Into new: qualify" (rule-a)"#),
                "\(explanation.detail)")
        #expect(explanation.detail.contains("evt-manager"))
        #expect(explanation.detail.contains("at most 3"))
    }

    @Test("The depth is a setting: 0 lets no rule fire on any echo, 1 allows one reaction")
    func configuredDepth() throws {
        for (depth, writes) in [(0, 1), (1, 2), (5, 6)] {
            let engine = RuleEngine(options: RuleEngine.Options(cascadeMaxDepth: depth))
            let decisions = Self.pingPong(engine: engine)
            #expect(decisions.filter { !$0.actions.isEmpty }.count == writes, "max depth \(depth)")
            #expect(decisions.last?.cascade?.stopped == true)
        }
    }

    @Test("A write already taken as one event's echo continues no other chain: a later identical move is a manager's")
    func echoIsTakenOnce() throws {
        let write = OwnWrite(kind: .stageChange, leadID: 1, value: "502", ruleID: "rule-a", at: F.t0.addingTimeInterval(-5),
                             cascade: Cascade(originEventID: "evt-0", steps: [CascadeStep(ruleID: "rule-a", eventID: "evt-0", at: F.t0.addingTimeInterval(-5))]))
        let echo = F.evaluate(F.stageChange(to: 502, from: 501, id: "evt-echo"), rules: [Self.ruleB], ownWrites: [write])
        #expect(echo.cascade?.chain.depth == 1)
        #expect(echo.cascade?.echoOf == write)

        var taken = write
        taken.echoedBy = "evt-echo"
        let manager = F.evaluate(F.stageChange(to: 502, from: 501, id: "evt-manager"), rules: [Self.ruleB], ownWrites: [taken])
        #expect(manager.cascade == nil)
        #expect(manager.firedRuleIDs == ["rule-b"])
        // The event that took it sees the same chain again (a dry run of it, a repeat).
        let again = F.evaluate(F.stageChange(to: 502, from: 501, id: "evt-echo"), rules: [Self.ruleB], ownWrites: [taken])
        #expect(again.cascade?.chain.depth == 1)
    }

    @Test("Steps older than the window do not count; the deepest chain the event echoes wins")
    func windowAndDeepest() throws {
        let old = F.t0.addingTimeInterval(-RuleEngine.Options.defaultCascadeWindow - 60)
        let steps = (0..<5).map { CascadeStep(ruleID: $0 % 2 == 0 ? "rule-a" : "rule-b", eventID: "evt-\($0)", at: old) }
        let recentStep = CascadeStep(ruleID: "rule-a", eventID: "evt-9", at: F.t0.addingTimeInterval(-2))
        let slow = OwnWrite(kind: .stageChange, leadID: 1, value: "502", ruleID: "rule-a", at: F.t0.addingTimeInterval(-2),
                            cascade: Cascade(originEventID: "evt-0", steps: steps + [recentStep]))
        let decision = F.evaluate(F.stageChange(to: 502, from: 501), rules: [Self.ruleB], ownWrites: [slow])
        #expect(decision.cascade?.chain.depth == 1)
        #expect(decision.firedRuleIDs == ["rule-b"])

        let deep = OwnWrite(kind: .stageChange, leadID: 1, value: "502", ruleID: "rule-x", at: F.t0.addingTimeInterval(-3),
                            cascade: Cascade(originEventID: "evt-deep", steps: (0..<4).map {
                                CascadeStep(ruleID: "rule-x", eventID: "evt-d\($0)", at: F.t0.addingTimeInterval(-3)) }))
        let both = F.evaluate(F.stageChange(to: 502, from: 501), rules: [Self.ruleB], ownWrites: [slow, deep])
        #expect(both.cascade?.chain.originEventID == "evt-deep")
        #expect(both.cascade?.stopped == true)
        #expect(try F.outcome(both, "rule-b").outcome == .loopGuard)
    }

    @Test("A write recorded before chains were kept counts as one step of its rule")
    func writeWithoutChain() throws {
        let write = OwnWrite(kind: .stageChange, leadID: 1, value: "502", ruleID: "rule-a", at: F.t0.addingTimeInterval(-5))
        let decision = F.evaluate(F.stageChange(to: 502, from: 501), rules: [Self.ruleB], ownWrites: [write])
        #expect(decision.cascade?.chain.steps.map(\.ruleID) == ["rule-a"])
        #expect(decision.cascade?.chain.originEventID == "")
        #expect(decision.firedRuleIDs == ["rule-b"])
    }

    @Test("A dry run explains the stop the same way")
    func dryRun() throws {
        let chain = Cascade(originEventID: "evt-0", steps: (0..<4).map {
            CascadeStep(ruleID: $0 % 2 == 0 ? "rule-a" : "rule-b", eventID: "evt-\($0)", at: F.t0.addingTimeInterval(-Double(10 - $0)))
        })
        let write = OwnWrite(kind: .stageChange, leadID: 1, value: "501", ruleID: "rule-b", at: F.t0.addingTimeInterval(-6), cascade: chain)
        let dry = F.evaluate(F.stageChange(to: 501, from: 502), rules: [Self.ruleA, Self.ruleB], ownWrites: [write], dryRun: true)
        #expect(try F.outcome(dry, "rule-a").outcome == .loopGuard)
        #expect(dry.cascade?.stopped == true)
        #expect(dry.actions.isEmpty)
    }
}
