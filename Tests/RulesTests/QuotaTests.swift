import Foundation
import ServiceKit
import Testing
import TestSupport
import Wire

/// One tenant cannot fill the shared store: agents, rules and scripts have per-tenant quotas, answered as
/// RESOURCE_EXHAUSTED naming the quota, and another tenant is not affected.
@Suite("Tenant quotas")
struct QuotaTests {
    @Test("creates beyond a quota answer RESOURCE_EXHAUSTED naming it; other tenants and deletes free room")
    func quotas() async throws {
        try await RulesService.run(quotas: TenantQuotas(agents: 2, rules: 3, scripts: 1, sequences: 1)) { service in
            let acme = service.tenant("t_acme")
            let first = try await acme.createAgent()
            _ = try await acme.createAgent(#"{"name": "Second"}"#)
            let third = await rpcError { try await acme.createAgent(#"{"name": "Third"}"#) }
            #expect(third?.code == .resourceExhausted)
            #expect(third?.message.contains("quota_agents") == true)
            #expect(third?.message.contains("at most 2 agents") == true)

            for index in 0..<3 { _ = try await acme.createRule(stageRule(name: "Rule \(index)"), agent: first.id) }
            let rule = await rpcError { try await acme.createRule(stageRule(name: "One too many"), agent: first.id) }
            #expect(rule?.code == .resourceExhausted)
            #expect(rule?.message.contains("quota_rules") == true)

            let script = #"{"name": "Greeting", "type": "greeting", "body": "Hello {{lead.name}}"}"#
            _ = try await acme.createScript(script, agent: first.id)
            let second = await rpcError { try await acme.createScript(script, agent: first.id) }
            #expect(second?.code == .resourceExhausted)
            #expect(second?.message.contains("quota_scripts") == true)

            // Another tenant has its own room.
            let other = service.tenant("t_other")
            let agent = try await other.createAgent()
            _ = try await other.createRule(stageRule(), agent: agent.id)
        }
    }
}
