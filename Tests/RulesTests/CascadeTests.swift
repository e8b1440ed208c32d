import Basics
import TestSupport
import Foundation
import Rules
import ServiceKit
import Testing
import Wire

/// The cascade bound through rules-service's RPCs: the executor reports each write with the event that
/// caused it, the echo's decision carries the chain, and the stopped cycles are listed for the rules page.
@Suite("Cascade bound")
struct CascadeBoundTests {
    static let newStage: Int64 = 61_234_501
    static let qualified: Int64 = 61_234_502

    /// Rule A: into `newStage` → move to `qualified`; rule B: the opposite.
    static func opposingRules(_ acme: Tenant) async throws -> (agent: String, a: String, b: String) {
        let agent = try await acme.createAgent()
        let a = try await acme.createRule(#"""
            {"name": "New: qualify", "trigger": {"type": "stage_changed", "stage_id": 61234501},
             "actions": [{"type": "change_stage", "stage_id": 61234502}]}
            """#, agent: agent.id)
        let b = try await acme.createRule(#"""
            {"name": "Qualified: back to new", "trigger": {"type": "stage_changed", "stage_id": 61234502},
             "actions": [{"type": "change_stage", "stage_id": 61234501}]}
            """#, agent: agent.id)
        return (agent.id, a.id, b.id)
    }

    /// What the executor tells rules-service after moving the lead as `action` planned.
    static func record(_ action: PB.PlannedAction, at: Date, _ acme: Tenant) async throws {
        guard case .changeStage(let move)? = action.action?.kind else { Issue.record("not a stage change: \(action)"); return }
        var write = PB.OwnWrite()
        write.leadId = action.leadId
        write.kind = .stageChange
        write.value = String(move.stageId)
        write.ruleId = action.ruleId
        write.eventId = action.eventId
        write.atMicros = at.unixMicros
        var request = PB.RecordRequest()
        request.ownWrites = [write]
        _ = try await acme.client.record(request, options: acme.options)
    }

    /// A manager's move into `stage`, then every write echoed back until no rule fires: the decisions.
    static func pingPong(_ service: RulesService, _ acme: Tenant, first id: String, into stage: Int64, from old: Int64) async throws -> [PB.Decision] {
        var decisions: [PB.Decision] = []
        var event = Events.stageChanged(id, to: stage, from: old, at: service.clock.now())
        for round in 1...20 {
            let decision = try await acme.evaluate(event)
            decisions.append(decision)
            guard let action = decision.actions.first, case .changeStage(let move)? = action.action?.kind else { break }
            service.clock.advance(by: 1)
            try await record(action, at: service.clock.now(), acme)
            service.clock.advance(by: 1)
            event = Events.stageChanged("\(id)-echo-\(round)", to: move.stageId, from: event.statusId, at: service.clock.now())
        }
        return decisions
    }

    @Test("two opposing rules stop after four writes; the decision, the stopped cycle and a manager's next change")
    func opposingRulesStop() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let (agent, a, b) = try await Self.opposingRules(acme)

            let decisions = try await Self.pingPong(service, acme, first: "evt-manager", into: Self.newStage, from: 61_234_500)
            #expect(decisions.filter { !$0.actions.isEmpty }.count == 4, "four writes, then none")
            #expect(decisions.map { Int($0.cascade?.depth ?? -1) } == [-1, 1, 2, 3, 4], "the manager's change has no chain")
            let stopped = try #require(decisions.last)
            let cascade = try #require(stopped.cascade)
            #expect(cascade.stopped)
            #expect(cascade.maxDepth == 3)
            #expect(cascade.originEventId == "evt-manager")
            #expect(cascade.steps.map(\.ruleId) == [a, b, a, b])
            #expect(cascade.steps.map(\.ruleName) == ["New: qualify", "Qualified: back to new", "New: qualify", "Qualified: back to new"])
            #expect(cascade.steps.map(\.eventId) == ["evt-manager", "evt-manager-echo-1", "evt-manager-echo-2", "evt-manager-echo-3"])
            let explanation = try #require(stopped.explanations.first)
            #expect(explanation.ruleId == a)
            #expect(explanation.outcome == .loopGuard)
            #expect(explanation.detail.contains(#""New: qualify" (\#(a)) → "Qualified: back to new" (\#(b))"#), "\(explanation.detail)")
            #expect(stopped.actions.isEmpty)

            // A repeat answers the stored decision and counts nothing twice.
            let repeated = try await acme.evaluate(Events.stageChanged("evt-manager-echo-4", to: Self.newStage, from: Self.qualified,
                                                                       at: service.clock.now()))
            #expect(repeated == stopped)

            var query = PB.CascadeQuery()
            query.agentId = agent
            let cycles = try await acme.client.listCascadeStops(query, options: acme.options)
            #expect(cycles.items.count == 1)
            let cycle = try #require(cycles.items.first)
            #expect(cycle.rules.map(\.ruleId) == [a, b])
            #expect(cycle.rules.map(\.ruleName) == ["New: qualify", "Qualified: back to new"])
            #expect(cycle.rules.allSatisfy { $0.agentId == agent })
            #expect(cycle.stops == 1)
            #expect(cycle.lastEventId == "evt-manager-echo-4")
            #expect(cycle.lastLeadId == Lead.id)
            #expect(cycle.lastStoppedAtMicros == stopped.decidedAtMicros)
            #expect(cycle.lastCascade?.depth == 4)

            // A manager's move starts a new chain, though it looks like the writes already echoed: B fires
            // again, and the second round stops the same way and counts on the same cycle.
            service.clock.advance(by: 10)
            let again = try await Self.pingPong(service, acme, first: "evt-manager-2", into: Self.qualified, from: Self.newStage)
            #expect(again.first?.cascade == nil)
            #expect(again.first?.actions.map(\.ruleId) == [b])
            #expect(again.filter { !$0.actions.isEmpty }.count == 4)
            #expect(again.last?.cascade?.stopped == true)
            #expect(again.last?.cascade?.originEventId == "evt-manager-2")
            let counted = try await acme.client.listCascadeStops(query, options: acme.options)
            #expect(counted.items.map(\.stops) == [2])
            #expect(counted.items.first?.rules.map(\.ruleId) == [b, a], "the order of the last chain")

            // Another tenant sees nothing; an unknown agent and a bad limit are refused.
            let other = service.tenant("t_other")
            #expect(try await other.client.listCascadeStops(PB.CascadeQuery(), options: other.options).items.isEmpty)
            var unknown = PB.CascadeQuery()
            unknown.agentId = "agt_nope"
            #expect(await rpcError { try await acme.client.listCascadeStops(unknown, options: acme.options) }?.code == .notFound)
            var big = PB.CascadeQuery()
            big.limit = 500
            #expect(await rpcError { try await acme.client.listCascadeStops(big, options: acme.options) }?.violations.map(\.field) == ["limit"])
        }
    }

    @Test("the depth is rules-service's setting")
    func configuredDepth() async throws {
        try await RulesService.run(configuration: try RulesConfiguration(cascadeMaxDepth: 1)) { service in
            let acme = service.tenant("t_acme")
            _ = try await Self.opposingRules(acme)
            let decisions = try await Self.pingPong(service, acme, first: "evt-manager", into: Self.newStage, from: 61_234_500)
            #expect(decisions.filter { !$0.actions.isEmpty }.count == 2)
            #expect(decisions.last?.cascade?.maxDepth == 1)
            #expect(decisions.last?.cascade?.stopped == true)
        }
    }

    @Test("a dry run of the echo explains the stop without counting it")
    func dryRun() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let (_, a, _) = try await Self.opposingRules(acme)
            var decisions = try await Self.pingPong(service, acme, first: "evt-manager", into: Self.newStage, from: 61_234_500)
            let stoppedID = try #require(decisions.popLast()?.eventId)
            let dry = try await acme.evaluate(Events.stageChanged(stoppedID, to: Self.newStage, from: Self.qualified, at: service.clock.now()),
                                              dryRun: true, only: [a])
            #expect(dry.explanations.map(\.outcome) == [.loopGuard])
            #expect(dry.cascade?.stopped == true)
            let cycles = try await acme.client.listCascadeStops(PB.CascadeQuery(), options: acme.options)
            #expect(cycles.items.map(\.stops) == [1], "the live evaluation counted once; the dry run did not")
        }
    }

    @Test("the settings are read from flags and the environment and checked")
    func settings() throws {
        #expect(try RulesOptions.parse([]).configuration(environment: [:]) == .standard)
        #expect(RulesConfiguration.standard.cascadeMaxDepth == 3 && RulesConfiguration.standard.cascadeWindowSeconds == 3600)
        let fromEnvironment = try RulesOptions.parse([]).configuration(environment: ["CASCADE_MAX_DEPTH": "5", "CASCADE_WINDOW_SECONDS": "600"])
        #expect(fromEnvironment.cascadeMaxDepth == 5 && fromEnvironment.cascadeWindowSeconds == 600)
        #expect(try RulesOptions.parse(["--cascade-max-depth", "2"]).configuration(environment: ["CASCADE_MAX_DEPTH": "5"]).cascadeMaxDepth == 2)
        #expect(throws: ConfigurationError.self) { try RulesOptions.parse([]).configuration(environment: ["CASCADE_MAX_DEPTH": "21"]) }
        #expect(throws: ConfigurationError.self) { try RulesOptions.parse([]).configuration(environment: ["CASCADE_MAX_DEPTH": "three"]) }
        #expect(throws: ConfigurationError.self) { try RulesOptions.parse(["--cascade-window-seconds", "10"]).configuration(environment: [:]) }
        #expect(throws: ConfigurationError.self) { try RulesConfiguration(cascadeMaxDepth: -1) }
    }
}
