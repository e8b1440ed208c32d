import Foundation
import Testing
import TestSupport

/// Stores written by an earlier release (`Tests/Fixtures/stores/e21855c`: a tenant seeded through the REST
/// API, the Kommo fixtures posted to its webhook, the journey run to its end) must open, migrate forward and
/// read the same through the REST API, and the tenant must keep working.
@Suite("Forward migration", .serialized)
struct ForwardMigrationTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/stores/e21855c")
    static let apiKey = "ka_a937cf682ad7feaf69d140225177fc6b0fdb379c"

    /// A data root laid out as a deployment has it, holding copies of the fixture stores.
    static func dataRoot() throws -> String {
        let root = temporaryFolder("migration")
        let files = FileManager.default
        for service in ["ingest", "rules", "sequence", "gateway"] {
            try files.createDirectory(atPath: root + "/" + service, withIntermediateDirectories: true)
            try files.copyItem(atPath: fixture.appendingPathComponent(service + ".sqlite").path,
                               toPath: root + "/" + service + "/store.sqlite")
        }
        try files.copyItem(atPath: fixture.appendingPathComponent("keys").path, toPath: root + "/keys")
        return root
    }

    static func recorded(_ name: String) throws -> [[String: Any]] {
        let data = try Data(contentsOf: fixture.appendingPathComponent(name + ".json"))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return object?["items"] as? [[String: Any]] ?? []
    }

    @Test("an earlier release's stores read the same and the tenant keeps working")
    func earlierStoresOpen() async throws {
        let system = try await FullSystem.make(dataRoot: try Self.dataRoot())
        try await system.run { client in
            let expectedEvents = try Self.recorded("events")
            let expectedActions = try Self.recorded("actions")
            #expect(expectedEvents.count == 11 && expectedActions.count == 3)
            let key = Self.apiKey
            // Every event, with the fields a user filters and reads by.
            let events = try await client.request(.GET, "/api/v1/webhooks/events?limit=100", token: key)
            #expect(events.status == 200, "\(events.text)")
            let items = events.json["items"] as? [[String: Any]] ?? []
            let byID = Dictionary(items.map { ($0["id"] as? String ?? "", $0) }, uniquingKeysWith: { first, _ in first })
            for expected in expectedEvents {
                let id = expected["id"] as? String ?? ""
                let found = try #require(byID[id], "event \(id) is missing after the upgrade")
                for field in ["type", "entity_type", "entity_id", "lead_id", "origin", "occurred_at", "status", "delivery_id", "actions"] {
                    #expect("\(found[field] ?? "nil")" == "\(expected[field] ?? "nil")", "event \(id) \(field)")
                }
            }

            // Filters over the old rows: by type, by lead and by the text a client wrote.
            let created = try await client.request(.GET, "/api/v1/webhooks/events?type=lead_created", token: key)
            #expect((created.json["items"] as? [[String: Any]])?.count == 3, "\(created.text)")
            let lead = try await client.request(.GET, "/api/v1/webhooks/events?lead_id=4410021", token: key)
            #expect((lead.json["items"] as? [[String: Any]])?.count == 4, "\(lead.text)")
            let text = try await client.request(.GET, "/api/v1/webhooks/events?text=apartment", token: key)
            let textItems = text.json["items"] as? [[String: Any]] ?? []
            #expect(textItems.map { $0["type"] as? String } == ["message_received"], "\(text.text)")

            // The decision stored for a lead_created event still explains it and names its action.
            let decided = try #require(expectedEvents.first { $0["type"] as? String == "lead_created" })
            let detail = try await client.request(.GET, "/api/v1/webhooks/events/\(decided["id"] as? String ?? "")", token: key)
            #expect(detail.status == 200, "\(detail.text)")
            #expect(detail.text.contains("add_note") && detail.text.contains("Note new leads"), "\(detail.text)")

            // Every action recorded then is still listed with its outcome.
            let actions = try await client.request(.GET, "/api/v1/actions?limit=100", token: key)
            let listed = actions.json["items"] as? [[String: Any]] ?? []
            for expected in expectedActions {
                let match = listed.first { $0["idempotency_key"] as? String == expected["idempotency_key"] as? String }
                let found = try #require(match, "action \(expected["idempotency_key"] ?? "") is missing")
                #expect(found["outcome"] as? String == expected["outcome"] as? String)
                #expect(found["action_type"] as? String == "add_note")
                #expect("\(found["lead_id"] ?? "")" == "\(expected["lead_id"] ?? "")")
            }

            // The managed resources.
            let agents = try await client.request(.GET, "/api/v1/agents", token: key)
            let agent = try #require((agents.json["items"] as? [[String: Any]])?.first { $0["name"] as? String == "Sofia" })
            let agentID = agent["id"] as? String ?? ""
            let rules = try await client.request(.GET, "/api/v1/agents/\(agentID)/rules", token: key)
            #expect(rules.text.contains("Note new leads"), "\(rules.text)")
            let scripts = try await client.request(.GET, "/api/v1/agents/\(agentID)/scripts", token: key)
            #expect(scripts.text.contains("Hello {{lead.name|there}}!"), "\(scripts.text)")
            let sequences = try await client.request(.GET, "/api/v1/agents/\(agentID)/sequences", token: key)
            #expect(sequences.text.contains("Follow up"), "\(sequences.text)")

            // The webhook secret sealed by the earlier release still admits Kommo, and the journey runs.
            let hook = try await client.request(.GET, "/api/v1/integrations/kommo/webhook", token: key)
            let secret = String((hook.json["url"] as? String ?? "").split(separator: "/").last ?? "")
            let body = try String(contentsOf: URL(fileURLWithPath: Fixtures.folder + "/lead_added.form"), encoding: .utf8)
                .replacingOccurrences(of: "4410022", with: "4410099")
            let posted = try await client.postWebhook(secret: secret, body: Data(body.utf8))
            #expect(posted.status == 200, "\(posted.text)")
            let journeyRan = try await eventually {
                let page = try await client.request(.GET, "/api/v1/webhooks/events?lead_id=4410099", token: key)
                let found = page.json["items"] as? [[String: Any]] ?? []
                return found.contains { $0["status"] as? String == "delivered" && ($0["actions"] as? Int ?? 0) == 1 }
            }
            #expect(journeyRan, "a new webhook after the upgrade was not carried through the rules")
        }
    }
}
