import Foundation
import NIOHTTP1
import Testing

/// The preview of a template being edited (an action's text): rendered by the rules service with what it
/// knows of a lead, the agent's name and sample values, through the gateway with every service real.
@Suite("Template preview", .serialized)
struct TemplatePreviewTests {
    @Test("an unsaved template renders for a lead's stored facts and sample values; bad input is a field error; another tenant's agent is 404")
    func preview() async throws {
        let system = try await FullSystem.make()
        try await system.run { client in
            let acme = try await client.createTenant(admin: system.adminToken, name: "acme")
            let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sofia"], token: acme.key)
            let agentID = agent.json["id"] as? String ?? ""
            let route = "/api/v1/agents/\(agentID)/templates/render"

            let sample = try await client.json(.POST, route, [
                "template": "Hi {{contact.first_name|there}}, {{agent.name}} here about {{lead.name}}{{promo_code}}.",
                "values": ["promo_code": " (SPRING)"],
            ], token: acme.key)
            #expect(sample.status == 200, "\(sample.text)")
            #expect(sample.json["text"] as? String == "Hi there, Sofia here about  (SPRING).")
            #expect(sample.json["missing"] as? [String] == ["lead.name"])

            // The lead of the fixture becomes known to the rules service once its webhook is evaluated.
            let posted = try await client.postWebhook(secret: acme.secret, body: try Fixtures.body("lead_status_changed"))
            #expect(posted.status == 200)
            let known = try await eventually {
                let answer = try await client.json(.POST, route, ["template": "{{lead.name}} / {{lead.id}}", "lead_id": "4410021"], token: acme.key)
                return answer.json["text"] as? String == "Website order #812 / 4410021"
            }
            #expect(known, "the preview uses the lead's stored name")

            let unknownLead = try await client.json(.POST, route, ["template": "Lead {{lead.id}}", "lead_id": 99], token: acme.key)
            #expect(unknownLead.json["text"] as? String == "Lead 99")

            let broken = try await client.json(.POST, route, ["template": "Hi {{contact.name"], token: acme.key)
            #expect(broken.status == 400)
            #expect((broken.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "template")
            let empty = try await client.json(.POST, route, ["template": ""], token: acme.key)
            #expect((empty.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "template")
            let stranger = try await client.json(.POST, route, ["template": "x", "colour": "red"], token: acme.key)
            #expect(stranger.status == 400)
            let badLead = try await client.json(.POST, route, ["template": "x", "lead_id": "abc"], token: acme.key)
            #expect((badLead.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "lead_id")

            let other = try await client.createTenant(admin: system.adminToken, name: "globex")
            let foreign = try await client.json(.POST, route, ["template": "{{lead.name}}", "lead_id": 4410021], token: other.key)
            #expect(foreign.status == 404)
        }
    }
}
