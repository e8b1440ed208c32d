import Foundation
import NIOHTTP1
import ServiceKit
import TestSupport
import Testing

/// An agent that pauses when a manager replies, through the four real processes and a Kommo emulator:
/// our own replies coming back as `outgoing_message[add]` do not pause it; a manager's message holds its
/// next reply, which goes out when the quiet time is over (or when resumed by hand).
@Suite("Human reply pause journey", .serialized)
struct HumanReplyPauseJourneyTests {
    static let account = "account%5Bsubdomain%5D=acmesales&account%5Bid%5D=29012345&account%5B_links%5D%5Bself%5D=https%3A%2F%2Facmesales.kommo.com"
    static let lead: Int64 = 4410091
    static let quiet = 600

    static func encoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
    }

    /// `message[add]` from the client.
    static func inbound(_ text: String, at time: Date, origin: String = "waba") -> Data {
        let prefix = "message%5Badd%5D%5B0%5D"
        let at = Int(time.timeIntervalSince1970)
        let parts = [
            "\(prefix)%5Bid%5D=\(UUID().uuidString.lowercased())", "\(prefix)%5Bchat_id%5D=chat-\(lead)",
            "\(prefix)%5Btalk_id%5D=9091", "\(prefix)%5Bcontact_id%5D=501", "\(prefix)%5Btext%5D=\(encoded(text))",
            "\(prefix)%5Bcreated_at%5D=\(at)", "\(prefix)%5Bmessage_type%5D=text", "\(prefix)%5Belement_type%5D=2",
            "\(prefix)%5Bentity_type%5D=lead", "\(prefix)%5Belement_id%5D=\(lead)", "\(prefix)%5Bentity_id%5D=\(lead)",
            "\(prefix)%5Btype%5D=incoming", "\(prefix)%5Bauthor%5D%5Btype%5D=external", "\(prefix)%5Bauthor%5D%5Bname%5D=Maria",
            "\(prefix)%5Borigin%5D=\(origin)", account,
        ]
        return Data(parts.joined(separator: "&").utf8)
    }

    /// `outgoing_message[add]` by `authorType` (`user` for a manager, `bot` for the Salesbot that sends ours).
    static func outgoing(_ text: String, at time: Date, authorType: String, authorID: String, name: String) -> Data {
        let prefix = "outgoing_message%5Badd%5D%5B0%5D"
        let at = Int(time.timeIntervalSince1970)
        let parts = [
            "\(prefix)%5Bid%5D=\(UUID().uuidString.lowercased())", "\(prefix)%5Bchat_id%5D=chat-\(lead)",
            "\(prefix)%5Btalk_id%5D=9091", "\(prefix)%5Bcontact_id%5D=501", "\(prefix)%5Btext%5D=\(encoded(text))",
            "\(prefix)%5Bcreated_at%5D=\(at)", "\(prefix)%5Bmessage_type%5D=text", "\(prefix)%5Belement_type%5D=2",
            "\(prefix)%5Bentity_type%5D=lead", "\(prefix)%5Belement_id%5D=\(lead)", "\(prefix)%5Bentity_id%5D=\(lead)",
            "\(prefix)%5Btype%5D=outgoing", "\(prefix)%5Bauthor%5D%5Bid%5D=\(authorID)", "\(prefix)%5Bauthor%5D%5Btype%5D=\(authorType)",
            "\(prefix)%5Bauthor%5D%5Bname%5D=\(encoded(name))", "\(prefix)%5Borigin%5D=waba", account,
        ]
        return Data(parts.joined(separator: "&").utf8)
    }

    /// The replies the emulator was asked to send: the text written into the lead's reply field before each
    /// Salesbot run.
    static func repliesSent(_ kommo: KommoEmulator) -> [String] {
        kommo.leadChanges(lead).compactMap { $0["custom_fields_values"]?[0]?["values"]?[0]?["value"]?.string }
    }

    static func salesbotRuns(_ kommo: KommoEmulator) -> Int {
        kommo.received.filter { $0.method == "POST" && $0.path == "/api/v2/salesbot/run" }.count
    }

    @Test("a manager's outgoing_message holds the next AI reply, shown as paused in the action log and timeline, until the quiet time is over")
    func managerReplyPausesUntilQuietTimeIsOver() async throws {
        let kommo = KommoEmulator()
        kommo.addLead(["id": .int(Self.lead), "name": "Apartment 7C", "status_id": 61234502, "pipeline_id": 7100001,
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
                let agent = try await client.json(.POST, "/api/v1/agents", [
                    "name": "Sofia", "channels": ["waba"], "language": "auto",
                    "pause_on_human_reply": ["enabled": true, "resume_after_seconds": Self.quiet],
                ], token: acme.key)
                #expect(agent.status == 201, "\(agent.text)")
                let agentID = agent.json["id"] as? String ?? ""
                let script = try await client.json(.POST, "/api/v1/agents/\(agentID)/scripts", [
                    "name": "Qualify", "type": "qualification", "body": "Thanks {{contact.first_name|there}}! What budget do you have in mind?",
                ], token: acme.key)
                #expect(script.status == 201, "\(script.text)")
                let rule = try await client.json(.POST, "/api/v1/agents/\(agentID)/rules", [
                    "name": "Answer every message", "trigger": ["type": "message_received"], "actions": [["type": "ai_response"]],
                ], token: acme.key)
                #expect(rule.status == 201, "\(rule.text)")

                // 1. The lead writes; the agent answers.
                let first = try await client.postWebhook(secret: acme.secret, body: Self.inbound("Hi, is it still available?", at: clock.now()))
                #expect(first.status == 200, "\(first.text)")
                let answered = try await eventually { Self.salesbotRuns(kommo) == 1 }
                #expect(answered, "\(kommo.received.map { "\($0.method) \($0.path)" })")
                let reply = Self.repliesSent(kommo).first ?? ""
                #expect(reply == "Thanks Maria! What budget do you have in mind?")

                // 2. Our reply comes back as Kommo's outgoing_message (sent by the Salesbot): not a human reply.
                clock.advance(by: 2)
                let echo = try await client.postWebhook(secret: acme.secret,
                                                        body: Self.outgoing(reply, at: clock.now(), authorType: "bot", authorID: "0", name: "Salesbot"))
                #expect(echo.status == 200, "\(echo.text)")
                clock.advance(by: 60)
                _ = try await client.postWebhook(secret: acme.secret, body: Self.inbound("Around 300k", at: clock.now()))
                let answeredAgain = try await eventually { Self.salesbotRuns(kommo) == 2 }
                #expect(answeredAgain, "our own echo must not pause the agent")

                // 3. A manager writes to the lead; the lead answers; the agent's reply is held.
                clock.advance(by: 60)
                let managerAt = clock.now()
                let manager = try await client.postWebhook(
                    secret: acme.secret,
                    body: Self.outgoing("Maria, I'm Ana, I'll take it from here. Can I call you?", at: managerAt,
                                        authorType: "user", authorID: "8812001", name: "Ana Torres"))
                #expect(manager.status == 200, "\(manager.text)")
                clock.advance(by: 30)
                _ = try await client.postWebhook(secret: acme.secret, body: Self.inbound("Sure, after 5pm", at: clock.now()))
                let actionsPath = "/api/v1/actions?lead_id=\(Self.lead)"
                let held = try await eventually {
                    let log = try await client.request(.GET, actionsPath, token: acme.key)
                    let items = log.json["items"] as? [[String: Any]] ?? []
                    return items.contains { ($0["outcome"] as? String) == "held" }
                }
                #expect(held)
                let log = try await client.request(.GET, actionsPath, token: acme.key)
                let heldItem = (log.json["items"] as? [[String: Any]] ?? []).first { ($0["outcome"] as? String) == "held" }
                let heldDetail = heldItem?["detail"] as? String ?? ""
                #expect(heldDetail.hasPrefix("paused (a manager replied)"), "\(heldDetail)")
                #expect(heldDetail.contains("Ana Torres"))
                let heldType = heldItem?["action_type"] as? String
                #expect(heldType == "ai_response")
                let runsWhileHeld = Self.salesbotRuns(kommo)
                #expect(runsWhileHeld == 2)

                let timeline = try await client.request(.GET, "/api/v1/leads/\(Self.lead)/timeline", token: acme.key)
                let timelineItems = timeline.json["items"] as? [[String: Any]] ?? []
                let pausedOnTimeline = timelineItems.contains {
                    ($0["kind"] as? String) == "action" && (($0["detail"] as? String) ?? "").hasPrefix("paused (a manager replied)")
                }
                #expect(pausedOnTimeline, "\(timeline.text)")
                let managerOnTimeline = timelineItems.contains { ($0["kind"] as? String) == "message" && ($0["author"] as? String) == "manager" }
                #expect(managerOnTimeline)
                // Our echoed reply is in the conversation once, not twice.
                let ourReplies = timelineItems.filter { ($0["kind"] as? String) == "message" && ($0["text"] as? String) == reply }
                #expect(ourReplies.count == 2, "two replies of ours, no echo copies")

                // 4. The quiet time passes: the held reply goes out.
                clock.advance(by: TimeInterval(Self.quiet + 1))
                let resumed = try await eventually { Self.salesbotRuns(kommo) == 3 }
                #expect(resumed, "the held reply goes out once the quiet time is over")

                // 5. The next message of the lead is answered as usual.
                clock.advance(by: 60)
                _ = try await client.postWebhook(secret: acme.secret, body: Self.inbound("Also, is parking included?", at: clock.now()))
                let normal = try await eventually { Self.salesbotRuns(kommo) == 4 }
                #expect(normal)

                // 6. A message on a channel the agent does not answer on gets no reply, with the reason.
                clock.advance(by: 60)
                _ = try await client.postWebhook(secret: acme.secret, body: Self.inbound("hello from telegram", at: clock.now(), origin: "telegram"))
                let refused = try await eventually {
                    let page = try await client.request(.GET, actionsPath, token: acme.key)
                    return (page.json["items"] as? [[String: Any]] ?? []).contains {
                        (($0["detail"] as? String) ?? "").contains("the agent answers on waba")
                    }
                }
                #expect(refused)
                let runsAfterTelegram = Self.salesbotRuns(kommo)
                #expect(runsAfterTelegram == 4)
                #expect(kommo.violations.isEmpty, "\(kommo.violations)")
            }
        }
    }

    @Test("with no quiet time, a held reply waits for a resume by hand from the lead's timeline")
    func manualResume() async throws {
        let kommo = KommoEmulator()
        kommo.addLead(["id": .int(Self.lead), "name": "Apartment 7C", "status_id": 61234502, "pipeline_id": 7100001,
                       "_embedded": ["contacts": [["id": 501, "is_main": true]]]])
        kommo.addContact(["id": 501, "name": "Maria Silva", "first_name": "Maria"])
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await FullSystem.make()
            try await system.run { client in
                let acme = try await client.createTenant(admin: system.adminToken)
                _ = try await client.json(.PATCH, "/api/v1/integrations", [
                    "kommo": ["base_url": "http://127.0.0.1:\(kommoPort)", "access_token": kommo.token],
                    "messages": ["mode": "salesbot_field", "field_id": 880011, "bot_id": 42],
                ], token: acme.key)
                let agent = try await client.json(.POST, "/api/v1/agents", [
                    "name": "Sofia", "pause_on_human_reply": ["enabled": true, "resume_after_seconds": 0],
                ], token: acme.key)
                let agentID = agent.json["id"] as? String ?? ""
                _ = try await client.json(.POST, "/api/v1/agents/\(agentID)/scripts", [
                    "name": "Qualify", "type": "qualification", "body": "Thanks {{contact.first_name|there}}! What budget do you have in mind?",
                ], token: acme.key)
                _ = try await client.json(.POST, "/api/v1/agents/\(agentID)/rules", [
                    "name": "Answer every message", "trigger": ["type": "message_received"], "actions": [["type": "ai_response"]],
                ], token: acme.key)
                let now = Date()
                _ = try await client.postWebhook(secret: acme.secret,
                                                 body: Self.outgoing("Hello Maria, Ana here.", at: now.addingTimeInterval(-30),
                                                                     authorType: "user", authorID: "8812001", name: "Ana Torres"))
                _ = try await client.postWebhook(secret: acme.secret, body: Self.inbound("Hi Ana", at: now))
                let held = try await eventually {
                    let log = try await client.request(.GET, "/api/v1/actions?lead_id=\(Self.lead)", token: acme.key)
                    return (log.json["items"] as? [[String: Any]] ?? []).contains { ($0["outcome"] as? String) == "held" }
                }
                #expect(held)
                try await Task.sleep(for: .milliseconds(300))
                let runsBefore = Self.salesbotRuns(kommo)
                #expect(runsBefore == 0)

                let resume = try await client.request(.POST, "/api/v1/leads/\(Self.lead)/agent/resume", body: Data("{}".utf8), token: acme.key)
                #expect(resume.status == 200, "\(resume.text)")
                let released = resume.json["released"] as? Int
                #expect(released == 1)
                let sent = try await eventually { Self.salesbotRuns(kommo) == 1 }
                #expect(sent)
                let again = try await client.request(.POST, "/api/v1/leads/\(Self.lead)/agent/resume", body: Data("{}".utf8), token: acme.key)
                let releasedAgain = again.json["released"] as? Int
                #expect(releasedAgain == 0)
            }
        }
    }
}
