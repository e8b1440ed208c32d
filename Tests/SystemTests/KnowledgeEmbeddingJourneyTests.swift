import Foundation
import NIOHTTP1
import TestSupport
import Testing

/// Hybrid knowledge search with the tenant's embeddings endpoint (the OpenAI-compatible emulator, whose
/// deterministic embedding is told that "shipping" means "delivery" and "cost" means "fee").
@Suite("Knowledge embeddings journey", .serialized)
struct KnowledgeEmbeddingJourneyTests {
    static func titles(_ search: HTTPTestClient.Answer) -> [String] {
        (search.json["items"] as? [[String: Any]] ?? []).map { $0["heading"] as? String ?? "" }
    }

    @Test("vectors stored through the egress gate; a question sharing no word with its answer is found by hybrid and not by bm25; a failing endpoint leaves bm25 with a warning")
    func hybrid() async throws {
        let llm = OpenAIEmulator(synonyms: ["shipping": "delivery", "cost": "fee"])
        try await withTestServer(llm.handle) { port in
            let system = try await FullSystem.make()
            try await system.run { client in
                let acme = try await client.createTenant(admin: system.adminToken, name: "acme")
                let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sofia"], token: acme.key)
                let base = "/api/v1/agents/\(agent.json["id"] as? String ?? "")/knowledge"
                let delivery = try await client.json(.POST, base, [
                    "title": "Parcels", "format": "markdown",
                    "content": "# Delivery\nParcels reach Valencia, Madrid and Sevilla within 48 hours; the courier fee is 5 euros.",
                ], token: acme.key)
                #expect(delivery.status == 201, "\(delivery.text)")
                #expect(delivery.json["vector_count"] as? Int == 0)
                let warranty = try await client.json(.POST, base, [
                    "title": "Ovens", "format": "markdown",
                    "content": "# Warranty\nEvery oven carries a three year warranty. Repairs after it cost 40 euros an hour.",
                ], token: acme.key)
                #expect(warranty.status == 201, "\(warranty.text)")
                #expect(llm.embeddings.isEmpty, "no endpoint, no embeddings")

                // Without an endpoint: bm25 alone, which cannot know that shipping is delivery.
                let question = "/search?q=What%20does%20shipping%20cost%3F"
                let lexical = try await client.request(.GET, base + question, token: acme.key)
                #expect(lexical.json["ranking"] as? String == "bm25", "\(lexical.text)")
                #expect(Self.titles(lexical) == ["Warranty"], "\(lexical.text)")

                let patch = try await client.json(.PATCH, "/api/v1/integrations", [
                    "embeddings": ["base_url": "http://127.0.0.1:\(port)", "api_key": llm.apiKey, "model": "embed-test"],
                ], token: acme.key)
                #expect(patch.status == 200, "\(patch.text)")
                #expect(((patch.json["embeddings"] as? [String: Any])?["api_key_set"]) as? Bool == true, "\(patch.text)")
                #expect((patch.json["embeddings"] as? [String: Any])?["api_key"] == nil)

                // Re-indexing gives the existing documents their vectors; a new document gets them at once.
                for id in [delivery.json["id"] as? String ?? "", warranty.json["id"] as? String ?? ""] {
                    let reindexed = try await client.json(.POST, "\(base)/\(id)/reindex", [:], token: acme.key)
                    #expect(reindexed.status == 200, "\(reindexed.text)")
                    #expect(reindexed.json["vector_count"] as? Int == 1, "\(reindexed.text)")
                }
                let about = try await client.json(.POST, base, ["title": "About", "content": "A family shop selling ovens since 1998."], token: acme.key)
                #expect(about.json["vector_count"] as? Int == 1, "\(about.text)")
                let fetched = try await client.request(.GET, "\(base)/\(about.json["id"] as? String ?? "")", token: acme.key)
                #expect(fetched.json["vector_count"] as? Int == 1, "stored beside the chunk: \(fetched.text)")
                #expect(llm.embeddings.allSatisfy { $0.model == "embed-test" })
                #expect(llm.embeddings.contains { $0.inputs.contains { $0.contains("courier fee is 5 euros") } })
                let calls = llm.received.filter { $0.path == "/v1/embeddings" }
                #expect(calls.count == 3)
                #expect(calls.allSatisfy { $0.headers["authorization"] == "Bearer \(llm.apiKey)" })
                #expect(llm.violations.isEmpty, "\(llm.violations)")

                // The question is embedded too, and the hybrid score finds the delivery chunk.
                let hybrid = try await client.request(.GET, base + question, token: acme.key)
                #expect(hybrid.json["ranking"] as? String == "hybrid", "\(hybrid.text)")
                #expect(Self.titles(hybrid).contains("Delivery"), "\(hybrid.text)")
                let found = (hybrid.json["items"] as? [[String: Any]] ?? []).first { $0["heading"] as? String == "Delivery" }
                #expect(found?["score"] as? Double == 0, "bm25 did not find it")
                #expect((found?["similarity"] as? Double ?? 0) > 0.2, "\(found ?? [:])")
                #expect((found?["hybrid"] as? Double ?? 0) > 0)
                #expect(llm.embeddings.last?.inputs == ["What does shipping cost?"])

                // A failing endpoint: the document is stored and found by bm25, with a warning.
                _ = try await client.json(.PATCH, "/api/v1/integrations", ["embeddings": ["api_key": "sk-wrong"]], token: acme.key)
                let stored = try await client.json(.POST, base, ["title": "Payment", "content": "We take cards and bank transfers."], token: acme.key)
                #expect(stored.status == 201, "\(stored.text)")
                #expect(stored.json["vector_count"] as? Int == 0)
                let remark = (stored.json["warnings"] as? [[String: Any]])?.first
                #expect(remark?["field"] as? String == "embeddings", "\(stored.text)")
                let warning = remark?["message"] as? String ?? ""
                #expect(warning.contains("401") && warning.contains("bm25"), "\(stored.text)")
                let bm25 = try await client.request(.GET, "\(base)/search?q=bank%20transfers", token: acme.key)
                #expect(bm25.status == 200)
                #expect(bm25.json["ranking"] as? String == "bm25", "\(bm25.text)")
                #expect((bm25.json["items"] as? [[String: Any]])?.first?["title"] as? String == "Payment", "\(bm25.text)")
                #expect((bm25.json["warnings"] as? [String])?.first?.contains("401") == true, "\(bm25.text)")
            }
        }
    }

