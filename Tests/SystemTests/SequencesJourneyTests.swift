import Foundation
import NIOHTTP1
import Testing

/// The whole system in process: a sequence made through the REST API enrolls a lead from a Kommo
/// webhook, runs its first step, and is commanded through the enrollment routes.
@Suite("Sequences journey", .serialized)
struct SequencesJourneyTests {
    static var sequence: [String: Any] { [
        "name": "Qualified follow-up",
        "status": "active",
        "trigger": ["type": "stage_changed", "pipeline_id": 7100001, "stage_id": 61234502],
        "steps": [["id": "hello", "delay_seconds": 0, "action": ["type": "create_task", "text": "Call {{lead.name}}", "due_in_seconds": 3600]],
                  ["id": "later", "delay_days": 2, "action": ["type": "add_note", "text": "Two days on"]]],
        "exit_conditions": [["type": "lead_replied"], ["type": "stage_changed", "to": "won"]],
    ] }

    @Test("a stage webhook enrolls the lead once; its first step runs; pause, resume and cancel work over REST")
    func stageWebhookEnrolls() async throws {
        let system = try await FullSystem.make()
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sales bot", "status": "active"], token: tenant.key)
            let agentID = agent.json["id"] as? String ?? ""

            let invalid = try await client.json(.POST, "/api/v1/agents/\(agentID)/sequences",
                                                ["name": "Empty", "steps": [] as [Any]], token: tenant.key)
            #expect(invalid.status == 400, "\(invalid.text)")
            #expect((invalid.json["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } == ["steps"])

            let created = try await client.json(.POST, "/api/v1/agents/\(agentID)/sequences", Self.sequence, token: tenant.key)
            #expect(created.status == 201, "\(created.text)")
            let sequenceID = created.json["id"] as? String ?? ""
            let enrollments = "/api/v1/agents/\(agentID)/sequences/\(sequenceID)/enrollments"

            let first = try await client.postWebhook(secret: tenant.secret, body: try Fixtures.body("lead_status_changed"))
            #expect(first.json["status"] as? String == "accepted")
            // The first step ran (skipped: no Kommo credentials) and the enrollment waits on the second.
            let advanced = try await eventually {
                let list = try await client.request(.GET, enrollments, token: tenant.key)
                let item = (list.json["items"] as? [[String: Any]])?.first
                return item?["current_step_id"] as? String == "later" && item?["steps_done"] as? Int == 1
            }
            #expect(advanced)
            let list = try await client.request(.GET, enrollments, token: tenant.key)
            let items = list.json["items"] as? [[String: Any]] ?? []
            #expect(items.count == 1)
            #expect(items.first?["lead_id"] as? Int == 4410021)
            #expect(items.first?["state"] as? String == "active")
            let enrollmentID = items.first?["id"] as? String ?? ""
            let log = try await client.request(.GET, "/api/v1/actions?lead_id=4410021", token: tenant.key)
            let keys = (log.json["items"] as? [[String: Any]] ?? []).compactMap { $0["idempotency_key"] as? String }
            #expect(keys.contains("step:\(enrollmentID):hello"))

            let paused = try await client.request(.POST, "\(enrollments)/\(enrollmentID)/pause", token: tenant.key)
            #expect(paused.status == 200, "\(paused.text)")
            #expect(paused.json["state"] as? String == "paused")
            let resumed = try await client.request(.POST, "\(enrollments)/\(enrollmentID)/resume", token: tenant.key)
            #expect(resumed.json["state"] as? String == "active")
            let cancelled = try await client.json(.POST, "\(enrollments)/\(enrollmentID)/cancel", ["reason": "talked by phone"], token: tenant.key)
            #expect(cancelled.json["state"] as? String == "exited")
            #expect(cancelled.json["reason"] as? String == "cancelled: talked by phone")

            let manual = try await client.json(.POST, enrollments, ["lead_id": 5550001], token: tenant.key)
            #expect(manual.status == 201, "\(manual.text)")
            let again = try await client.json(.POST, enrollments, ["lead_id": 5550001], token: tenant.key)
            #expect(again.status == 409, "\(again.text)")

            // Another tenant's key sees none of it.
            let other = try await client.createTenant(admin: system.adminToken, name: "globex")
            let foreign = try await client.request(.GET, enrollments, token: other.key)
            #expect(foreign.status == 404, "\(foreign.text)")
        }
    }

    @Test("Kommo ids past 2^53 and up to Int64.max come back digit for digit through the REST API")
    func largeIDsAreExact() async throws {
        let system = try await FullSystem.make()
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sales bot", "status": "active"], token: tenant.key)
            let agentID = agent.json["id"] as? String ?? ""
            // 12345678901234567 is odd past 2^53: as a Double it would read back ...568.
            var sequence = Self.sequence
            sequence["trigger"] = ["type": "stage_changed", "pipeline_id": 12_345_678_901_234_567, "stage_id": Int64.max]
            let created = try await client.json(.POST, "/api/v1/agents/\(agentID)/sequences", sequence, token: tenant.key)
            #expect(created.status == 201, "\(created.text)")
            let sequenceID = created.json["id"] as? String ?? ""
            let read = try await client.request(.GET, "/api/v1/agents/\(agentID)/sequences/\(sequenceID)", token: tenant.key)
            #expect(read.text.contains(#""pipeline_id":12345678901234567"#), "\(read.text)")
            #expect(read.text.contains(#""stage_id":9223372036854775807"#), "\(read.text)")
            #expect(!read.text.contains("e+"), "\(read.text)")

            let enrollments = "/api/v1/agents/\(agentID)/sequences/\(sequenceID)/enrollments"
            let manual = try await client.json(.POST, enrollments, ["lead_id": 9_007_199_254_740_993], token: tenant.key)
            #expect(manual.status == 201, "\(manual.text)")
            #expect(manual.text.contains(#""lead_id":9007199254740993"#), "\(manual.text)")
            let list = try await client.request(.GET, enrollments, token: tenant.key)
            #expect(list.text.contains(#""lead_id":9007199254740993"#), "\(list.text)")
        }
    }
}
