import Foundation
import NIOHTTP1
import Sequences
import TestSupport
import Testing

/// The integration settings a tenant manages through the REST API, against a Kommo emulator.
@Suite("Integrations journey", .serialized)
struct IntegrationsJourneyTests {
    @Test("test connection reads the Kommo account with the stored token; the outgoing-webhook secret rotates")
    func testConnectionAndRotation() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await FullSystem.make()
            try await system.run { client in
                let acme = try await client.createTenant(admin: system.adminToken)

                let unconnected = try await client.request(.POST, "/api/v1/integrations/kommo/test", token: acme.key)
                #expect(unconnected.status == 412, "\(unconnected.text)")
                #expect(unconnected.headers.first(name: "Content-Type")?.hasPrefix("application/problem+json") == true)
                #expect(unconnected.text.contains("not connected"))

                _ = try await client.json(.PATCH, "/api/v1/integrations", [
                    "kommo": ["base_url": "http://127.0.0.1:\(kommoPort)", "access_token": kommo.token],
                ], token: acme.key)
                let connected = try await client.request(.POST, "/api/v1/integrations/kommo/test", token: acme.key)
                #expect(connected.status == 200, "\(connected.text)")
                #expect(connected.json["ok"] as? Bool == true)
                let account = connected.json["account"] as? [String: Any]
                #expect(account?["id"] as? String == "29012345")
                #expect(account?["subdomain"] as? String == "acmesales")
                let read = try #require(kommo.received.last { $0.path == "/api/v4/account" })
                #expect(read.method == "GET")
                #expect(read.headers["authorization"] == "Bearer \(kommo.token)")

                // A token Kommo refuses is an answer that says so, not an error of ours.
                _ = try await client.json(.PATCH, "/api/v1/integrations", ["kommo": ["access_token": "revoked-token"]], token: acme.key)
                let refused = try await client.request(.POST, "/api/v1/integrations/kommo/test", token: acme.key)
                #expect(refused.status == 200, "\(refused.text)")
                #expect(refused.json["ok"] as? Bool == false)
                #expect(refused.json["status"] as? Int == 401)

                let first = try await client.request(.POST, "/api/v1/integrations/webhooks/rotate", token: acme.key)
                #expect(first.status == 200, "\(first.text)")
                let secret = first.json["secret"] as? String ?? ""
                #expect(secret.hasPrefix("whsec_"))
                let second = try await client.request(.POST, "/api/v1/integrations/webhooks/rotate", token: acme.key)
                let next = second.json["secret"] as? String ?? ""
                #expect(next.hasPrefix("whsec_") && next != secret)
                #expect((second.json["version"] as? Int ?? 0) > (first.json["version"] as? Int ?? 0))
                // The secret is never shown again.
                let integrations = try await client.request(.GET, "/api/v1/integrations", token: acme.key)
                #expect(!integrations.text.contains(next))
                #expect(kommo.violations.isEmpty, "\(kommo.violations)")
            }
        }
    }
}