    @Test("an AI reply's knowledge lookup embeds the lead's words: the chunk only the embedding finds goes into the prompt")
    func groundedReply() async throws {
        typealias Chat = HumanReplyPauseJourneyTests
        let kommo = KommoEmulator()
        kommo.addLead(["id": .int(Chat.lead), "name": "Oven order", "status_id": 61234502, "pipeline_id": 7100001,
                       "_embedded": ["contacts": [["id": 501, "is_main": true]]]])
        kommo.addContact(["id": 501, "name": "Maria Silva", "first_name": "Maria"])
        let llm = OpenAIEmulator(synonyms: ["shipping": "delivery", "cost": "fee"])
        try await withTestServer(llm.handle) { llmPort in
            try await withTestServer(kommo.handle) { kommoPort in
                let system = try await FullSystem.make()
                try await system.run { client in
                    let acme = try await client.createTenant(admin: system.adminToken)
                    let integrations = try await client.json(.PATCH, "/api/v1/integrations", [
                        "kommo": ["base_url": "http://127.0.0.1:\(kommoPort)", "access_token": kommo.token],
                        "messages": ["mode": "salesbot_field", "field_id": 880011, "bot_id": 42],
                        "ai": ["provider": "openai", "base_url": "http://127.0.0.1:\(llmPort)", "api_key": llm.apiKey, "model": "gpt-test"],
                        "embeddings": ["base_url": "http://127.0.0.1:\(llmPort)", "api_key": llm.apiKey, "model": "embed-test"],
                    ], token: acme.key)
                    #expect(integrations.status == 200, "\(integrations.text)")
                    let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sofia"], token: acme.key)
                    let base = "/api/v1/agents/\(agent.json["id"] as? String ?? "")"
                    let document = try await client.json(.POST, "\(base)/knowledge", [
                        "title": "Parcels", "format": "markdown",
                        "content": "# Delivery\nParcels reach Valencia, Madrid and Sevilla within 48 hours; the courier fee is 5 euros.",
                    ], token: acme.key)
                    #expect(document.json["vector_count"] as? Int == 1, "\(document.text)")
                    _ = try await client.json(.POST, "\(base)/rules", [
                        "name": "Answer every message", "trigger": ["type": "message_received"], "actions": [["type": "ai_response"]],
                    ], token: acme.key)
                    let asked = try await client.postWebhook(secret: acme.secret, body: Chat.inbound("What does shipping cost?", at: Date()))
                    #expect(asked.status == 200, "\(asked.text)")
                    let replied = try await eventually { !llm.chats.isEmpty }
                    #expect(replied)
                    #expect(llm.chats.first?.system.contains("courier fee is 5 euros") == true, "\(llm.chats.first?.system ?? "")")
                    #expect(llm.embeddings.contains { $0.model == "embed-test" && $0.inputs.contains { $0.contains("What does shipping cost?") } },
                            "\(llm.embeddings)")
                    #expect(llm.violations.isEmpty, "\(llm.violations)")
                }
            }
        }
    }
}
