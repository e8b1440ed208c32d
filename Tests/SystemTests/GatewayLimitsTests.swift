import TestSupport
import Foundation
import Logging
import NIOHTTP1
import Testing

/// What API users see at the edges: bad input gets a clear problem, limits answer 429, secrets stay out of logs.
@Suite("Gateway limits and bad input", .serialized)
struct GatewayLimitsTests {
    @Test("bad input gets a clear problem document naming the field, never a 500")
    func badInput() async throws {
        let system = try await FullSystem.make()
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            func problem(_ answer: HTTPTestClient.Answer, _ status: Int, field: String? = nil, _ label: String) {
                #expect(answer.status == status, "\(label): \(answer.status) \(answer.text)")
                #expect(answer.headers.first(name: "Content-Type") == "application/problem+json", "\(label)")
                #expect(answer.json["detail"] as? String != nil, "\(label)")
                if let field {
                    let fields = (answer.json["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String }
                    #expect(fields.contains(field), "\(label): \(fields)")
                }
            }
            problem(try await client.request(.POST, "/api/v1/agents", body: Data("{\"name\": ".utf8), token: tenant.key), 400, field: "body", "malformed JSON")
            problem(try await client.json(.POST, "/api/v1/agents", ["name": 42], token: tenant.key), 400, field: "name", "wrong type")
            problem(try await client.json(.POST, "/api/v1/agents", ["name": "x", "colour": "red"], token: tenant.key), 400, field: "colour", "unknown field")
            problem(try await client.json(.POST, "/api/v1/api-keys", ["name": "k", "scope": "all"], token: tenant.key), 400, field: "scope", "unknown field of a gateway body")
            problem(try await client.request(.POST, "/api/v1/agents", body: Data(repeating: 0x20, count: 2 * 1024 * 1024), token: tenant.key), 413, "oversized body")
            problem(try await client.request(.POST, "/api/v1/agents", body: Data(#"{"name": "x"}"#.utf8), contentType: "text/plain", token: tenant.key),
                    415, "a JSON body sent as text/plain")
            problem(try await client.request(.POST, "/api/v1/api-keys", body: Data("name=x".utf8), contentType: "application/x-www-form-urlencoded",
                                             token: tenant.key), 415, "a form to a gateway route")
            let vendorJSON = try await client.request(.POST, "/api/v1/agents", body: Data(#"{"name": "Vendor"}"#.utf8),
                                                      contentType: "application/vnd.api+json; charset=utf-8", token: tenant.key)
            #expect(vendorJSON.status == 201, "a +json media type is JSON: \(vendorJSON.text)")
            problem(try await client.request(.GET, "/api/v1/webhooks/events?limit=100000", token: tenant.key), 400, field: "limit", "huge limit")
            problem(try await client.request(.GET, "/api/v1/webhooks/events?cursor=not-a-cursor", token: tenant.key), 400, field: "cursor", "invalid cursor")
            problem(try await client.request(.GET, "/api/v1/agents?cursor=%%%", token: tenant.key), 400, "invalid agents cursor")
            problem(try await client.request(.GET, "/api/v1/webhooks/events?from=yesterday", token: tenant.key), 400, field: "from", "bad time")
            problem(try await client.request(.GET, "/api/v1/agents"), 401, "missing auth")
            problem(try await client.request(.GET, "/api/v1/agents", token: "ka_0000000000000000000000000000000000000000"), 401, "wrong key")
            problem(try await client.request(.GET, "/api/v1/tenants", token: tenant.key), 401, "tenant key on an admin route")
            problem(try await client.request(.GET, "/api/v1/nothing-here", token: tenant.key), 404, "unknown route")
            // A revoked key stops working at once; a suspended tenant's keys too.
            let second = try await client.json(.POST, "/api/v1/api-keys", ["name": "second"], token: tenant.key)
            let secondKey = second.json["key"] as? String ?? ""
            #expect(try await client.request(.GET, "/api/v1/api-keys", token: secondKey).status == 200)
            _ = try await client.request(.DELETE, "/api/v1/api-keys/\(second.json["id"] as? String ?? "")", token: tenant.key)
            problem(try await client.request(.GET, "/api/v1/api-keys", token: secondKey), 401, "revoked key")
            _ = try await client.request(.POST, "/api/v1/tenants/\(tenant.id)/suspend", token: system.adminToken)
            problem(try await client.request(.GET, "/api/v1/api-keys", token: tenant.key), 401, "suspended tenant")
        }
    }

    @Test("an API key over its rate limit gets 429 with Retry-After")
    func rateLimit() async throws {
        let system = try await FullSystem.make(rateLimit: 2)
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            // 40 at once against 2/s with bursts of 4: only a machine that spread them over 18 s would
            // let them all through.
            let answers = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for _ in 0..<40 {
                    group.addTask {
                        let answer = try await client.request(.GET, "/api/v1/api-keys", token: tenant.key)
                        return (answer.status, answer.headers.first(name: "Retry-After"))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let statuses = answers.map(\.0)
            #expect(statuses.filter { $0 == 200 }.count >= 4, "the burst is allowed: \(statuses)")
            #expect(Set(statuses).isSubset(of: [200, 429]), "\(statuses)")
            let refused = answers.filter { $0.0 == 429 }
            #expect(!refused.isEmpty)
            #expect(refused.allSatisfy { $0.1.flatMap(Int.init).map { $0 >= 1 } == true })
        }
    }

    @Test("webhook secrets and API keys never appear in the logs")
    func secretsStayOutOfLogs() async throws {
        let lines = Locked<[String]>([])
        var logger = Logger(label: "gateway") { _ in CapturingLogHandler(lines: lines) }
        logger.logLevel = .trace
        let system = try await FullSystem.make(gatewayLogger: logger)
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            _ = try await client.postWebhook(secret: tenant.secret, body: try Fixtures.body("lead_added"))
            _ = try await client.postWebhook(secret: "whk_guess", body: try Fixtures.body("lead_added"))
            _ = try await client.request(.GET, "/api/v1/webhooks/events", token: tenant.key)
            _ = try await client.request(.GET, "/api/v1/webhooks/events", token: "ka_wrongwrongwrong")
            _ = try await client.request(.GET, "/api/v1/integrations/kommo/webhook", token: tenant.key)
        }
        let all = lines.value.joined(separator: "\n")
        #expect(lines.value.contains { $0.contains("http.request") }, "the access log was written")
        #expect(all.contains("/webhooks/kommo/{secret}"), "webhooks are logged by route template")
        for secret in ["whk_", "ka_", "test-admin-token"] {
            #expect(!all.contains(secret), "the log contains \(secret)")
        }
    }
}
