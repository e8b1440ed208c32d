import Basics
import Domain
import Foundation
import ServiceKit
import Testing
import Wire

@Suite("rules-service evaluation over RPC")
struct EvaluateTests {
    @Test("a stage_changed rule fires for the lead_status_changed shape, with idempotency keys and the action JSON")
    func stageChangeFires() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            let rule = try await acme.createRule(stageRule(), agent: agent.id)
            let other = try await acme.createRule(
                #"{"name": "Into won", "trigger": {"type": "stage_changed", "stage_id": 142}, "actions": [{"type": "add_note", "text": "Won"}]}"#,
                agent: agent.id)

            let decision = try await acme.evaluate(Events.stageChanged("evt-1", at: service.clock.now()))
            #expect(decision.eventId == "evt-1")
            #expect(decision.decidedAtMicros == service.clock.now().unixMicros)
            #expect(decision.actions.map(\.idempotencyKey) == ["evt-1:\(rule.id):0", "evt-1:\(rule.id):1"])
            #expect(decision.actions.map { $0.action?.actionType } == [.createTask, .addTags])
            #expect(decision.actions.allSatisfy { $0.leadId == Lead.id && $0.agentId == agent.id && $0.ruleName == "Into qualified" })
            guard case .createTask(let task)? = decision.actions[0].action?.kind else {
                Issue.record("the first action is not a create_task: \(decision.actions[0])")
                return
            }
            #expect(task.text == "Call {{lead.name}}")
            #expect(task.dueInSeconds == 3600)
            let outcomes = Dictionary(uniqueKeysWithValues: decision.explanations.map { ($0.ruleId, $0.outcome.name) })
            // The rule into another stage is not reached: stage rules are indexed by their stage.
            #expect(outcomes == [rule.id: "fired"])
            _ = other

