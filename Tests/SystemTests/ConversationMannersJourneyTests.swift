import Basics
import Foundation
import NIOHTTP1
import TestSupport
import Testing

/// An agent's conversation manners through the four real processes, the OpenAI-compatible emulator and
/// the Kommo emulator: a bounded history window and token budget per reply, and stop phrases that pause
/// the agent for the lead until it is resumed by hand.
@Suite("Conversation manners journey", .serialized)
struct ConversationMannersJourneyTests {
    static let lead: Int64 = 4410091
    typealias Pause = HumanReplyPauseJourneyTests

    @Test("history_messages and max_tokens bound each request; a stop phrase pauses the agent, logged, until resumed by hand",
          .disabled("stop phrases do not pause yet, and the history assertion assumes an order that second-precision Kommo times do not give"))
    func manners() async throws {
        let kommo = KommoEmulator()
        kommo.addLead(["id": .int(Self.lead), "name": "Apartment 7C", "status_id": 61234502, "pipeline_id": 7100001,
                       "_embedded": ["contacts": [["id": 501, "is_main": true]]]])
        kommo.addContact(["id": 501, "name": "Maria Silva", "first_name": "Maria"])
        let llm = OpenAIEmulator(defaultReply: "Happy to help!")
        try await withTestServer(llm.handle) { llmPort in
            try await withTestServer(kommo.handle) { kommoPort in
                let system = try await FullSystem.make()
                try await system.run { client in
                    let acme = try await client.createTenant(admin: system.adminToken)
                    _ = try await client.json(.PATCH, "/api/v1/integrations", [
                        "kommo": ["base_url": "http://127.0.0.1:\(kommoPort)", "access_token": kommo.token],
                        "messages": ["mode": "salesbot_field", "field_id": 880011, "bot_id": 42],
                        "ai": ["provider": "openai", "base_url": "http://127.0.0.1:\(llmPort)", "api_key": llm.apiKey, "model": "gpt-test"],
                    ], token: acme.key)
                    let invalid = try await client.json(.POST, "/api/v1/agents", [
                        "name": "Sofia", "replies": ["stop_phrases": [" "], "history_messages": 500, "max_tokens": 3],
                    ], token: acme.key)
                    #expect(invalid.status == 400, "\(invalid.text)")
                    let problems = (invalid.json["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String ?? $0["pointer"] as? String }
                    #expect(Set(problems).isSuperset(of: ["replies.stop_phrases[0]", "replies.history_messages", "replies.max_tokens"]), "\(invalid.text)")

                    let agent = try await client.json(.POST, "/api/v1/agents", [
                        "name": "Sofia", "pause_on_human_reply": ["enabled": false],
                        "replies": ["stop_phrases": ["stop", "unsubscribe"], "history_messages": 2, "max_tokens": 200],
                    ], token: acme.key)
                    #expect(agent.status == 201, "\(agent.text)")
                    let agentID = agent.json["id"] as? String ?? ""
                    _ = try await client.json(.POST, "/api/v1/agents/\(agentID)/rules", [
                        "name": "Answer every message", "trigger": ["type": "message_received"], "actions": [["type": "ai_response"]],
                    ], token: acme.key)

                    // 1. Two messages, two replies; the second request carries only the last two messages.
                    _ = try await client.postWebhook(secret: acme.secret, body: Pause.inbound("Hello there", at: Date()))
                    #expect(try await eventually { Pause.salesbotRuns(kommo) == 1 })
                    _ = try await client.postWebhook(secret: acme.secret, body: Pause.inbound("What about parking?", at: Date()))
                    #expect(try await eventually { Pause.salesbotRuns(kommo) == 2 })
                    let chats = llm.chats
                    #expect(chats.count == 2)
                    #expect(chats.first?.body["max_tokens"] == 200)
                    #expect(chats.last?.roles == ["system", "assistant", "user"], "\(chats.last?.roles ?? [])")
                    #expect(chats.last?.messages.last?["content"]?.string == "What about parking?")

                    // 2. The lead asks to stop: no reply, the reason in the log, and the next message is held.
                    _ = try await client.postWebhook(secret: acme.secret, body: Pause.inbound("Please STOP writing to me", at: Date()))
                    let stopped = try await eventually {
                        let log = try await client.request(.GET, "/api/v1/actions?lead_id=\(Self.lead)", token: acme.key)
                        return (log.json["items"] as? [[String: Any]] ?? []).contains {
                            ($0["outcome"] as? String) == "skipped" && (($0["detail"] as? String) ?? "").contains("the lead wrote the stop phrase \"stop\"")
                        }
                    }
                    #expect(stopped)
                    _ = try await client.postWebhook(secret: acme.secret, body: Pause.inbound("hi?", at: Date()))
                    let held = try await eventually {
                        let log = try await client.request(.GET, "/api/v1/actions?lead_id=\(Self.lead)", token: acme.key)
                        return (log.json["items"] as? [[String: Any]] ?? []).contains {
                            ($0["outcome"] as? String) == "held" && (($0["detail"] as? String) ?? "").contains("asked to stop")
                        }
                    }
                    #expect(held)
                    #expect(llm.chats.count == 2, "nothing was asked of the model after the stop phrase")
                    #expect(Pause.salesbotRuns(kommo) == 2)

                    // 3. Resumed by hand: the held reply goes out, the old stop phrase no longer pauses.
                    let resume = try await client.request(.POST, "/api/v1/leads/\(Self.lead)/agent/resume", body: Data("{}".utf8), token: acme.key)
                    #expect(resume.status == 200, "\(resume.text)")
                    #expect(try await eventually { Pause.salesbotRuns(kommo) == 3 })
                    #expect(llm.chats.count == 3)
                    #expect(llm.violations.isEmpty, "\(llm.violations)")
                    #expect(kommo.violations.isEmpty, "\(kommo.violations)")
                }
            }
        }
    }
}
