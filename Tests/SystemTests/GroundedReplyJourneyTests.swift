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

    struct Outcome: Sendable, CustomStringConvertible {
        var outcome: String
        var detail: String
        var description: String { "\(outcome): \(detail)" }
    }

    /// The outcomes and details of the lead's action-log entries.
    static func outcomes(_ client: HTTPTestClient, key: String) async throws -> [Outcome] {
        let items = try await client.request(.GET, "/api/v1/actions?lead_id=\(Chat.lead)", token: key).json["items"] as? [[String: Any]] ?? []
        return items.map { Outcome(outcome: $0["outcome"] as? String ?? "", detail: $0["detail"] as? String ?? "") }
    }

    @Test("three messages 2 s apart get one reply answering all of them after the quiet period; the daily cap skips the next")
    func quietPeriodAndDailyCap() async throws {
        let kommo = KommoEmulator()
        kommo.addLead(["id": .int(Chat.lead), "name": "Oven order", "status_id": 61234502, "pipeline_id": 7100001,
                       "_embedded": ["contacts": [["id": 501, "is_main": true]]]])
        kommo.addContact(["id": 501, "name": "Maria Silva", "first_name": "Maria"])
        // Noon UTC today, so the day the cap counts does not end during the test.
        let today = (Date().timeIntervalSince1970 / 86_400).rounded(.down) * 86_400
        let clock = ManualClock(Date(timeIntervalSince1970: today + 43_200))
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await FullSystem.make(clock: clock)
            try await system.run { client in
                let acme = try await client.createTenant(admin: system.adminToken)
                _ = try await client.json(.PATCH, "/api/v1/integrations", [
                    "kommo": ["base_url": "http://127.0.0.1:\(kommoPort)", "access_token": kommo.token],
                    "messages": ["mode": "salesbot_field", "field_id": 880011, "bot_id": 42],
                ], token: acme.key)
                let agent = try await client.json(.POST, "/api/v1/agents", [
                    "name": "Sofia", "replies": ["quiet_seconds": 5, "max_per_lead_per_day": 1],
                ], token: acme.key)
                #expect(agent.status == 201, "\(agent.text)")
                let agentID = agent.json["id"] as? String ?? ""
                let base = "/api/v1/agents/\(agentID)"
                _ = try await client.json(.POST, "\(base)/scripts", ["name": "Qualify", "type": "qualification", "body": "Which oven size do you need?"],
                                          token: acme.key)
                let document = try await client.json(.POST, "\(base)/knowledge", [
                    "title": "Shipping", "format": "markdown",
                    "content": "# Delivery\nWe deliver to Valencia every Tuesday.\n\n# Warranty\nEvery oven has a two-year warranty.",
                ], token: acme.key)
                #expect(document.status == 201, "\(document.text)")
                _ = try await client.json(.POST, "\(base)/rules", [
                    "name": "Answer every message", "trigger": ["type": "message_received"], "actions": [["type": "ai_response"]],
                ], token: acme.key)
                let bad = try await client.json(.PATCH, base, ["replies": ["quiet_seconds": -1]], token: acme.key)
                #expect(bad.status == 400)
                #expect((bad.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "replies.quiet_seconds")

                let key = acme.key
                @Sendable func outcomes() async throws -> [Outcome] { try await Self.outcomes(client, key: key) }
                for (index, text) in ["Hello!", "Do you deliver to Valencia?", "And how long is the warranty?"].enumerated() {
                    if index > 0 { clock.advance(by: 2) }
                    _ = try await client.postWebhook(secret: acme.secret, body: Chat.inbound(text, at: clock.now()))
                    let held = try await eventually { try await outcomes().filter { $0.outcome == "held" }.count >= index + 1 }
                    #expect(held)
                }
                #expect(Chat.salesbotRuns(kommo) == 0)
                let waits = try await outcomes()
                #expect(waits.allSatisfy { $0.outcome != "held" || $0.detail.hasPrefix("waiting for the lead to finish writing") }, "\(waits)")

                clock.advance(by: 6)
                let answered = try await eventually { Chat.salesbotRuns(kommo) == 1 }
                #expect(answered)
                #expect(Chat.repliesSent(kommo) == ["We deliver to Valencia every Tuesday.\n\nEvery oven has a two-year warranty."],
                        "\(Chat.repliesSent(kommo))")
                let folded = try await eventually {
                    try await outcomes().filter { $0.outcome == "skipped" && $0.detail.hasPrefix("answered together") }.count == 2
                }
                let afterFold = try await outcomes()
                #expect(folded, "\(afterFold)")

                // The lead's next message is past the day's cap of one AI reply.
                clock.advance(by: 60)
                _ = try await client.postWebhook(secret: acme.secret, body: Chat.inbound("Do you deliver to Valencia on Fridays too?", at: clock.now()))
                _ = try await eventually { try await outcomes().filter { $0.outcome == "held" }.count >= 4 }
                clock.advance(by: 6)
                let capped = try await eventually { try await outcomes().contains { $0.outcome == "skipped" && $0.detail.hasPrefix("daily cap") } }
                let afterCap = try await outcomes()
                #expect(capped, "\(afterCap)")
                #expect(Chat.salesbotRuns(kommo) == 1)
            }
        }
    }
}
