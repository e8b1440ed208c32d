import Basics
import Domain
import Foundation
import ServiceKit
import Testing
import Wire

@Suite("agent settings and Digital Pipeline triggers over RPC")
struct AgentSettingsTests {
    @Test("pause_on_human_reply, channels and language reach the executor's agent context")
    func contextCarriesSettings() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent(#"""
                {"name": "Sofia", "language": "auto", "channels": ["waba", "telegram"],
                 "pause_on_human_reply": {"enabled": true, "resume_after_seconds": 1800, "resume_stage_ids": [61234503]}}
                """#)
            _ = try await acme.evaluate(Events.stageChanged("evt-1", at: service.clock.now()))
            _ = try await acme.evaluate(Events.inbound("evt-2", lead: Lead.id, text: "Hola", at: service.clock.now()))
            var request = PB.AgentContextRequest()
            request.agentId = agent.id
            request.leadId = Lead.id
            let context = try await acme.client.getAgentContext(request, options: acme.options)
            #expect(context.language == "auto")
            #expect(context.channels == ["waba", "telegram"])
            #expect(context.pauseOnHumanReply)
            #expect(context.resumeAfterSeconds == 1800)
            #expect(context.resumeStageIds == [61_234_503])
            #expect(context.lastInboundOrigin == "waba")
            #expect(context.stageEnteredAtMicros == service.clock.now().unixMicros)
            let json = try object(agent)
            let pause = json["pause_on_human_reply"] as? [String: Any]
            let stages = pause?["resume_stage_ids"] as? [Int]
            #expect(stages == [61_234_503])
        }
    }

    @Test("the new settings are validated with their field paths")
    func validation() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let invalid = await rpcError {
                try await acme.createAgent(#"""
                    {"name": "Sofia", "language": "automatic",
                     "pause_on_human_reply": {"resume_after_seconds": -1, "resume_stage_ids": [0, 61234503, 61234503]}}
                    """#)
            }
            let fields = Set(invalid?.violations.map(\.field) ?? [])
            #expect(fields == ["language", "pause_on_human_reply.resume_after_seconds",
                               "pause_on_human_reply.resume_stage_ids[0]", "pause_on_human_reply.resume_stage_ids[2]"])
            // Defaults: pausing for a day, no stages.
            let plain = try object(try await acme.createAgent(#"{"name": "Plain"}"#))
            let pause = plain["pause_on_human_reply"] as? [String: Any]
            let enabled = pause?["enabled"] as? Bool
            let after = pause?["resume_after_seconds"] as? Int
            #expect(enabled == true)
            #expect(after == 86_400)
        }
    }

    @Test("ai_actions are validated with their field paths and reach the executor's agent context")
    func aiActions() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let invalid = await rpcError {
                try await acme.createAgent(#"""
                    {"name": "Sofia", "ai_actions": {"tools": ["update_lead_fields", "move_to_stage", "send_money", "move_to_stage"],
                                                     "field_ids": [0]}}
                    """#)
            }
            let fields = Set(invalid?.violations.map(\.field) ?? [])
            #expect(fields == ["ai_actions.tools[2]", "ai_actions.tools[3]", "ai_actions.field_ids[0]", "ai_actions.stage_ids"])
            let message = invalid?.violations.first { $0.field == "ai_actions.tools[2]" }?.message ?? ""
            #expect(message.contains("update_lead_fields, move_to_stage, create_task, add_tags, hand_off"), "\(message)")

            let agent = try await acme.createAgent(#"""
                {"name": "Sofia", "ai_actions": {"tools": ["update_lead_fields", "hand_off"], "field_ids": [512301], "stage_ids": [61234502]}}
                """#)
            var request = PB.AgentContextRequest()
            request.agentId = agent.id
            let context = try await acme.client.getAgentContext(request, options: acme.options)
            #expect(context.aiTools == [.updateLeadFields, .handOff])
            #expect(context.aiFieldIds == [512_301])
            #expect(context.aiStageIds == [61_234_502])
            let plain = try await acme.createAgent(#"{"name": "Plain"}"#)
            request.agentId = plain.id
            let none = try await acme.client.getAgentContext(request, options: acme.options)
            #expect(none.aiTools.isEmpty)
        }
    }

    @Test("a lead_site_visit rule fires on the Digital Pipeline event and on nothing else")
    func digitalPipelineTrigger() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            let rule = try await acme.createRule(
                #"{"name": "Visited", "trigger": {"type": "lead_site_visit"}, "actions": [{"type": "create_task", "text": "Call", "due_in_seconds": 600}]}"#,
                agent: agent.id)
            var visit = Events.base("evt-visit", type: "lead_site_visit", lead: Lead.id, at: service.clock.now())
            visit.statusId = Lead.stageTo
            visit.pipelineId = Lead.pipeline
            let decision = try await acme.evaluate(visit)
            let fired = decision.explanations.first { $0.ruleId == rule.id }?.outcome
            #expect(fired == .fired)
            let actions = decision.actions.count
            #expect(actions == 1)
            let other = try await acme.evaluate(Events.base("evt-mail", type: "lead_mail_in", lead: Lead.id, at: service.clock.now()))
            #expect(other.actions.isEmpty)
            let stageFilter = await rpcError {
                try await acme.createRule(#"{"name": "x", "trigger": {"type": "lead_chat", "stage_id": 5}, "actions": [{"type": "add_note", "text": "n"}]}"#,
                                          agent: agent.id)
            }
            let stageFields = stageFilter?.violations.map(\.field)
            #expect(stageFields == ["trigger.stage_id"])
        }
    }
}
