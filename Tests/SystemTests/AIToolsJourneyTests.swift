import Basics
import Foundation
import NIOHTTP1
import TestSupport
import Testing

/// The actions an AI reply may take, through the four real processes, the OpenAI-compatible emulator as
/// the tenant's provider and the Kommo emulator: the model's `update_lead_fields` call reaches Kommo as
/// one lead PATCH, a call outside the agent's `ai_actions` is refused and logged, and a hand-off creates
/// the manager's task and pauses the agent for the lead.
@Suite("AI tools journey", .serialized)
struct AIToolsJourneyTests {
    static let lead: Int64 = 4410091
    typealias Pause = HumanReplyPauseJourneyTests

    static func actionItems(_ client: HTTPTestClient, key: String) async throws -> [[String: Any]] {
        let log = try await client.request(.GET, "/api/v1/actions?lead_id=\(lead)", token: key)
        return log.json["items"] as? [[String: Any]] ?? []
    }

    @Test("a scripted update_lead_fields call is one PATCH with the field; a field outside the policy is refused; a hand-off tasks the manager and pauses the agent")
    func toolCalls() async throws {
        let kommo = KommoEmulator()
        kommo.addLead(["id": .int(Self.lead), "name": "Apartment 7C", "status_id": 61234502, "pipeline_id": 7100001,
                       "_embedded": ["contacts": [["id": 501, "is_main": true]]]])
        kommo.addContact(["id": 501, "name": "Maria Silva", "first_name": "Maria"])
        let llm = OpenAIEmulator()
        try await withTestServer(llm.handle) { llmPort in
            try await withTestServer(kommo.handle) { kommoPort in
                let system = try await FullSystem.make()
                try await system.run { client in
                    let acme = try await client.createTenant(admin: system.adminToken)
                    let integrations = try await client.json(.PATCH, "/api/v1/integrations", [
                        "kommo": ["base_url": "http://127.0.0.1:\(kommoPort)", "access_token": kommo.token],
                        "messages": ["mode": "salesbot_field", "field_id": 880011, "bot_id": 42],
                        "ai": ["provider": "openai", "base_url": "http://127.0.0.1:\(llmPort)", "api_key": llm.apiKey, "model": "gpt-test"],
                    ], token: acme.key)
                    #expect(integrations.status == 200, "\(integrations.text)")
                    let agent = try await client.json(.POST, "/api/v1/agents", [
                        "name": "Sofia", "pause_on_human_reply": ["enabled": false],
                        "ai_actions": ["tools": ["update_lead_fields", "hand_off"], "field_ids": [512301]],
                    ], token: acme.key)
                    #expect(agent.status == 201, "\(agent.text)")
                    let agentID = agent.json["id"] as? String ?? ""
                    let rule = try await client.json(.POST, "/api/v1/agents/\(agentID)/rules", [
                        "name": "Answer every message", "trigger": ["type": "message_received"], "actions": [["type": "ai_response"]],
                    ], token: acme.key)
                    #expect(rule.status == 201, "\(rule.text)")

                    // 1. The model writes the stated budget into the lead, and tries a field it may not set.
                    llm.enqueue(.toolCalls([
                        .init(id: "call_a", name: "update_lead_fields", arguments: ["fields": [["field_id": 512301, "value": "5000"]]]),
                        .init(id: "call_b", name: "update_lead_fields", arguments: ["fields": [["field_id": 512302, "value": "Website"]]]),
                    ]))
                    let first = try await client.postWebhook(secret: acme.secret, body: Pause.inbound("My budget is 5000", at: Date()))
                    #expect(first.status == 200, "\(first.text)")
                    let patched = try await eventually { !kommo.leadChanges(Self.lead).isEmpty }
                    #expect(patched, "\(kommo.received.map { "\($0.method) \($0.path)" })")
                    let logged = try await eventually {
                        try await Self.actionItems(client, key: acme.key).contains {
                            ($0["action_type"] as? String) == "ai_response" && (($0["request_summary"] as? String) ?? "").contains("AI decided")
                        }
                    }
                    #expect(logged)
                    try await Task.sleep(for: .milliseconds(500))
                    let patches = kommo.received.filter { $0.method == "PATCH" && $0.path == "/api/v4/leads" }
                    #expect(patches.count == 1, "exactly one lead PATCH: \(patches.map(\.text))")
                    let fields = kommo.leadChanges(Self.lead).first?["custom_fields_values"]?.array ?? []
                    #expect(fields.count == 1, "\(fields)")
                    #expect(fields.first?["field_id"]?.int64 == 512301)
                    #expect(fields.first?["values"]?[0]?["value"]?.string == "5000")

                    let offered = llm.chats.first
                    #expect(offered?.toolNames == ["update_lead_fields", "hand_off"])
                    let fieldEnum = offered?.tools.first?["function"]?["parameters"]?["properties"]?["fields"]?["items"]?["properties"]?["field_id"]?["enum"]
                    #expect(fieldEnum == [512301])

                    let items = try await Self.actionItems(client, key: acme.key)
                    let reply = items.first { ($0["action_type"] as? String) == "ai_response" }
                    let summary = reply?["request_summary"] as? String ?? ""
                    #expect(summary.contains("update_lead_fields"), "\(summary)")
                    #expect(summary.contains("refused update_lead_fields"), "\(summary)")
                    #expect(summary.contains("field 512302 is not in the agent's ai_actions.field_ids"), "\(summary)")
                    #expect((reply?["outcome"] as? String) == "succeeded", "\(reply ?? [:])")
                    let toolActions = items.filter { ($0["action_type"] as? String) == "kommo_action" }
                    #expect(toolActions.count == 1, "the refused call ran nothing: \(items)")
                    #expect((toolActions.first?["outcome"] as? String) == "succeeded", "\(toolActions)")
                    #expect(Pause.salesbotRuns(kommo) == 0, "tool calls alone send no message")

                    // 2. The client asks for a person: the model hands off and says so.
                    llm.enqueue(.toolCalls([.init(id: "call_h", name: "hand_off", arguments: ["reason": "the client asks for a person"])],
                                           content: "Of course, a manager will contact you shortly."))
                    _ = try await client.postWebhook(secret: acme.secret, body: Pause.inbound("Can I talk to a person?", at: Date()))
                    let handedOff = try await eventually { kommo.tasksCreated == 1 && Pause.salesbotRuns(kommo) == 1 }
                    #expect(handedOff, "\(kommo.received.map { "\($0.method) \($0.path)" })")
                    let task = kommo.received.last { $0.method == "POST" && $0.path == "/api/v4/tasks" }?.json?[0]
                    #expect(task?["text"]?.string?.contains("the client asks for a person") == true, "\(task.map { "\($0)" } ?? "-")")
                    #expect(task?["entity_id"]?.int64 == Self.lead)
                    #expect(Pause.repliesSent(kommo).last == "Of course, a manager will contact you shortly.")

                    // 3. The agent is paused for the lead, though it does not pause on a manager's reply.
                    _ = try await client.postWebhook(secret: acme.secret, body: Pause.inbound("Hello?", at: Date()))
                    let held = try await eventually {
                        try await Self.actionItems(client, key: acme.key).contains {
                            ($0["outcome"] as? String) == "held" && (($0["detail"] as? String) ?? "").contains("handed over")
                        }
                    }
                    #expect(held)
                    #expect(llm.chats.count == 2, "a held reply asks the model nothing")
                    #expect(Pause.salesbotRuns(kommo) == 1)
                    #expect(llm.violations.isEmpty, "\(llm.violations)")
                    #expect(kommo.violations.isEmpty, "\(kommo.violations)")
                }
            }
        }
    }
}
