import Foundation
import NIOHTTP1
import Testing

/// The whole system in process: a rule made through the REST API fires on a Kommo webhook.
@Suite("Rules journey", .serialized)
struct RulesJourneyTests {
    static var rule: [String: Any] { [
        "name": "Qualified: call within the hour",
        "priority": 10,
        "trigger": ["type": "stage_changed", "pipeline_id": 7100001, "stage_id": 61234502],
        "conditions": ["all": [["type": "field_value", "field": "cf.Budget", "operator": "equals", "value": "2500-5000"]]],
        "actions": [["type": "create_task", "text": "Call {{lead.name}} about the budget", "due_in_seconds": 3600, "task_type": 1],
                    ["type": "add_note", "text": "Qualified by the rules"]],
    ] }

    @Test("posting lead_status_changed fires the stage rule once; posting it again fires nothing new")
    func stageRuleFires() async throws {
        let system = try await FullSystem.make()
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sales bot", "status": "active"], token: tenant.key)
            #expect(agent.status == 201, "\(agent.text)")
            let agentID = agent.json["id"] as? String ?? ""
            let rule = try await client.json(.POST, "/api/v1/agents/\(agentID)/rules", Self.rule, token: tenant.key)
            #expect(rule.status == 201, "\(rule.text)")
            #expect(rule.headers.first(name: "ETag") != nil)

            let first = try await client.postWebhook(secret: tenant.secret, body: try Fixtures.body("lead_status_changed"))
            #expect(first.json["status"] as? String == "accepted")
            let list = try await client.request(.GET, "/api/v1/webhooks/events?type=stage_changed", token: tenant.key)
            let eventID = (list.json["items"] as? [[String: Any]])?.first?["id"] as? String ?? ""
            let delivered = try await eventually {
                let detail = try await client.request(.GET, "/api/v1/webhooks/events/\(eventID)", token: tenant.key)
                return (detail.json["event"] as? [String: Any])?["status"] as? String == "delivered"
            }
            #expect(delivered)
            let detail = try await client.request(.GET, "/api/v1/webhooks/events/\(eventID)", token: tenant.key)
            let decision = detail.json["decision"] as? [String: Any] ?? [:]
            let actions = decision["actions"] as? [[String: Any]] ?? []
            #expect(actions.map { $0["type"] as? String ?? "" } == ["create_task", "add_note"])
            #expect(actions.first?["idempotency_key"] as? String == "\(eventID):\(rule.json["id"] as? String ?? ""):0")
            let explanations = decision["explanations"] as? [[String: Any]] ?? []
            #expect(explanations.first?["outcome"] as? String == "fired")
            let dispatches = detail.json["dispatches"] as? [[String: Any]] ?? []
            #expect(dispatches.map { $0["status"] as? String ?? "" } == ["delivered", "delivered", "delivered"])

            let again = try await client.postWebhook(secret: tenant.secret, body: try Fixtures.body("lead_status_changed"))
            #expect(again.json["status"] as? String == "duplicate")
            try await Task.sleep(for: .milliseconds(300))
            let after = try await client.request(.GET, "/api/v1/webhooks/events?type=stage_changed", token: tenant.key)
            #expect((after.json["items"] as? [Any])?.count == 1)

            // With no Kommo credentials the actions are carried out as "skipped", and the log says why.
            let logged = try await eventually {
                let log = try await client.request(.GET, "/api/v1/actions?lead_id=4410021", token: tenant.key)
                return (log.json["items"] as? [Any])?.count == 2
            }
            #expect(logged)
            let log = try await client.request(.GET, "/api/v1/actions?lead_id=4410021", token: tenant.key)
            #expect(log.text.contains("no Kommo credentials"))

            // A dry run explains without writing; a manual run enters ingest and follows the journey.
            let ruleID = rule.json["id"] as? String ?? ""
            let test = try await client.json(.POST, "/api/v1/agents/\(agentID)/rules/\(ruleID)/test",
                                             ["event": ["type": "stage_changed", "lead_id": "4410099", "pipeline_id": "7100001", "status_id": "61234502"]],
                                             token: tenant.key)
            #expect(test.status == 200, "\(test.text)")
            let explanation = ((test.json["results"] as? [[String: Any]])?.first?["explanations"] as? [[String: Any]])?.first
            #expect(explanation?["outcome"] as? String == "condition_false")
            let blankID = try await client.json(.POST, "/api/v1/agents/\(agentID)/rules/\(ruleID)/test", ["event_id": " "], token: tenant.key)
            #expect(blankID.status == 400)
            #expect((blankID.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "event_id")
            let run = try await client.json(.POST, "/api/v1/agents/\(agentID)/rules/\(ruleID)/run", ["lead_id": "4410021"], token: tenant.key)
            #expect(run.status == 202, "\(run.text)")
            let manual = try await eventually {
                let events = try await client.request(.GET, "/api/v1/webhooks/events?origin=manual&status=delivered", token: tenant.key)
                return (events.json["items"] as? [Any])?.count == 1
            }
            #expect(manual)
        }
    }

    @Test("another tenant's agents, rules and events answer 404 on every route")
    func isolation() async throws {
        let system = try await FullSystem.make()
        try await system.run { client in
            let owner = try await client.createTenant(admin: system.adminToken, name: "owner")
            let other = try await client.createTenant(admin: system.adminToken, name: "other")
            let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Owner's bot"], token: owner.key)
            let agentID = agent.json["id"] as? String ?? ""
            let rule = try await client.json(.POST, "/api/v1/agents/\(agentID)/rules", Self.rule, token: owner.key)
            let ruleID = rule.json["id"] as? String ?? ""
            let script = try await client.json(.POST, "/api/v1/agents/\(agentID)/scripts",
                                               ["name": "Hello", "type": "greeting", "body": "Hi {{contact.first_name|there}}!"], token: owner.key)
            let scriptID = script.json["id"] as? String ?? ""
            _ = try await client.postWebhook(secret: owner.secret, body: try Fixtures.body("lead_added"))
            let events = try await client.request(.GET, "/api/v1/webhooks/events", token: owner.key)
            let eventID = (events.json["items"] as? [[String: Any]])?.first?["id"] as? String ?? ""
            let deliveries = try await client.request(.GET, "/api/v1/webhooks/deliveries", token: owner.key)
            let deliveryID = (deliveries.json["items"] as? [[String: Any]])?.first?["id"] as? String ?? ""
            #expect(!agentID.isEmpty && !ruleID.isEmpty && !scriptID.isEmpty && !eventID.isEmpty && !deliveryID.isEmpty)

            let routes: [(HTTPMethod, String, [String: Any]?)] = [
                (.GET, "/api/v1/agents/\(agentID)", nil),
                (.PATCH, "/api/v1/agents/\(agentID)", ["name": "stolen"]),
                (.DELETE, "/api/v1/agents/\(agentID)", nil),
                (.GET, "/api/v1/agents/\(agentID)/rules", nil),
                (.POST, "/api/v1/agents/\(agentID)/rules", Self.rule),
                (.GET, "/api/v1/agents/\(agentID)/rules/\(ruleID)", nil),
                (.PATCH, "/api/v1/agents/\(agentID)/rules/\(ruleID)", ["enabled": false]),
                (.DELETE, "/api/v1/agents/\(agentID)/rules/\(ruleID)", nil),
                (.GET, "/api/v1/agents/\(agentID)/scripts", nil),
                (.GET, "/api/v1/agents/\(agentID)/scripts/\(scriptID)", nil),
                (.PATCH, "/api/v1/agents/\(agentID)/scripts/\(scriptID)", ["body": "stolen"]),
                (.DELETE, "/api/v1/agents/\(agentID)/scripts/\(scriptID)", nil),
                (.GET, "/api/v1/webhooks/events/\(eventID)", nil),
                (.POST, "/api/v1/webhooks/events/\(eventID)/replay", ["mode": "dry_run"]),
                (.POST, "/api/v1/webhooks/deliveries/\(deliveryID)/reparse", nil),
            ]
            for (method, path, body) in routes {
                let answer = body.map { _ in () } != nil
                    ? try await client.json(method, path, body!, token: other.key)
                    : try await client.request(method, path, token: other.key)
                #expect(answer.status == 404, "\(method) \(path) answered \(answer.status): \(answer.text)")
                #expect(answer.headers.first(name: "Content-Type") == "application/problem+json")
            }
            // The owner still sees everything intact.
            #expect(try await client.request(.GET, "/api/v1/agents/\(agentID)/rules/\(ruleID)", token: owner.key).status == 200)
            let listed = try await client.request(.GET, "/api/v1/agents", token: other.key)
            #expect((listed.json["items"] as? [Any])?.isEmpty == true)
        }
    }

    @Test("first run: an empty store gets a demo tenant whose rule fires on the stage-change fixture")
    func firstRunDemo() async throws {
        let system = try await FullSystem.make(firstRunDemo: true)
        try await system.run { client in
            let file = system.gatewayData + "/first-run.txt"
            #expect(try await eventually(timeout: .seconds(60)) { FileManager.default.fileExists(atPath: file) })
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let key = try #require(text.split(whereSeparator: { $0 == " " || $0 == "\n" }).first { $0.hasPrefix("ka_") }.map(String.init))
            let url = try #require(text.split(separator: "'").first { $0.contains("/webhooks/kommo/") }.map(String.init))
            let agents = try await client.request(.GET, "/api/v1/agents", token: key)
            let agentID = try #require((agents.json["items"] as? [[String: Any]])?.first?["id"] as? String)
            let scripts = try await client.request(.GET, "/api/v1/agents/\(agentID)/scripts", token: key)
            #expect((scripts.json["items"] as? [Any])?.count == 5)
            let sequences = try await client.request(.GET, "/api/v1/agents/\(agentID)/sequences", token: key)
            #expect((sequences.json["items"] as? [[String: Any]])?.map { $0["name"] as? String ?? "" } == ["New lead follow-up"], "\(sequences.text)")
            #expect(text.contains("follow-up sequence"))
            let secret = String(url.split(separator: "/").last ?? "")
            #expect(try await client.postWebhook(secret: secret, body: try Fixtures.body("lead_status_changed")).status == 200)
            let fired = try await eventually {
                let log = try await client.request(.GET, "/api/v1/actions?lead_id=4410021", token: key)
                return (log.json["items"] as? [Any])?.count == 2
            }
            #expect(fired)
        }
    }
}
