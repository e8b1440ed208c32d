import Foundation
import NIOHTTP1
import Testing

/// Sales scripts through the REST API with every service real and in process.
@Suite("Scripts journey", .serialized)
struct ScriptsJourneyTests {
    @Test("render by sample values, search, versions, rollback, stats, and another tenant's ids answer 404")
    func scripts() async throws {
        let system = try await FullSystem.make()
        try await system.run { client in
            let acme = try await client.createTenant(admin: system.adminToken, name: "acme")
            let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sofia"], token: acme.key)
            let agentID = agent.json["id"] as? String ?? ""
            let base = "/api/v1/agents/\(agentID)/scripts"
            let created = try await client.json(.POST, base, [
                "name": "Warm greeting", "type": "greeting",
                "body": "Hi {{contact.first_name|there}}! I'm {{agent.name}}, code {{promo_code}}.",
            ], token: acme.key)
            #expect(created.status == 201, "\(created.text)")
            #expect((created.json["warnings"] as? [[String: Any]])?.first?["field"] as? String == "body")
            let scriptID = created.json["id"] as? String ?? ""

            let rendered = try await client.json(.POST, "\(base)/\(scriptID)/render",
                                                 ["values": ["contact.name": "Ana Souza", "promo_code": "SPRING"]], token: acme.key)
            #expect(rendered.status == 200, "\(rendered.text)")
            #expect(rendered.json["text"] as? String == "Hi Ana! I'm Sofia, code SPRING.")
            #expect(rendered.json["blocked"] as? Bool == false)
            let blocked = try await client.json(.POST, "\(base)/\(scriptID)/render", ["values": [:]], token: acme.key)
            #expect(blocked.json["blocked"] as? Bool == true)
            #expect(blocked.json["missing"] as? [String] == ["promo_code"])
            #expect((blocked.json["reason"] as? String)?.contains("{{promo_code}}") == true)
            let badRender = try await client.json(.POST, "\(base)/\(scriptID)/render", ["lead_id": "abc", "colour": 1], token: acme.key)
            #expect(badRender.status == 400)

            let patched = try await client.json(.PATCH, "\(base)/\(scriptID)", ["body": "Hello {{contact.first_name|there}}"], token: acme.key)
            #expect(patched.json["version"] as? Int == 2)
            let versions = try await client.request(.GET, "\(base)/\(scriptID)/versions", token: acme.key)
            #expect(versions.status == 200, "\(versions.text)")
            let items = versions.json["items"] as? [[String: Any]] ?? []
            #expect(items.map { $0["version"] as? Int ?? 0 } == [2, 1])
            #expect((items.last?["script"] as? [String: Any])?["body"] as? String == "Hi {{contact.first_name|there}}! I'm {{agent.name}}, code {{promo_code}}.")

            let rolledBack = try await client.json(.POST, "\(base)/\(scriptID)/rollback", ["version": 1], token: acme.key)
            #expect(rolledBack.status == 200, "\(rolledBack.text)")
            #expect(rolledBack.json["version"] as? Int == 3)
            #expect((rolledBack.json["body"] as? String)?.hasPrefix("Hi ") == true)
            let missingVersion = try await client.json(.POST, "\(base)/\(scriptID)/rollback", ["version": 7], token: acme.key)
            #expect(missingVersion.status == 400)
            #expect(missingVersion.headers.first(name: "Content-Type")?.hasPrefix("application/problem+json") == true)
            #expect((missingVersion.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "version")

            _ = try await client.json(.POST, base, ["name": "Closing", "type": "closing", "body": "Shall we sign?"], token: acme.key)
            let search = try await client.request(.GET, "\(base)?q=greeting&type=greeting", token: acme.key)
            #expect((search.json["items"] as? [[String: Any]])?.map { $0["id"] as? String ?? "" } == [scriptID], "\(search.text)")
            let badFilter = try await client.request(.GET, "\(base)?type=smalltalk", token: acme.key)
            #expect(badFilter.status == 400)

            let stats = try await client.request(.GET, "\(base)/\(scriptID)/stats?from=2020-01-01T00:00:00Z", token: acme.key)
            #expect(stats.status == 200, "\(stats.text)")
            #expect(stats.json["uses"] as? Int == 0)
            let ranking = try await client.request(.GET, "/api/v1/agents/\(agentID)/scripts-ranking", token: acme.key)
            #expect((ranking.json["scripts"] as? [Any])?.count == 2, "\(ranking.text)")

            // Another tenant sees none of it.
            let other = try await client.createTenant(admin: system.adminToken, name: "other")
            let otherAgent = try await client.json(.POST, "/api/v1/agents", ["name": "Max"], token: other.key)
            let otherAgentID = otherAgent.json["id"] as? String ?? ""
            var statuses: [String: Int] = [:]
            statuses["render"] = try await client.json(.POST, "\(base)/\(scriptID)/render", ["values": [:]], token: other.key).status
            statuses["versions"] = try await client.request(.GET, "\(base)/\(scriptID)/versions", token: other.key).status
            statuses["rollback"] = try await client.json(.POST, "\(base)/\(scriptID)/rollback", ["version": 1], token: other.key).status
            statuses["stats"] = try await client.request(.GET, "\(base)/\(scriptID)/stats", token: other.key).status
            statuses["ranking"] = try await client.request(.GET, "/api/v1/agents/\(agentID)/scripts-ranking", token: other.key).status
            statuses["search"] = try await client.request(.GET, "\(base)?q=greeting", token: other.key).status
            // Own agent, foreign script.
            statuses["render via own agent"] = try await client.json(
                .POST, "/api/v1/agents/\(otherAgentID)/scripts/\(scriptID)/render", ["values": [:]], token: other.key).status
            for (name, status) in statuses.sorted(by: { $0.key < $1.key }) {
                #expect(status == 404, "\(name) answered \(status)")
            }
            let untouched = try await client.request(.GET, "\(base)/\(scriptID)", token: acme.key)
            #expect(untouched.json["version"] as? Int == 3)
        }
    }
}
