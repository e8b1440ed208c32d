import Foundation
import NIOHTTP1
import ServiceKit
import TestSupport
import Testing

/// AI replies grounded in the agent's knowledge base, through the real services with the offline
/// `template` provider.
@Suite("Grounded reply journey", .serialized)
struct GroundedReplyJourneyTests {
    typealias Chat = HumanReplyPauseJourneyTests

    @Test("a question answered only in an uploaded document gets that answer, and the action log names the chunk; small talk gets the script")
    func answerFromKnowledge() async throws {
        let kommo = KommoEmulator()
        kommo.addLead(["id": .int(Chat.lead), "name": "Oven order", "status_id": 61234502, "pipeline_id": 7100001,
                       "_embedded": ["contacts": [["id": 501, "is_main": true]]]])
        kommo.addContact(["id": 501, "name": "Maria Silva", "first_name": "Maria"])
        let clock = ManualClock(Date())
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await FullSystem.make(clock: clock)
            try await system.run { client in
                let acme = try await client.createTenant(admin: system.adminToken)
                let integrations = try await client.json(.PATCH, "/api/v1/integrations", [
                    "kommo": ["base_url": "http://127.0.0.1:\(kommoPort)", "access_token": kommo.token],
                    "messages": ["mode": "salesbot_field", "field_id": 880011, "bot_id": 42],
                ], token: acme.key)
                #expect(integrations.status == 200, "\(integrations.text)")
                let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sofia"], token: acme.key)
                let agentID = agent.json["id"] as? String ?? ""
                let base = "/api/v1/agents/\(agentID)"
                _ = try await client.json(.POST, "\(base)/scripts", [
                    "name": "Greeting", "type": "greeting", "body": "Hi {{contact.first_name|there}}! I'm {{agent.name}}.",
                ], token: acme.key)
                let qualify = try await client.json(.POST, "\(base)/scripts", [
                    "name": "Qualify", "type": "qualification", "body": "Thanks {{contact.first_name|there}}! Which oven size do you need?",
                ], token: acme.key)
                #expect(qualify.status == 201, "\(qualify.text)")
                let document = try await client.json(.POST, "\(base)/knowledge", [
                    "title": "Shipping", "format": "markdown",
                    "content": """
                        # Payments
                        We accept cards and bank transfers.

                        # Delivery
                        We deliver to Valencia every Tuesday and Friday; delivery is free above 300 EUR. Installation costs 49 EUR.

                        # Warranty
                        Every oven has a two-year warranty.
                        """,
                ], token: acme.key)
                #expect(document.status == 201, "\(document.text)")
                let documentID = document.json["id"] as? String ?? ""
                let rule = try await client.json(.POST, "\(base)/rules", [
                    "name": "Answer every message", "trigger": ["type": "message_received"], "actions": [["type": "ai_response"]],
                ], token: acme.key)
                #expect(rule.status == 201, "\(rule.text)")

                // The question's answer is only in the document.
                let asked = try await client.postWebhook(secret: acme.secret, body: Chat.inbound("Hola! Do you deliver to Valencia?", at: clock.now()))
                #expect(asked.status == 200, "\(asked.text)")
                let answered = try await eventually { Chat.salesbotRuns(kommo) == 1 }
                #expect(answered, "\(kommo.received.map { "\($0.method) \($0.path)" })")
                #expect(Chat.repliesSent(kommo).first == "We deliver to Valencia every Tuesday and Friday; delivery is free above 300 EUR.",
                        "\(Chat.repliesSent(kommo))")

                let actionsPath = "/api/v1/actions?lead_id=\(Chat.lead)"
                let logged = try await eventually {
                    let items = try await client.request(.GET, actionsPath, token: acme.key).json["items"] as? [[String: Any]] ?? []
                    return items.contains { ($0["request_summary"] as? String ?? "").contains("knowledge \(documentID) v1 #1") }
                }
                let log = try await client.request(.GET, actionsPath, token: acme.key)
                #expect(logged, "\(log.text)")

                // Small talk the documents do not answer falls back to the stage's script.
                clock.advance(by: 60)
                _ = try await client.postWebhook(secret: acme.secret, body: Chat.inbound("Great, sounds lovely", at: clock.now()))
                let again = try await eventually { Chat.salesbotRuns(kommo) == 2 }
                #expect(again)
                #expect(Chat.repliesSent(kommo).last == "Thanks Maria! Which oven size do you need?", "\(Chat.repliesSent(kommo))")
                #expect(kommo.violations.isEmpty, "\(kommo.violations)")
            }
        }
    }
}