            // The facts were stored: the agent context sees the lead's stage, fields and the stage's scripts.
            _ = try await acme.createScript(#"{"name": "Qualify", "type": "qualification", "body": "Budget?", "stage_ids": [61234502]}"#, agent: agent.id)
            _ = try await acme.createScript(#"{"name": "Other stage", "type": "greeting", "body": "Hi", "stage_ids": [61234501]}"#, agent: agent.id)
            _ = try await acme.createScript(#"{"name": "Off", "type": "closing", "body": "Bye", "active": false}"#, agent: agent.id)
            var request = PB.AgentContextRequest()
            request.agentId = agent.id
            request.leadId = Lead.id
            let context = try await acme.client.getAgentContext(request, options: acme.options)
            #expect(context.statusId == Lead.stageTo)
            #expect(context.pipelineId == Lead.pipeline)
            #expect(context.persona == "Friendly" && context.language == "es" && context.status == .active)
            #expect(context.scripts.map(\.name) == ["Qualify"])
            #expect(context.scripts.first?.version == 1)
            let fields = Dictionary(uniqueKeysWithValues: context.leadFields.map { ($0.key, $0.value) })
            #expect(fields["price"] == "2500")
            #expect(fields["cf.550011"] == "2500-5000")
        }
    }

    @Test("the same event twice returns the same decision and counts once")
    func idempotent() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            let rule = try await acme.createRule(stageRule(extra: #""max_fires_per_lead": 2"#), agent: agent.id)
            let event = Events.stageChanged("evt-1", at: service.clock.now())
            let first = try await acme.evaluate(event)
            service.clock.advance(by: 30)
            let again = try await acme.evaluate(event)
            #expect(first.actions.count == 2)
            #expect(again == first)

            // Had the repeat counted, this second firing would hit the limit of two.
            let second = try await acme.evaluate(Events.stageChanged("evt-2", at: service.clock.now()))
            #expect(second.explanations.first?.outcome.name == "fired")
            let third = try await acme.evaluate(Events.stageChanged("evt-3", at: service.clock.now()))
            #expect(third.explanations.first?.outcome.name == "max_fires")

            let stats = try await acme.stats(rule: rule.id)
            #expect(stats["fired"] as? Int == 2)
            #expect(stats["not_fired"] as? Int == 1)
            #expect((stats["outcomes"] as? [String: Int]) == ["fired": 2, "max_fires": 1])
            #expect((stats["days"] as? [[String: Any]])?.first?["day"] as? String == "2025-11-25")

            let health = try await service.health.check(PB.HealthCheckRequest())
            let metrics = Dictionary(health.metrics.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
            #expect(metrics["rules_evaluations_total"] == 3)
            #expect(metrics["rules_fired_total"] == 2)
            #expect(metrics["rules_rules"] == 1)
            #expect(metrics["rules_agents"] == 1)
        }
    }

    @Test("a dry run decides but writes nothing; only_rule_ids limits it")
    func dryRun() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            let rule = try await acme.createRule(stageRule(extra: #""cooldown_seconds": 3600"#), agent: agent.id)
            let disabled = try await acme.createRule(stageRule(name: "off", extra: #""enabled": false"#), agent: agent.id)
            let event = Events.stageChanged("evt-1", at: service.clock.now())

            let dry = try await acme.evaluate(event, dryRun: true)
            #expect(dry.actions.count == 2)
            let dryAgain = try await acme.evaluate(event, dryRun: true)
            #expect(dryAgain.actions.count == 2, "a dry run must not start the cooldown")
            let stats = try await acme.stats(rule: rule.id)
            #expect(stats["fired"] as? Int == 0)
            var request = PB.AgentContextRequest()
            request.agentId = agent.id
            request.leadId = Lead.id
            let context = try await acme.client.getAgentContext(request, options: acme.options)
            #expect(context.statusId == 0 && context.leadFields.isEmpty)

            let only = try await acme.evaluate(event, dryRun: true, only: [disabled.id])
            #expect(only.explanations.map(\.ruleId) == [disabled.id])
            #expect(only.explanations.first?.outcome.name == "disabled")
            #expect(only.actions.isEmpty)
            let notDry = await rpcError { try await acme.evaluate(event, only: [rule.id]) }
            #expect(notDry?.violations.map(\.field) == ["only_rule_ids"])

            let real = try await acme.evaluate(event)
            #expect(real.actions.count == 2)
            let next = try await acme.evaluate(Events.stageChanged("evt-2", at: service.clock.now()))
            #expect(next.explanations.first?.outcome.name == "cooldown")
        }
    }

    @Test("priority order and stop_processing, per agent")
    func priorityAndStop() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            let second = try await acme.createAgent(#"{"name": "Backup"}"#)
            let low = try await acme.createRule(stageRule(name: "low", priority: 1), agent: agent.id)
            let high = try await acme.createRule(stageRule(name: "high", priority: 10, extra: #""stop_processing": true"#), agent: agent.id)
            let elsewhere = try await acme.createRule(stageRule(name: "elsewhere", priority: 0), agent: second.id)

            let decision = try await acme.evaluate(Events.stageChanged("evt-1", at: service.clock.now()))
            #expect(decision.explanations.map(\.ruleId) == [high.id, low.id, elsewhere.id])
            #expect(decision.explanations.map(\.outcome.name) == ["fired", "stopped_by_priority", "fired"])
            #expect(Set(decision.actions.map(\.ruleId)) == [high.id, elsewhere.id])

            // Priorities are read from the store again after an update: the cache is dropped on writes.
            _ = try await acme.client.updateRule(Tenant.write(#"{"stop_processing": false}"#, id: high.id), options: acme.options)
            let after = try await acme.evaluate(Events.stageChanged("evt-2", at: service.clock.now()))
            #expect(after.explanations.map(\.outcome.name) == ["fired", "fired", "fired"])

            _ = try await acme.client.updateAgent(Tenant.write(#"{"status": "paused"}"#, id: second.id), options: acme.options)
            let paused = try await acme.evaluate(Events.stageChanged("evt-3", at: service.clock.now()))
            #expect(paused.explanations.last?.outcome.name == "agent_paused")
        }
    }

    @Test("cooldown holds until the clock passes it")
    func cooldown() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            _ = try await acme.createRule(stageRule(extra: #""cooldown_seconds": 3600"#), agent: agent.id)
            #expect(try await acme.evaluate(Events.stageChanged("evt-1", at: service.clock.now())).explanations.first?.outcome.name == "fired")
            service.clock.advance(by: 600)
            let blocked = try await acme.evaluate(Events.stageChanged("evt-2", at: service.clock.now()))
            #expect(blocked.explanations.first?.outcome.name == "cooldown")
            #expect(blocked.actions.isEmpty)
            service.clock.advance(by: 3000)
            #expect(try await acme.evaluate(Events.stageChanged("evt-3", at: service.clock.now())).explanations.first?.outcome.name == "fired")
        }
    }

    @Test("a time_based rule arms a timer; the timer fires only when the lead did not write")
    func timers() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            let rule = try await acme.createRule(#"""
                {"name": "No reply for an hour", "trigger": {"type": "time_based", "anchor": "stage_entered", "after_seconds": 3600,
                 "stage_id": 61234502}, "actions": [{"type": "send_message", "text": "Still interested?"}]}
                """#, agent: agent.id)
            let start = service.clock.now()
            let quietLead: Int64 = 4_410_021
            let chattyLead: Int64 = 4_410_022

            let armed = try await acme.evaluate(Events.stageChanged("evt-1", lead: quietLead, at: start))
            #expect(armed.actions.isEmpty)
            let timer = try #require(armed.timers.first)
            #expect(armed.timers.count == 1)
            #expect(timer.key == "\(rule.id):\(quietLead)")
            #expect(timer.ruleId == rule.id && timer.leadId == quietLead && timer.anchor == "stage_entered")
            #expect(timer.dueAtMicros == start.addingTimeInterval(3600).unixMicros)
            _ = try await acme.evaluate(Events.stageChanged("evt-2", lead: chattyLead, at: start))

            service.clock.advance(by: 600)
            _ = try await acme.evaluate(Events.inbound("evt-3", lead: chattyLead, at: service.clock.now()))

            service.clock.advance(by: 3000)
            let fired = try await acme.evaluate(Events.timer("tmr-1", rule: rule.id, lead: quietLead, at: service.clock.now()))
            #expect(fired.explanations.map(\.outcome.name) == ["fired"])
            #expect(fired.actions.map(\.idempotencyKey) == ["tmr-1:\(rule.id):0"])
            let cancelled = try await acme.evaluate(Events.timer("tmr-2", rule: rule.id, lead: chattyLead, at: service.clock.now()))
            #expect(cancelled.explanations.map(\.outcome.name) == ["timer_cancelled"])
            #expect(cancelled.actions.isEmpty)
        }
    }

    @Test("own writes recorded by the executor keep their echo from re-triggering the rule")
    func loopGuard() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            let rule = try await acme.createRule(#"""
                {"name": "Any move: push to review", "trigger": {"type": "stage_changed"},
                 "actions": [{"type": "change_stage", "stage_id": 61234503}]}
                """#, agent: agent.id)
            let guarded: Int64 = 4_410_021
            let unguarded: Int64 = 4_410_099

            let first = try await acme.evaluate(Events.stageChanged("evt-1", lead: guarded, at: service.clock.now()))
            #expect(first.actions.map { $0.action?.actionType } == [.changeStage])
            var record = PB.RecordRequest()
            var write = PB.OwnWrite()
            write.leadId = guarded
            write.kind = .stageChange
            write.value = "61234503"
            write.ruleId = rule.id
            write.atMicros = service.clock.now().unixMicros
            record.ownWrites = [write]
            _ = try await acme.client.record(record, options: acme.options)
            _ = try await acme.client.record(record, options: acme.options)

            service.clock.advance(by: 5)
            let echo = try await acme.evaluate(Events.stageChanged("evt-2", lead: guarded, to: 61_234_503, from: Lead.stageTo, at: service.clock.now()))
            #expect(echo.explanations.map(\.outcome.name) == ["loop_guard"])
            #expect(echo.actions.isEmpty)
            // The same move of a lead we did not write to is a real change and fires.
            let real = try await acme.evaluate(Events.stageChanged("evt-3", lead: unguarded, to: 61_234_503, from: Lead.stageTo, at: service.clock.now()))
            #expect(real.explanations.map(\.outcome.name) == ["fired"])

            let badKind = await rpcError {
                var bad = record
                bad.ownWrites[0].kind = .unrecognized(99)
                return try await acme.client.record(bad, options: acme.options)
            }
            #expect(badKind?.violations.map(\.field) == ["own_writes[0].kind"])
        }
    }

    @Test("events without a lead run lead-less rules and store no facts")
    func withoutLead() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            _ = try await acme.createRule(#"""
                {"name": "Web chat hello", "trigger": {"type": "message_received"},
                 "actions": [{"type": "send_message", "text": "Hi!"}], "cooldown_seconds": 3600}
                """#, agent: agent.id)
            var event = Events.inbound("evt-1", lead: 0, at: service.clock.now())
            event.leadId = 0
            let decision = try await acme.evaluate(event)
            #expect(decision.explanations.map(\.outcome.name) == ["fired"])
            #expect(decision.actions.first?.leadId == 0)
            event.id = "evt-2"
            let again = try await acme.evaluate(event)
            #expect(again.explanations.map(\.outcome.name) == ["fired"], "no lead, so no cooldown state to hold it")

            let missing = await rpcError {
                var request = PB.EvaluateRequest()
                request.event = PB.Event()
                return try await acme.client.evaluate(request, options: acme.options)
            }
            #expect(missing?.violations.map(\.field) == ["event.id"])
            let noTenant = await rpcError { try await acme.client.evaluate(PB.EvaluateRequest()) }
            #expect(noTenant?.code == .invalidArgument)
        }
    }
}
