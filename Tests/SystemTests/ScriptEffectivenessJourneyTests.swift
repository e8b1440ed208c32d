import Foundation
import NIOHTTP1
import Sequences
import TestSupport
import Testing

/// A script's words reach the lead through the real services, and what the lead does next is counted
/// for that script.
@Suite("Script effectiveness journey", .serialized)
struct ScriptEffectivenessJourneyTests {
    static let account = "account%5Bid%5D=29012345&account%5Bsubdomain%5D=acmesales"
    static let pipeline: Int64 = 7100001, newStage: Int64 = 61234501, qualified: Int64 = 61234502

    static func stageChange(lead: Int64, to stage: Int64, from old: Int64, at time: Date) -> Data {
        let at = Int(time.timeIntervalSince1970)
        return Data(("leads%5Bstatus%5D%5B0%5D%5Bid%5D=\(lead)&leads%5Bstatus%5D%5B0%5D%5Bstatus_id%5D=\(stage)"
            + "&leads%5Bstatus%5D%5B0%5D%5Bold_status_id%5D=\(old)&leads%5Bstatus%5D%5B0%5D%5Bpipeline_id%5D=\(pipeline)"
            + "&leads%5Bstatus%5D%5B0%5D%5Bupdated_at%5D=\(at)&" + account).utf8)
    }

    static func inboundMessage(lead: Int64, text: String, at time: Date) -> Data {
        let at = Int(time.timeIntervalSince1970)
        let encoded = text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        return Data(("message%5Badd%5D%5B0%5D%5Bid%5D=\(UUID().uuidString.lowercased())&message%5Badd%5D%5B0%5D%5Bchat_id%5D=chat-\(lead)"
            + "&message%5Badd%5D%5B0%5D%5Btalk_id%5D=90\(lead % 100)&message%5Badd%5D%5B0%5D%5Bcontact_id%5D=501"
            + "&message%5Badd%5D%5B0%5D%5Btext%5D=\(encoded)&message%5Badd%5D%5B0%5D%5Bcreated_at%5D=\(at)"
            + "&message%5Badd%5D%5B0%5D%5Bmessage_type%5D=text&message%5Badd%5D%5B0%5D%5Belement_type%5D=2"
            + "&message%5Badd%5D%5B0%5D%5Bentity_type%5D=lead&message%5Badd%5D%5B0%5D%5Belement_id%5D=\(lead)"
            + "&message%5Badd%5D%5B0%5D%5Bentity_id%5D=\(lead)&message%5Badd%5D%5B0%5D%5Btype%5D=incoming"
            + "&message%5Badd%5D%5B0%5D%5Bauthor%5D%5Btype%5D=external&message%5Badd%5D%5B0%5D%5Bauthor%5D%5Bname%5D=Maria"
            + "&message%5Badd%5D%5B0%5D%5Borigin%5D=waba&" + account).utf8)
    }

    @Test("a stage's greeting script reaches the lead with the name filled in; the reply and the win raise its rates")
    func greetingReplyAndWin() async throws {
        let kommo = KommoEmulator()
        kommo.addLead(["id": 4410077, "name": "Apartment 3B", "status_id": 61234502, "pipeline_id": 7100001,
                       "_embedded": ["contacts": [["id": 501, "is_main": true]]]])
        kommo.addContact(["id": 501, "name": "Maria Silva", "first_name": "Maria"])
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await FullSystem.make()
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
                let greeting = try await client.json(.POST, "\(base)/scripts", [
                    "name": "Qualified greeting", "type": "greeting", "stage_ids": [Self.qualified], "pipeline_id": Self.pipeline,
                    "body": "Hi {{contact.first_name|there}}! I'm {{agent.name}}; about {{lead.name}}: when can we talk?",
                ], token: acme.key)
                #expect(greeting.status == 201, "\(greeting.text)")
                let greetingID = greeting.json["id"] as? String ?? ""
                // A script for another stage, which must not be used.
                _ = try await client.json(.POST, "\(base)/scripts", [
                    "name": "New lead greeting", "type": "greeting", "stage_ids": [Self.newStage], "body": "Welcome!",
                ], token: acme.key)
                let rule = try await client.json(.POST, "\(base)/rules", [
                    "name": "Greet qualified leads",
                    "trigger": ["type": "stage_changed", "pipeline_id": Self.pipeline, "stage_id": Self.qualified],
                    "actions": [["type": "ai_response"]],
                ], token: acme.key)
                #expect(rule.status == 201, "\(rule.text)")

                let now = Date()
                let entered = try await client.postWebhook(secret: acme.secret,
                                                           body: Self.stageChange(lead: 4410077, to: Self.qualified, from: Self.newStage, at: now))
                #expect(entered.status == 200, "\(entered.text)")

                // Kommo receives the greeting in the lead's message field, and the Salesbot that sends it runs.
                let written = try await eventually { kommo.received.contains { $0.method == "POST" && $0.path == "/api/v2/salesbot/run" } }
                #expect(written, "\(kommo.received.map { "\($0.method) \($0.path)" })")
                let patch = try #require(kommo.leadChanges(4410077).first)
                #expect(patch["custom_fields_values"]?[0]?["field_id"]?.int64 == 880011)
                #expect(patch["custom_fields_values"]?[0]?["values"]?[0]?["value"]?.string
                        == "Hi Maria! I'm Sofia; about Apartment 3B: when can we talk?")
                #expect(kommo.violations.isEmpty, "\(kommo.violations)")

                let stats = "\(base)/scripts/\(greetingID)/stats?from=2020-01-01T00:00:00Z"
                let used = try await eventually {
                    try await client.request(.GET, stats, token: acme.key).json["uses"] as? Int == 1
                }
                #expect(used)
                let before = try await client.request(.GET, stats, token: acme.key).json
                #expect(before["reply_rate"] as? Double == 0)
                #expect(before["win_rate"] as? Double == 0)

                // The lead answers an hour later: the script's reply rate rises.
                let reply = try await client.postWebhook(secret: acme.secret,
                                                         body: Self.inboundMessage(lead: 4410077, text: "Tomorrow at 10 works", at: now.addingTimeInterval(3600)))
                #expect(reply.status == 200, "\(reply.text)")
                let replied = try await eventually {
                    try await client.request(.GET, stats, token: acme.key).json["reply_rate"] as? Double == 1
                }
                let afterReply = try await client.request(.GET, stats, token: acme.key).text
                #expect(replied, "\(afterReply)")

                // The lead is won two days later: the win rate rises.
                let won = try await client.postWebhook(secret: acme.secret,
                                                       body: Self.stageChange(lead: 4410077, to: 142, from: Self.qualified, at: now.addingTimeInterval(2 * 86_400)))
                #expect(won.status == 200, "\(won.text)")
                let counted = try await eventually {
                    try await client.request(.GET, stats, token: acme.key).json["win_rate"] as? Double == 1
                }
                let after = try await client.request(.GET, stats, token: acme.key).json
                #expect(counted, "\(after)")
                #expect(after["uses"] as? Int == 1)
                #expect((3_590...3_600).contains(after["median_reply_seconds"] as? Double ?? 0), "\(after)")

                let ranking = try await client.request(.GET, "\(base)/scripts-ranking?from=2020-01-01T00:00:00Z", token: acme.key)
                let first = (ranking.json["scripts"] as? [[String: Any]])?.first
                #expect(first?["script_id"] as? String == greetingID)
                #expect(first?["reply_rate"] as? Double == 1)
            }
        }
    }
}
