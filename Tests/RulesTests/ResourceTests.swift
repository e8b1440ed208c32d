import Foundation
import Testing
import Wire

@Suite("rules-service resources over RPC")
struct ResourceTests {
    @Test("agents: create, get, list, merge patch, version conflict, field-level validation")
    func agents() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let created = try await acme.createAgent(#"""
                {"name": "Sofia", "description": "Inbound", "persona": "Friendly", "language": "es",
                 "pipelines": [{"pipeline_id": 7100001, "stage_ids": [61234501]}], "channels": ["waba"],
                 "working_hours": {"time_zone": "America/Sao_Paulo", "days": ["mon", "tue"], "start": "09:00", "end": "18:00"},
                 "pause_on_human_reply": {"enabled": true, "resume_after_seconds": 3600}}
                """#)
            #expect(created.version == 1)
            #expect(!created.id.isEmpty)
            var json = try object(created)
            #expect(json["id"] as? String == created.id)
            #expect(json["status"] as? String == "active")
            #expect(json["version"] as? Int == 1)
            #expect(json["created_at"] as? String == "2025-11-25T12:00:00.000Z")

            let fetched = try await acme.client.getAgent(Tenant.ref(created.id), options: acme.options)
            #expect(fetched.json == created.json)

            service.clock.advance(by: 60)
            let patched = try await acme.client.updateAgent(
                Tenant.write(#"{"persona": "Formal", "description": null, "status": "paused"}"#, id: created.id, ifVersion: 1),
                options: acme.options)
            #expect(patched.version == 2)
            json = try object(patched)
            #expect(json["persona"] as? String == "Formal")
            #expect(json["name"] as? String == "Sofia")
            #expect(json["description"] as? String == "")
            #expect(json["status"] as? String == "paused")
            #expect(json["language"] as? String == "es")
            #expect(json["updated_at"] as? String == "2025-11-25T12:01:00.000Z")

            let stale = await rpcError {
                try await acme.client.updateAgent(Tenant.write(#"{"persona": "Late"}"#, id: created.id, ifVersion: 1), options: acme.options)
            }
            #expect(stale?.code == .failedPrecondition)

            let invalid = await rpcError {
                try await acme.createAgent(#"{"name": " ", "colour": "red", "status": "sleeping", "working_hours": {"time_zone": "Mars/Olympus", "days": ["mon"], "start": "09:00", "end": "18:00"}, "pipelines": [{"pipeline_id": 1, "stages": []}]}"#)
            }
            #expect(invalid?.code == .invalidArgument)
            let fields = Set(invalid?.violations.map(\.field) ?? [])
            #expect(fields == ["name", "colour", "status", "working_hours.time_zone", "pipelines[0].stages"])
            #expect(invalid?.violations.first { $0.field == "name" }?.message == "must not be empty")

            let badPatch = await rpcError {
                try await acme.client.updateAgent(Tenant.write(#"{"name": ""}"#, id: created.id), options: acme.options)
            }
            #expect(badPatch?.violations.map(\.field) == ["name"])
            #expect(try object(try await acme.client.getAgent(Tenant.ref(created.id), options: acme.options))["name"] as? String == "Sofia")

            let typed = await rpcError { try await acme.createAgent(#"{"name": "X", "channels": "waba"}"#) }
            #expect(typed?.violations.map(\.field) == ["channels"])
            // Wrong types and wrong values are reported together, every one with its field.
            let several = await rpcError {
                try await acme.createAgent(#"{"name": 5, "channels": "waba", "status": "sleeping", "pipelines": [{"pipeline_id": "x"}], "language": "!!"}"#)
            }
            let severalFields = Set(several?.violations.map(\.field) ?? [])
            #expect(severalFields == ["name", "channels", "status", "pipelines[0].pipeline_id", "language"])

            _ = try await acme.createAgent(#"{"name": "Second"}"#)
            let page = try await acme.client.listAgents(Tenant.query(), options: acme.options)
            #expect(page.items.count == 2)
        }
    }

    @Test("rules: engine validation with field paths, server ids, priority order, cursor pages, enable by patch")
    func rules() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()

            let invalid = await rpcError {
                try await acme.createRule(#"""
                    {"name": "", "trigger": {"type": "stage_changed"}, "cooldwn_seconds": 60,
                     "conditions": {"all": [{"type": "field_value", "field": "cf.Budget", "operator": "in", "values": ["a"], "valu": "x"}]},
                     "actions": [{"type": "create_task", "text": "Call"}]}
                    """#, agent: agent.id)
            }
            #expect(invalid?.code == .invalidArgument)
            #expect(Set(invalid?.violations.map(\.field) ?? []) == ["name", "cooldwn_seconds", "conditions.all[0].valu", "actions[0].due_in_seconds"])

            let undecodable = await rpcError {
                try await acme.createRule(#"{"name": "x", "trigger": {"type": "whenever"}, "actions": []}"#, agent: agent.id)
            }
            // A member that does not decode does not hide the other members' problems.
            #expect(Set(undecodable?.violations.map(\.field) ?? []) == ["trigger.type", "actions"])
            let everything = await rpcError {
                try await acme.createRule(#"{"name": "", "priority": "high", "trigger": {"type": "whenever"}, "cooldown_seconds": -1, "conditions": {"all": [{"type": "zzz"}]}, "actions": [{"type": "create_task"}]}"#, agent: agent.id)
            }
            let all = Set(everything?.violations.map(\.field) ?? [])
            #expect(all == ["name", "priority", "trigger.type", "cooldown_seconds", "conditions.all[0].type", "actions[0].text", "actions[0].due_in_seconds"])

            let missingScript = await rpcError {
                try await acme.createRule(stageRule(actions: #"[{"type": "send_message", "script_id": "scr_nope"}]"#), agent: agent.id)
            }
            #expect(missingScript?.violations.map(\.field) == ["actions[0].script_id"])

            let noAgent = await rpcError { try await acme.createRule(stageRule(), agent: "agt_missing") }
            #expect(noAgent?.code == .notFound)

            let low = try await acme.createRule(stageRule(name: "low", priority: 1, extra: #""id": "mine", "agent_id": "other""#), agent: agent.id)
            let high = try await acme.createRule(stageRule(name: "high", priority: 10), agent: agent.id)
            let middle = try await acme.createRule(stageRule(name: "middle", priority: 5), agent: agent.id)
            let lowJSON = try object(low)
            #expect(low.id != "mine" && lowJSON["id"] as? String == low.id)
            #expect(lowJSON["agent_id"] as? String == agent.id && low.parentId == agent.id)
            #expect(lowJSON["enabled"] as? Bool == true)

            let first = try await acme.client.listRules(Tenant.query(parent: agent.id, limit: 2), options: acme.options)
            #expect(first.items.map(\.id) == [high.id, middle.id])
            #expect(!first.nextCursor.isEmpty)
            let second = try await acme.client.listRules(Tenant.query(parent: agent.id, limit: 2, cursor: first.nextCursor), options: acme.options)
            #expect(second.items.map(\.id) == [low.id])
            #expect(second.nextCursor.isEmpty)

            let badCursor = await rpcError {
                try await acme.client.listRules(Tenant.query(parent: agent.id, cursor: "not-a-cursor"), options: acme.options)
            }
            #expect(badCursor?.code == .invalidArgument)
            #expect(badCursor?.violations.map(\.field) == ["cursor"])

            let disabled = try await acme.client.updateRule(
                Tenant.write(#"{"enabled": false}"#, id: middle.id, parent: agent.id, ifVersion: 1), options: acme.options)
            #expect(disabled.version == 2)
            #expect(try object(disabled)["enabled"] as? Bool == false)
            #expect(try object(disabled)["name"] as? String == "middle")
            let conflict = await rpcError {
                try await acme.client.updateRule(Tenant.write(#"{"enabled": true}"#, id: middle.id, ifVersion: 1), options: acme.options)
            }
            #expect(conflict?.code == .failedPrecondition)
            let badPatch = await rpcError {
                try await acme.client.updateRule(Tenant.write(#"{"cooldown_seconds": -5}"#, id: middle.id), options: acme.options)
            }
            #expect(badPatch?.violations.map(\.field) == ["cooldown_seconds"])

            try await acme.client.deleteRule(Tenant.ref(low.id, parent: agent.id), options: acme.options)
            #expect(await rpcError { try await acme.client.getRule(Tenant.ref(low.id), options: acme.options) }?.code == .notFound)
        }
    }

    @Test("scripts: template syntax errors on body, unknown variables as warnings, versions, render")
    func scripts() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            let broken = await rpcError {
                try await acme.createScript(#"{"name": "Hi", "type": "greeting", "body": "Hi {{lead.name"}"#, agent: agent.id)
            }
            #expect(broken?.code == .invalidArgument)
            #expect(broken?.violations.map(\.field) == ["body"])
            let wrongType = await rpcError {
                try await acme.createScript(#"{"name": "Hi", "type": "smalltalk", "body": "Hi", "extra": 1}"#, agent: agent.id)
            }
            #expect(Set(wrongType?.violations.map(\.field) ?? []) == ["type", "extra"])

            let script = try await acme.createScript(
                #"{"name": "Hi", "type": "greeting", "body": "Hi {{contact.first_name}}, code {{promo_code}}", "stage_ids": [61234502]}"#,
                agent: agent.id)
            #expect(script.warnings.map(\.field) == ["body"])
            #expect(script.warnings.first?.message.contains("promo_code") == true)
            let json = try object(script)
            #expect(json["block_on_missing"] as? Bool == true)
            #expect(json["active"] as? Bool == true)

            let updated = try await acme.client.updateScript(
                Tenant.write(#"{"body": "Hello {{contact.first_name|there}}!"}"#, id: script.id, parent: agent.id), options: acme.options)
            #expect(updated.version == 2)
            #expect(updated.warnings.isEmpty)

            var render = PB.RenderRequest()
            render.agentId = agent.id
            render.scriptId = script.id
            render.values = [PB.KeyValue(key: "contact.name", value: "Ana Souza")]
            let rendered = try await acme.client.renderScript(render, options: acme.options)
            #expect(rendered.text == "Hello Ana!")
            #expect(rendered.version == 2)

            let strict = try await acme.createScript(#"{"name": "Close", "type": "closing", "body": "Deal, {{contact.name}}?"}"#, agent: agent.id)
            render.scriptId = strict.id
            render.values = []
            let blocked = try await acme.client.renderScript(render, options: acme.options)
            #expect(blocked.blocked)
            #expect(blocked.missing == ["contact.name"])
        }
    }

    @Test("deleting an agent with rules and scripts needs cascade, which deletes them")
    func cascade() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            let rule = try await acme.createRule(stageRule(), agent: agent.id)
            let script = try await acme.createScript(#"{"name": "Hi", "type": "greeting", "body": "Hi"}"#, agent: agent.id)

            let refused = await rpcError { try await acme.client.deleteAgent(Tenant.ref(agent.id), options: acme.options) }
            #expect(refused?.code == .failedPrecondition)
            #expect(refused?.message.contains("1 rule and 1 sales script") == true)
            _ = try await acme.client.getRule(Tenant.ref(rule.id), options: acme.options)

            try await acme.client.deleteAgent(Tenant.ref(agent.id, cascade: true), options: acme.options)
            #expect(await rpcError { try await acme.client.getAgent(Tenant.ref(agent.id), options: acme.options) }?.code == .notFound)
            #expect(await rpcError { try await acme.client.getRule(Tenant.ref(rule.id), options: acme.options) }?.code == .notFound)
            #expect(await rpcError { try await acme.client.getScript(Tenant.ref(script.id), options: acme.options) }?.code == .notFound)

            let empty = try await acme.createAgent()
            try await acme.client.deleteAgent(Tenant.ref(empty.id), options: acme.options)
        }
    }

    @Test("another tenant's ids answer NOT_FOUND on every RPC")
    func tenantIsolation() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            let rule = try await acme.createRule(stageRule(), agent: agent.id)
            let script = try await acme.createScript(#"{"name": "Hi", "type": "greeting", "body": "Hi"}"#, agent: agent.id)

            let other = service.tenant("t_other")
            let client = other.client
            let options = other.options
            var codes: [String: StatusCode?] = [:]
            codes["GetAgent"] = await rpcError { try await client.getAgent(Tenant.ref(agent.id), options: options) }?.code
            codes["UpdateAgent"] = await rpcError { try await client.updateAgent(Tenant.write(#"{"name": "x"}"#, id: agent.id), options: options) }?.code
            codes["DeleteAgent"] = await rpcError { try await client.deleteAgent(Tenant.ref(agent.id, cascade: true), options: options) }?.code
            codes["CreateRule"] = await rpcError { try await other.createRule(stageRule(), agent: agent.id) }?.code
            codes["GetRule"] = await rpcError { try await client.getRule(Tenant.ref(rule.id), options: options) }?.code
            codes["ListRules"] = await rpcError { try await client.listRules(Tenant.query(parent: agent.id), options: options) }?.code
            codes["UpdateRule"] = await rpcError { try await client.updateRule(Tenant.write(#"{"enabled": false}"#, id: rule.id), options: options) }?.code
            codes["DeleteRule"] = await rpcError { try await client.deleteRule(Tenant.ref(rule.id), options: options) }?.code
            codes["CreateScript"] = await rpcError { try await other.createScript(#"{"name": "Hi", "type": "greeting", "body": "Hi"}"#, agent: agent.id) }?.code
            codes["GetScript"] = await rpcError { try await client.getScript(Tenant.ref(script.id), options: options) }?.code
            codes["ListScripts"] = await rpcError { try await client.listScripts(Tenant.query(parent: agent.id), options: options) }?.code
            codes["UpdateScript"] = await rpcError { try await client.updateScript(Tenant.write(#"{"name": "x"}"#, id: script.id), options: options) }?.code
            codes["DeleteScript"] = await rpcError { try await client.deleteScript(Tenant.ref(script.id), options: options) }?.code
            var render = PB.RenderRequest()
            render.scriptId = script.id
            codes["RenderScript"] = await rpcError { try await client.renderScript(render, options: options) }?.code
            var contextRequest = PB.AgentContextRequest()
            contextRequest.agentId = agent.id
            codes["GetAgentContext"] = await rpcError { try await client.getAgentContext(contextRequest, options: options) }?.code
            var record = PB.RecordRequest()
            var use = PB.ScriptUse()
            use.scriptId = script.id
            use.actionKey = "e:r:0"
            use.leadId = Lead.id
            record.scriptUses = [use]
            codes["Record"] = await rpcError { try await client.record(record, options: options) }?.code
            var stats = PB.StatsQuery()
            stats.id = rule.id
            codes["RuleStats"] = await rpcError { try await client.ruleStats(stats, options: options) }?.code
            stats.id = script.id
            codes["ScriptStats"] = await rpcError { try await client.scriptStats(stats, options: options) }?.code
            let event = Events.stageChanged("evt-iso", at: service.clock.now())
            codes["Evaluate(only_rule_ids)"] = await rpcError { try await other.evaluate(event, dryRun: true, only: [rule.id]) }?.code
            for (name, code) in codes.sorted(by: { $0.key < $1.key }) {
                #expect(code == .notFound, "\(name) answered \(String(describing: code))")
            }

            // The other tenant's events never reach this tenant's rules.
            let decision = try await other.evaluate(event)
            #expect(decision.actions.isEmpty && decision.explanations.isEmpty)
            #expect(try await client.listAgents(Tenant.query(), options: options).items.isEmpty)
            // And nothing above changed the owner's resources.
            #expect(try await acme.client.getRule(Tenant.ref(rule.id), options: acme.options).version == 1)
            #expect(try await acme.evaluate(Events.stageChanged("evt-own", at: service.clock.now())).actions.count == 2)
        }
    }
}
