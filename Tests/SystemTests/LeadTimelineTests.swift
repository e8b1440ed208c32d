import Foundation
import NIOHTTP1
import Testing

/// The whole system in process: one webhook's journey seen from the lead's timeline, which the gateway
/// merges from ingest-service (events, decisions) and sequence-service (enrollments, actions, messages).
@Suite("Lead timeline", .serialized)
struct LeadTimelineTests {
    @Test("a stage webhook shows up as event, decision, enrollment and actions, newest first, and pages by time")
    func timelineMergesEveryService() async throws {
        let system = try await FullSystem.make()
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sales bot", "status": "active"], token: tenant.key)
            let agentID = agent.json["id"] as? String ?? ""
            let rule = try await client.json(.POST, "/api/v1/agents/\(agentID)/rules", RulesJourneyTests.rule, token: tenant.key)
            #expect(rule.status == 201, "\(rule.text)")
            let ruleID = rule.json["id"] as? String ?? ""
            let sequence = try await client.json(.POST, "/api/v1/agents/\(agentID)/sequences", SequencesJourneyTests.sequence, token: tenant.key)
            #expect(sequence.status == 201, "\(sequence.text)")
            let sequenceID = sequence.json["id"] as? String ?? ""

            let posted = try await client.postWebhook(secret: tenant.secret, body: try Fixtures.body("lead_status_changed"))
            #expect(posted.json["status"] as? String == "accepted")
            let timeline = "/api/v1/leads/4410021/timeline"
            // Two rule actions and the sequence's first step: three attempts (skipped: no Kommo credentials).
            let complete = try await eventually {
                let page = try await client.request(.GET, timeline, token: tenant.key)
                let items = page.json["items"] as? [[String: Any]] ?? []
                return items.filter { $0["kind"] as? String == "action" }.count == 3 && items.contains { $0["kind"] as? String == "decision" }
            }
            #expect(complete)
            let page = try await client.request(.GET, timeline, token: tenant.key)
            #expect(page.status == 200, "\(page.text)")
            let items = page.json["items"] as? [[String: Any]] ?? []
            let kinds = items.compactMap { $0["kind"] as? String }
            #expect(Set(kinds) == ["event", "decision", "enrollment", "action"], "\(kinds)")
            // Newest first, and the journey's order within it: the event before its decision, the decision
            // before the actions it planned.
            let times = items.compactMap { $0["at_micros"] as? Int }
            #expect(times.count == items.count && times == times.sorted(by: >))
            #expect(kinds.last == "event")
            let event = try #require(items.first { $0["kind"] as? String == "event" })
            #expect(event["type"] as? String == "stage_changed")
            let eventID = event["event_id"] as? String ?? ""
            let decision = try #require(items.first { $0["kind"] as? String == "decision" })
            #expect(decision["event_id"] as? String == eventID)
            #expect((decision["fired"] as? [[String: Any]])?.first?["rule_id"] as? String == ruleID)
            #expect((decision["actions"] as? [[String: Any]])?.count == 2)
            let enrollment = try #require(items.first { $0["kind"] as? String == "enrollment" })
            #expect(enrollment["sequence_id"] as? String == sequenceID)
            #expect(enrollment["state"] as? String == "active")
            let actions = items.filter { $0["kind"] as? String == "action" }
            #expect(actions.allSatisfy { $0["outcome"] as? String == "skipped" })
            #expect(Set(actions.compactMap { $0["action_type"] as? String }) == ["create_task", "add_note"])
            #expect(kinds.firstIndex(of: "decision")! > kinds.lastIndex(of: "action")!)

            // One item per page walks the same items in the same order.
            var walked: [String] = []
            var cursor: String?
            repeat {
                let next = try await client.request(.GET, timeline + "?limit=1" + (cursor.map { "&cursor=\($0)" } ?? ""), token: tenant.key)
                #expect(next.status == 200, "\(next.text)")
                walked += (next.json["items"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
                cursor = next.json["next_cursor"] as? String
            } while cursor != nil && walked.count <= kinds.count
            #expect(walked == kinds)

            let bad = try await client.request(.GET, timeline + "?cursor=yesterday", token: tenant.key)
            #expect(bad.status == 400)
            let other = try await client.createTenant(admin: system.adminToken, name: "globex")
            let foreign = try await client.request(.GET, timeline, token: other.key)
            #expect((foreign.json["items"] as? [Any])?.isEmpty == true, "\(foreign.text)")
        }
    }

    @Test("usage is summed per day and kind over a period")
    func usageOverAPeriod() async throws {
        let system = try await FullSystem.make()
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            let empty = try await client.request(.GET, "/api/v1/usage", token: tenant.key)
            #expect(empty.status == 200, "\(empty.text)")
            #expect((empty.json["days"] as? [Any])?.isEmpty == true)
            let backwards = try await client.request(.GET, "/api/v1/usage?from=2026-11-26T00:00:00Z&to=2026-11-01T00:00:00Z", token: tenant.key)
            #expect(backwards.status == 400)
            let malformed = try await client.request(.GET, "/api/v1/usage?from=monday", token: tenant.key)
            #expect(malformed.status == 400)
            #expect((malformed.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "from")
        }
    }
}
