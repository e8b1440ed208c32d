import Foundation
import TestSupport
import Testing

/// Base URLs a tenant sets through the REST API, checked when they are written.
@Suite("Egress journey", .serialized)
struct EgressJourneyTests {
    @Test("PATCH /api/v1/integrations refuses Kommo and Chats API base URLs off Kommo's domains with a field error")
    func baseURLsOffKommoAreRefused() async throws {
        let system = try await FullSystem.make()
        try await system.run { client in
            let acme = try await client.createTenant(admin: system.adminToken)
            let cases: [([String: Any], String)] = [
                (["kommo": ["base_url": "http://evil.example"]], "kommo.base_url"),
                (["kommo": ["base_url": "https://evil.example"]], "kommo.base_url"),
                (["kommo": ["base_url": "https://169.254.169.254"]], "kommo.base_url"),
                (["messages": ["chats_api": ["base_url": "https://evil.example"]]], "messages.chats_api.base_url"),
                (["ai": ["base_url": "http://evil.example"]], "ai.base_url"),
            ]
            for (patch, field) in cases {
                let answer = try await client.json(.PATCH, "/api/v1/integrations", patch, token: acme.key)
                #expect(answer.status == 400, "\(patch): \(answer.text)")
                let fields = (answer.json["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String }
                #expect(fields == [field], "\(patch): \(answer.text)")
            }
            let accepted = try await client.json(.PATCH, "/api/v1/integrations", ["kommo": ["base_url": "https://sub.kommo.com"]], token: acme.key)
            #expect(accepted.status == 200, "\(accepted.text)")
        }
    }
}
