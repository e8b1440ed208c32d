import Foundation
import Testing
import Wire

/// Kommo webhooks through the real gateway and the real ingest-service, with stand-in rules and
/// sequence services that record what reaches them.
@Suite("Ingest journey", .serialized)
struct IngestJourneyTests {
    @Test("every fixture posts and yields exactly its events; the batch carries four")
    func fixtures() async throws {
        let rules = RecordingRules()
        let system = try await IngestSystem.make(rules: rules, sequences: RecordingSequences())
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            let expected: [(String, [String])] = [
                ("lead_added", ["lead_created"]),
                ("lead_status_changed", ["stage_changed"]),
                ("message_incoming_whatsapp", ["message_received"]),
                ("message_webchat_no_lead", ["message_received"]),
                ("lead_note_call_in", ["call_in"]),
                ("company_added", ["company_created"]),
                ("task_completed", ["task_completed"]),
                ("batch_add_and_status", ["lead_created", "lead_created", "stage_changed", "contact_updated"]),
            ]
            for (fixture, types) in expected {
                let answer = try await client.postWebhook(secret: tenant.secret, body: try Fixtures.body(fixture))
                #expect(answer.status == 200, "\(fixture): \(answer.text)")
                #expect(answer.json["status"] as? String == "accepted", "\(fixture)")
                let delivery = answer.json["delivery_id"] as? String ?? ""
                let deliveries = try await client.request(.GET, "/api/v1/webhooks/deliveries?limit=1", token: tenant.key)
                let first = (deliveries.json["items"] as? [[String: Any]])?.first ?? [:]
                #expect(first["id"] as? String == delivery)
                let ids = first["event_ids"] as? [String] ?? []
                var seen: [String] = []
                for id in ids {
                    let detail = try await client.request(.GET, "/api/v1/webhooks/events/\(id)", token: tenant.key)
                    #expect(detail.status == 200, "\(detail.text)")
                    seen.append((detail.json["event"] as? [String: Any])?["type"] as? String ?? "?")
                }
                #expect(seen == types, "\(fixture)")
            }
            // The stage change carries its stage fields and custom fields through to the rules.
            let delivered = try await eventually { rules.calls.value.contains { $0.type == .stageChanged && $0.leadId == 4410021 && $0.statusId == 61234502 } }
            #expect(delivered)
            let stage = rules.calls.value.first { $0.type == .stageChanged && $0.statusId == 61234502 }
            #expect(stage?.oldStatusId == 61234501)
            #expect(stage?.pipelineId == 7100001)
            #expect(stage?.customFields.first { $0.name == "Budget" }?.values == ["2500-5000"])
            let message = rules.calls.value.first { $0.type == .messageReceived && $0.leadId == 4410022 }
            #expect(message?.message?.text == "Hi! Is the 3-bedroom apartment still available? What is the price?")
            #expect(rules.calls.value.contains { $0.type == .messageReceived && $0.leadId == 0 && $0.message?.origin == "onlinechat" })
        }
    }

    @Test("posting the same body twice creates no second event and marks the delivery a duplicate")
    func duplicates() async throws {
        let rules = RecordingRules()
        let system = try await IngestSystem.make(rules: rules, sequences: RecordingSequences())
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            let body = try Fixtures.body("lead_status_changed")
            let first = try await client.postWebhook(secret: tenant.secret, body: body)
            let second = try await client.postWebhook(secret: tenant.secret, body: body)
            #expect(first.json["status"] as? String == "accepted")
            #expect(second.json["status"] as? String == "duplicate")
            let events = try await client.request(.GET, "/api/v1/webhooks/events", token: tenant.key)
            #expect((events.json["items"] as? [Any])?.count == 1)
            let deliveries = try await client.request(.GET, "/api/v1/webhooks/deliveries?status=duplicate", token: tenant.key)
            #expect((deliveries.json["items"] as? [[String: Any]])?.first?["id"] as? String == second.json["delivery_id"] as? String)
            // Once delivered, it was evaluated exactly once.
            _ = try await eventually { rules.calls.value.count >= 1 }
            try await Task.sleep(for: .milliseconds(200))
            #expect(rules.calls.value.count == 1)
        }
    }

    @Test("failing destinations are retried until they succeed, in order per lead, with every attempt in the history")
    func retriesInOrder() async throws {
        let rules = RecordingRules(failFirst: 3)
        let sequences = RecordingSequences(failFirst: 2)
        let system = try await IngestSystem.make(rules: rules, sequences: sequences)
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            // Three changes of one lead, in order, and one event of another lead.
            for (index, stage) in [61234501, 61234502, 61234503].enumerated() {
                let body = "leads[status][0][id]=5550001&leads[status][0][status_id]=\(stage)&leads[status][0][pipeline_id]=7100001&leads[status][0][updated_at]=\(1764072000 + index)&account[id]=29012345"
                let answer = try await client.postWebhook(secret: tenant.secret, body: Data(body.utf8))
                #expect(answer.status == 200)
            }
            _ = try await client.postWebhook(secret: tenant.secret, body: try Fixtures.body("lead_added"))
            let done = try await eventually(timeout: .seconds(60)) { sequences.events.value.count == 4 }
            #expect(done)
            let stages = sequences.events.value.filter { $0.leadId == 5550001 }.map(\.statusId)
            #expect(stages == [61234501, 61234502, 61234503])
            let evaluated = rules.calls.value.filter { $0.leadId == 5550001 }.map(\.statusId)
            // Retries repeat a call, but never let a later event of the lead overtake an earlier one.
            #expect(evaluated.filter { $0 != 61234501 } == evaluated.drop(while: { $0 == 61234501 }).map { $0 })
            // Every delivered event shows its attempts, failures included. The last answer from
            // sequences is recorded as delivered just after it arrives.
            let recorded = try await eventually(timeout: .seconds(60)) {
                let list = try await client.request(.GET, "/api/v1/webhooks/events?lead_id=5550001", token: tenant.key)
                return (list.json["items"] as? [[String: Any]] ?? []).allSatisfy { $0["status"] as? String == "delivered" }
            }
            #expect(recorded)
            let list = try await client.request(.GET, "/api/v1/webhooks/events?lead_id=5550001", token: tenant.key)
            let items = list.json["items"] as? [[String: Any]] ?? []
            #expect(items.count == 3)
            #expect(items.allSatisfy { $0["status"] as? String == "delivered" })
            // The five failed calls (three to rules, two to sequences) are each in some event's history,
            // whichever events they happened to be made for.
            let all = try await client.request(.GET, "/api/v1/webhooks/events", token: tenant.key)
            var failed: [String: Int] = [:]
            for item in all.json["items"] as? [[String: Any]] ?? [] {
                let detail = try await client.request(.GET, "/api/v1/webhooks/events/\(item["id"] as? String ?? "")", token: tenant.key)
                let attempts = detail.json["attempts"] as? [[String: Any]] ?? []
                #expect(attempts.contains { $0["destination"] as? String == "rules.evaluate" && $0["status"] as? String == "OK" })
                for attempt in attempts where attempt["status"] as? String == "INTERNAL" {
                    failed[attempt["destination"] as? String ?? "", default: 0] += 1
                }
            }
            #expect(failed["rules.evaluate"] == 3, "\(failed)")
            #expect(failed.filter { $0.key.hasPrefix("sequences.") }.values.reduce(0, +) == 2, "\(failed)")
            let oldest = items.last?["id"] as? String ?? ""
            let detail = try await client.request(.GET, "/api/v1/webhooks/events/\(oldest)", token: tenant.key)
            let decision = detail.json["decision"] as? [String: Any]
            #expect((decision?["actions"] as? [Any])?.count == 1)
            #expect(sequences.scheduled.value.count == 3)
        }
    }

    @Test("bad input: wrong secret, huge body, wrong content type, another account, garbage, hostile keys")
    func badInput() async throws {
        let system = try await IngestSystem.make(rules: RecordingRules(), sequences: RecordingSequences())
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            let body = try Fixtures.body("lead_added")
            #expect(try await client.postWebhook(secret: "whk_nope", body: body).status == 404)
            #expect(try await client.postWebhook(secret: tenant.secret, body: Data(repeating: 0x61, count: 1024 * 1024 + 1)).status == 413)
            let json = try await client.postWebhook(secret: tenant.secret, body: Data("{}".utf8), contentType: "application/json")
            #expect(json.status == 415)
            #expect(json.headers.first(name: "Content-Type") == "application/problem+json")
            // The first accepted webhook ties the source to account 29012345.
            #expect(try await client.postWebhook(secret: tenant.secret, body: body).status == 200)
            let foreign = String(decoding: body, as: UTF8.self).replacingOccurrences(of: "29012345", with: "31000001")
            #expect(try await client.postWebhook(secret: tenant.secret, body: Data(foreign.utf8)).status == 403)
            let rejected = try await client.request(.GET, "/api/v1/webhooks/deliveries?status=rejected", token: tenant.key)
            #expect((rejected.json["items"] as? [Any])?.count == 1)
            // Garbage that authenticates is kept as unparsed, answered 200, and can be re-parsed.
            let garbage = try await client.postWebhook(secret: tenant.secret, body: Data("%%%garbage-not-kommo".utf8))
            #expect(garbage.status == 200)
            #expect(garbage.json["status"] as? String == "unparsed")
            let unparsed = try await client.request(.GET, "/api/v1/webhooks/deliveries?status=unparsed", token: tenant.key)
            let stored = (unparsed.json["items"] as? [[String: Any]])?.first
            #expect(stored?["reason"] as? String != nil)
            let reparse = try await client.request(.POST, "/api/v1/webhooks/deliveries/\(stored?["id"] as? String ?? "")/reparse", token: tenant.key)
            #expect(reparse.status == 409 || reparse.status == 412)
            // Hostile bracket keys are bounded: stored as unparsed, never a crash.
            let deep = "leads" + String(repeating: "[a]", count: 200) + "=1"
            let hostile = try await client.postWebhook(secret: tenant.secret, body: Data(deep.utf8))
            #expect(hostile.status == 200)
            #expect(hostile.json["status"] as? String == "unparsed")
            let long = String(repeating: "k", count: 100_000) + "=1"
            #expect(try await client.postWebhook(secret: tenant.secret, body: Data(long.utf8)).json["status"] as? String == "unparsed")
            // Still serving.
            #expect(try await client.postWebhook(secret: tenant.secret, body: try Fixtures.body("task_completed")).status == 200)
        }
    }

    @Test("a rotated secret works at once and the old one only during its grace period")
    func rotation() async throws {
        let system = try await IngestSystem.make(rules: RecordingRules(), sequences: RecordingSequences())
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            let rotated = try await client.json(.POST, "/api/v1/integrations/kommo/webhook/rotate", ["grace_seconds": 0], token: tenant.key)
            #expect(rotated.status == 200)
            let url = rotated.json["url"] as? String ?? ""
            #expect(url.hasPrefix("http://kommo-agents.test/webhooks/kommo/whk_"))
            let newSecret = String(url.split(separator: "/").last ?? "")
            #expect(newSecret != tenant.secret)
            let body = try Fixtures.body("lead_added")
            #expect(try await client.postWebhook(secret: newSecret, body: body).status == 200)
            #expect(try await client.postWebhook(secret: tenant.secret, body: body).status == 404)
            let graced = try await client.json(.POST, "/api/v1/integrations/kommo/webhook/rotate", ["grace_seconds": 3600], token: tenant.key)
            let newest = String((graced.json["url"] as? String ?? "").split(separator: "/").last ?? "")
            #expect(try await client.postWebhook(secret: newSecret, body: try Fixtures.body("task_completed")).status == 200)
            #expect(try await client.postWebhook(secret: newest, body: try Fixtures.body("company_added")).status == 200)
        }
    }

    @Test("replay: dry run decides without writing; live starts a new journey with a fresh scope")
    func replay() async throws {
        let rules = RecordingRules()
        let system = try await IngestSystem.make(rules: rules, sequences: RecordingSequences())
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            let posted = try await client.postWebhook(secret: tenant.secret, body: try Fixtures.body("lead_status_changed"))
            #expect(posted.status == 200)
            _ = try await eventually { rules.calls.value.count == 1 }
            let list = try await client.request(.GET, "/api/v1/webhooks/events", token: tenant.key)
            let id = (list.json["items"] as? [[String: Any]])?.first?["id"] as? String ?? ""
            let dry = try await client.json(.POST, "/api/v1/webhooks/events/\(id)/replay", ["mode": "dry_run"], token: tenant.key)
            #expect(dry.status == 200)
            #expect(((dry.json["decisions"] as? [[String: Any]])?.first?["actions"] as? [Any])?.count == 1)
            let afterDry = try await client.request(.GET, "/api/v1/webhooks/events", token: tenant.key)
            #expect((afterDry.json["items"] as? [Any])?.count == 1)
            let live = try await client.json(.POST, "/api/v1/webhooks/events/\(id)/replay", ["mode": "live"], token: tenant.key)
            #expect(live.status == 202)
            let newID = (live.json["new_event_ids"] as? [String])?.first ?? ""
            #expect(!newID.isEmpty && newID != id)
            let replayed = try await eventually { rules.calls.value.contains { $0.id == newID && $0.origin == .replay && !$0.replayScope.isEmpty } }
            #expect(replayed)
            let bad = try await client.json(.POST, "/api/v1/webhooks/events/\(id)/replay", ["mode": "sometimes"], token: tenant.key)
            #expect(bad.status == 400)
            let preview = try await client.json(.POST, "/api/v1/webhooks/replay", ["mode": "live", "filter": ["type": "stage_changed"]], token: tenant.key)
            #expect(preview.json["matched"] as? Int == 2)
            #expect((preview.json["new_event_ids"] as? [Any])?.isEmpty == true)
        }
    }
}
