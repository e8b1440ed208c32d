import Foundation
import Basics
import NIOHTTP1
import TestSupport
import Testing

/// The whole system against a Kommo emulator that echoes each stage change back as Kommo's webhook: two
/// rules that undo each other stop after the cascade depth, and the user sees why and where.
@Suite("Cascade journey", .serialized)
struct CascadeJourneyTests {
    static let lead: Int64 = 4_410_021
    static let pipeline: Int64 = 7_100_001
    static let newStage: Int64 = 61_234_501
    static let qualified: Int64 = 61_234_502

    static func rule(_ name: String, into stage: Int64, moveTo target: Int64) -> [String: Any] {
        ["name": name, "trigger": ["type": "stage_changed", "pipeline_id": pipeline, "stage_id": stage],
         "actions": [["type": "change_stage", "stage_id": target]]]
    }

    /// The emulator's lead writes so far (each change of the lead, whether alone or in a batch).
    static func patches(_ kommo: KommoEmulator) -> [JSONValue] {
        kommo.leadChanges(lead)
    }

    @Test("two opposing stage rules on one lead, each write echoed by Kommo, stop after the depth: 4 PATCHes, then none; the decision names the chain")
    func opposingRulesStop() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await FullSystem.make()
            try await withServices([kommo.echo]) {
                try await system.run { client in
                    let tenant = try await client.createTenant(admin: system.adminToken)
                    let connected = try await client.json(.PATCH, "/api/v1/integrations", [
                        "kommo": ["base_url": "http://127.0.0.1:\(kommoPort)", "access_token": kommo.token],
                    ], token: tenant.key)
                    #expect(connected.status == 200, "\(connected.text)")
                    let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sales bot", "status": "active"], token: tenant.key)
                    let agentID = agent.json["id"] as? String ?? ""
                    let ruleA = try await client.json(.POST, "/api/v1/agents/\(agentID)/rules",
                                                      Self.rule("New: qualify", into: Self.newStage, moveTo: Self.qualified), token: tenant.key)
                    let ruleB = try await client.json(.POST, "/api/v1/agents/\(agentID)/rules",
                                                      Self.rule("Qualified: back to new", into: Self.qualified, moveTo: Self.newStage), token: tenant.key)
                    #expect(ruleA.status == 201 && ruleB.status == 201, "\(ruleA.text) \(ruleB.text)")
                    let a = ruleA.json["id"] as? String ?? ""
                    let b = ruleB.json["id"] as? String ?? ""

                    kommo.echo.track(KommoEcho.Lead(id: Self.lead, name: "Website order #812", pipelineID: Self.pipeline, statusID: 61_234_500))
                    kommo.echo.point(at: "\(client.base)/webhooks/kommo/\(tenant.secret)")

                    // A manager moves the lead into the first stage by hand.
                    let manual = try await client.postWebhook(secret: tenant.secret,
                                                              body: kommo.echo.managerMoves(lead: Self.lead, to: Self.newStage))
                    #expect(manual.json["status"] as? String == "accepted", "\(manual.text)")
                    let deliveries = try await client.request(.GET, "/api/v1/webhooks/deliveries", token: tenant.key)
                    let delivery = (deliveries.json["items"] as? [[String: Any]])?.first { $0["id"] as? String == manual.json["delivery_id"] as? String }
                    let managerEventID = try #require((delivery?["event_ids"] as? [String])?.first, "\(deliveries.text)")

                    // Rule A, B, A, B: four writes, each echoed; the fourth echo fires nothing.
                    let four = try await eventually(timeout: .seconds(60)) { Self.patches(kommo).count >= 4 }
                    #expect(four)
                    let stoppedEvent = try await eventually(timeout: .seconds(30)) {
                        try await Self.stoppedDecision(client, tenant.key) != nil
                    }
                    #expect(stoppedEvent)
                    try await Task.sleep(for: .seconds(3))
                    let patches = Self.patches(kommo)
                    #expect(patches.count == 4, "exactly four lead writes: \(patches)")
                    #expect(patches.map { $0["status_id"]?.int64 } == [Self.qualified, Self.newStage, Self.qualified, Self.newStage])
                    #expect(kommo.echo.sent.count == 4 && kommo.echo.sent.allSatisfy { $0.status == 200 }, "\(kommo.echo.sent.map(\.status))")
                    #expect(kommo.echo.sent.allSatisfy { $0.body.contains("modified_user_id%5D=\(KommoEcho.apiUserID)") })
                    #expect(kommo.echo.lead(Self.lead)?.statusID == Self.newStage)
                    #expect(kommo.violations.isEmpty, "\(kommo.violations)")

                    // The decision on the last echo: loop_guard, with the chain of rules by name and id.
                    let decision = try #require(try await Self.stoppedDecision(client, tenant.key))
                    let cascade = decision["cascade"] as? [String: Any] ?? [:]
                    #expect(cascade["depth"] as? Int == 4)
                    #expect(cascade["max_depth"] as? Int == 3)
                    #expect(cascade["origin_event_id"] as? String == managerEventID)
                    let steps = cascade["steps"] as? [[String: Any]] ?? []
                    #expect(steps.map { $0["rule_id"] as? String ?? "" } == [a, b, a, b])
                    #expect(steps.first?["event_id"] as? String == managerEventID)
                    let explanation = (decision["explanations"] as? [[String: Any]])?.first ?? [:]
                    #expect(explanation["rule_id"] as? String == a)
                    #expect(explanation["outcome"] as? String == "loop_guard")
                    let detail = explanation["detail"] as? String ?? ""
                    #expect(detail.contains(#""New: qualify" (\#(a)) → "Qualified: back to new" (\#(b)) → "New: qualify" (\#(a)) → "Qualified: back to new" (\#(b))"#), "\(detail)")
                    #expect((decision["actions"] as? [Any])?.isEmpty == true)

                    // The rules page's cycle: which rules, how often stopped, when last.
                    let cycles = try await client.request(.GET, "/api/v1/agents/\(agentID)/cascades", token: tenant.key)
                    #expect(cycles.status == 200, "\(cycles.text)")
                    let items = cycles.json["items"] as? [[String: Any]] ?? []
                    #expect(items.count == 1)
                    let cycle = items.first ?? [:]
                    #expect((cycle["rules"] as? [[String: Any]])?.map { $0["name"] as? String ?? "" } == ["New: qualify", "Qualified: back to new"])
                    #expect((cycle["rules"] as? [[String: Any]])?.map { $0["id"] as? String ?? "" } == [a, b])
                    #expect(cycle["stops"] as? Int == 1)
                    #expect(cycle["last_lead_id"] as? String == String(Self.lead))
                    #expect(cycle["last_stopped_at"] is String)

                    // The lead's timeline shows the stopped decision with its chain.
                    let timeline = try await client.request(.GET, "/api/v1/leads/\(Self.lead)/timeline", token: tenant.key)
                    let entries = timeline.json["items"] as? [[String: Any]] ?? []
                    let stoppedEntry = entries.first { ($0["cascade"] as? [String: Any])?["stopped"] as? Bool == true }
                    #expect((stoppedEntry?["stopped"] as? [[String: Any]])?.first?["rule_id"] as? String == a)

                    // A manager's own change starts a new chain: B fires on it, and that cycle stops too.
                    let again = try await client.postWebhook(secret: tenant.secret,
                                                             body: kommo.echo.managerMoves(lead: Self.lead, to: Self.qualified))
                    #expect(again.json["status"] as? String == "accepted", "\(again.text)")
                    let eight = try await eventually(timeout: .seconds(60)) { Self.patches(kommo).count >= 8 }
                    #expect(eight)
                    #expect(Self.patches(kommo).dropFirst(4).first?["status_id"]?.int64 == Self.newStage, "rule B moved it back first")
                    let twice = try await eventually(timeout: .seconds(30)) {
                        let answer = try await client.request(.GET, "/api/v1/agents/\(agentID)/cascades", token: tenant.key)
                        return (answer.json["items"] as? [[String: Any]])?.first?["stops"] as? Int == 2
                    }
                    #expect(twice)
                    try await Task.sleep(for: .seconds(2))
                    #expect(Self.patches(kommo).count == 8)
                }
            }
        }
    }

    /// The decision (REST shape) of a stage_changed event on which the bound stopped rules, if any yet.
    static func stoppedDecision(_ client: HTTPTestClient, _ key: String) async throws -> [String: Any]? {
        let list = try await client.request(.GET, "/api/v1/webhooks/events?type=stage_changed&limit=50", token: key)
        for item in list.json["items"] as? [[String: Any]] ?? [] {
            let detail = try await client.request(.GET, "/api/v1/webhooks/events/\(item["id"] as? String ?? "")", token: key)
            guard let decision = detail.json["decision"] as? [String: Any],
                  (decision["cascade"] as? [String: Any])?["stopped"] as? Bool == true else { continue }
            return decision
        }
        return nil
    }
}
