import Foundation
import TestSupport
import Testing

/// The Kommo budget through the four real services: a burst of webhooks becomes a handful of batch
/// requests inside Kommo's 7 requests/s.
@Suite("Kommo budget journey", .serialized)
struct KommoBudgetJourneyTests {
    /// Kommo's `leads[add]` webhook for one new lead, in the fixture's shape.
    static func leadAdded(_ id: Int64, name: String) -> Data {
        let now = Int64(Date().timeIntervalSince1970)
        let fields: [(String, String)] = [
            ("id", String(id)), ("name", name), ("status_id", "61234501"), ("price", "0"), ("responsible_user_id", "8812001"),
            ("last_modified", String(now)), ("modified_user_id", "8812001"), ("created_user_id", "8812001"),
            ("date_create", String(now)), ("pipeline_id", "7100001"), ("account_id", "29012345"),
            ("created_at", String(now)), ("updated_at", String(now)),
        ]
        var pairs = fields.map { ("leads[add][0][\($0.0)]", $0.1) }
        pairs += [("account[subdomain]", "acmesales"), ("account[id]", "29012345"),
                  ("account[_links][self]", "https://acmesales.kommo.com")]
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let body = pairs.map { key, value in
            "\(key.addingPercentEncoding(withAllowedCharacters: allowed)!)=\(value.addingPercentEncoding(withAllowedCharacters: allowed)!)"
        }.joined(separator: "&")
        return Data(body.utf8)
    }

    @Test("40 lead-add webhooks at once: 40 tasks named after their leads in a few task requests (not 40), no lead read, never above 7/s")
    func burstOfFortyLeads() async throws {
        let kommo = KommoEmulator()
        kommo.behaviour.enforceRate(7)
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await FullSystem.make()
            try await system.run { client in
                let tenant = try await client.createTenant(admin: system.adminToken)
                let connect = try await client.json(.PATCH, "/api/v1/integrations", [
                    "kommo": ["base_url": "http://127.0.0.1:\(kommoPort)", "access_token": kommo.token],
                ], token: tenant.key)
                #expect(connect.status == 200, "\(connect.text)")
                let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sales bot", "status": "active"], token: tenant.key)
                let rule = try await client.json(.POST, "/api/v1/agents/\(agent.json["id"] as? String ?? "")/rules", [
                    "name": "New lead: call", "trigger": ["type": "lead_created"],
                    "actions": [["type": "create_task", "text": "Call {{lead.name}}", "due_in_seconds": 3600]],
                ], token: tenant.key)
                #expect(rule.status == 201, "\(rule.text)")

                let leads = (1...40).map { Int64(5_500_000 + $0) }
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for lead in leads {
                        group.addTask { try await client.postWebhook(secret: tenant.secret, body: Self.leadAdded(lead, name: "Lead \(lead)")).status }
                    }
                    for try await status in group { #expect(status == 200) }
                }
                let created = try await eventually(timeout: .seconds(60)) { kommo.tasksCreated == 40 }
                #expect(created, "\(kommo.tasksCreated) tasks")
                try await Task.sleep(for: .milliseconds(500))
                #expect(kommo.tasksCreated == 40)
                let taskRequests = kommo.requests("POST", "/api/v4/tasks")
                // Two on a quiet machine (the burst gathers into batches of up to 50); a loaded one may spread
                // the 40 dispatches over more than one collection window, so a few batches are allowed —
                // one request per task (40) is what batching replaces.
                #expect(taskRequests.count <= 5, "\(taskRequests.map { $0.json?.array?.count ?? 0 })")
                #expect(kommo.leadReads.isEmpty, "the webhooks named every lead")
                let texts = Set(taskRequests.flatMap { ($0.json?.array ?? []).compactMap { $0["text"]?.string } })
                #expect(texts == Set(leads.map { "Call Lead \($0)" }))
                #expect(kommo.rateViolations(limit: 7) == 0)
                #expect(kommo.behaviour.tooManyRequestsAnswered == 0)
                #expect(kommo.violations.isEmpty, "\(kommo.violations)")
            }
        }
    }
}
