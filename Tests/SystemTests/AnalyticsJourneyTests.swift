import Foundation
import NIOHTTP1
import ServiceKit
import TestSupport
import Testing

/// Fixture webhooks through the real four processes, with Kommo's emulator answering; then every
/// analytics endpoint must show exactly what the scenario did, counted here on its own.
@Suite("Analytics journey", .serialized)
struct AnalyticsJourneyTests {
    static let account = "account%5Bid%5D=29012345&account%5Bsubdomain%5D=acmesales"
    static let pipeline: Int64 = 7100001, newStage: Int64 = 61234501, qualified: Int64 = 61234502, proposal: Int64 = 61234503
    static let maria: Int64 = 4410077, joao: Int64 = 4410078

    static func stageChange(lead: Int64, to stage: Int64, from old: Int64, at time: Date, price: Int? = nil) -> Data {
        let at = Int(time.timeIntervalSince1970)
        let item = "leads%5Bstatus%5D%5B0%5D"
        return Data(("\(item)%5Bid%5D=\(lead)&\(item)%5Bstatus_id%5D=\(stage)&\(item)%5Bold_status_id%5D=\(old)"
            + "&\(item)%5Bpipeline_id%5D=\(pipeline)&\(item)%5Bupdated_at%5D=\(at)"
            + (price.map { "&\(item)%5Bprice%5D=\($0)" } ?? "") + "&" + account).utf8)
    }

    static func day(_ date: Date, in zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let parts = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }

    @Test("webhooks through the real services give exact figures on every analytics endpoint, for their tenant only")
    func exactFigures() async throws {
        let kommo = KommoEmulator()
        for (id, name, stage) in [(Self.maria, "Apartment 3B", Self.qualified), (Self.joao, "House 7", Self.newStage)] {
            kommo.addLead(["id": .int(id), "name": .string(name), "status_id": .int(stage), "pipeline_id": 7100001,
                           "_embedded": ["contacts": [["id": 501, "is_main": true]]]])
        }
        kommo.addContact(["id": 501, "name": "Maria Silva", "first_name": "Maria"])
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await FullSystem.make(rateLimit: 1000)
            try await system.run { client in
                let acme = try await client.createTenant(admin: system.adminToken)
                let other = try await client.createTenant(admin: system.adminToken, name: "globex")
                let integrations = try await client.json(.PATCH, "/api/v1/integrations", [
                    "kommo": ["base_url": "http://127.0.0.1:\(kommoPort)", "access_token": kommo.token],
                    "messages": ["mode": "salesbot_field", "field_id": 880011, "bot_id": 42],
                ], token: acme.key)
                #expect(integrations.status == 200, "\(integrations.text)")
                func create(_ path: String, _ body: [String: Any]) async throws -> String {
                    let answer = try await client.json(.POST, path, body, token: acme.key)
                    #expect(answer.status == 201, "\(path): \(answer.text)")
                    return answer.json["id"] as? String ?? ""
                }
                let agent = try await create("/api/v1/agents", ["name": "Sofia"])
                let base = "/api/v1/agents/\(agent)"
                let greeting = try await create("\(base)/scripts", [
                    "name": "Qualified greeting", "type": "greeting", "stage_ids": [Self.qualified], "body": "Hi {{contact.first_name|there}}!",
                ])
                let greet = try await create("\(base)/rules", [
                    "name": "Greet qualified leads", "trigger": ["type": "stage_changed", "pipeline_id": Self.pipeline, "stage_id": Self.qualified],
                    "actions": [["type": "ai_response", "script_id": greeting]],
                ])
                let never = try await create("\(base)/rules", [
                    "name": "Big budgets only", "trigger": ["type": "stage_changed", "pipeline_id": Self.pipeline, "stage_id": Self.qualified],
                    "conditions": ["all": [["type": "field_value", "field": "cf.Budget", "operator": "equals", "value": "over 9000"]]],
                    "actions": [["type": "add_note", "text": "Big one"]],
                ])
                let sequence = try await create("\(base)/sequences", [
                    "name": "New lead follow-up", "status": "active",
                    "trigger": ["type": "stage_changed", "pipeline_id": Self.pipeline, "stage_id": Self.newStage],
                    "steps": [["id": "hello", "delay_seconds": 0, "action": ["type": "add_note", "text": "Say hello"]],
                              ["id": "call", "delay_days": 1, "action": ["type": "create_task", "text": "Call", "due_in_seconds": 3600]]],
                    "exit_conditions": [["type": "lead_replied"]],
                ])

                // The scenario. Maria enters qualified (greeted by the AI reply), answers, moves on to a proposal and is won
                // two days later for 2,500; João enters the new stage (the sequence's first step runs), answers and is lost.
                let now = Date()
                let post = { (body: Data) async throws -> Void in
                    let answer = try await client.postWebhook(secret: acme.secret, body: body)
                    #expect(answer.status == 200, "\(answer.text)")
                }
                let enteredQualified = Self.stageChange(lead: Self.maria, to: Self.qualified, from: Self.newStage, at: now)
                try await post(enteredQualified)
                try await post(enteredQualified)  // Kommo's retry: a duplicate delivery, no new event
                try await post(Self.stageChange(lead: Self.joao, to: Self.newStage, from: 0, at: now))
                // Each step waits for the one before to be acted on, so the last touch of each lead is known.
                #expect(try await eventually { kommo.received.contains { $0.path == "/api/v2/salesbot/run" } })
                #expect(try await eventually { !kommo.notes(on: Self.joao).isEmpty })
                try await post(ScriptEffectivenessJourneyTests.inboundMessage(lead: Self.maria, text: "Sounds good", at: now.addingTimeInterval(3_600)))
                try await post(ScriptEffectivenessJourneyTests.inboundMessage(lead: Self.joao, text: "Not now", at: now.addingTimeInterval(3_600)))
                try await post(Self.stageChange(lead: Self.maria, to: Self.proposal, from: Self.qualified, at: now.addingTimeInterval(86_400)))
                let wonAt = now.addingTimeInterval(2 * 86_400)
                try await post(Self.stageChange(lead: Self.maria, to: 142, from: Self.proposal, at: wonAt, price: 2500))
                try await post(Self.stageChange(lead: Self.joao, to: 143, from: Self.newStage, at: wonAt))
                let unparsed = try await client.postWebhook(secret: acme.secret, body: Data("not=kommo".utf8))
                #expect(unparsed.status == 200)

                // What the scenario did, counted on its own.
                let events = 7, stageChanges = 5, messages = 2
                let zone = TimeZone(identifier: "Europe/Madrid")!
                let range = "from=\(Self.day(now.addingTimeInterval(-86_400), in: zone))&to=\(Self.day(now.addingTimeInterval(3 * 86_400), in: zone))"
                    + "&tz=Europe/Madrid"
                let overview = "/api/v1/analytics/overview?\(range)"
                let settled = try await eventually {
                    let totals = try await client.request(.GET, overview, token: acme.key).json["totals"] as? [String: Any]
                    return totals?["rules_evaluated"] as? Int == events && totals?["leads_won"] as? Int == 1
                        && totals?["leads_lost"] as? Int == 1 && totals?["inbound_messages"] as? Int == messages
                }
                let answer = try await client.request(.GET, overview, token: acme.key)
                #expect(settled, "\(answer.text)")
                let totals = answer.json["totals"] as? [String: Any] ?? [:]
                let expected: [String: Int] = [
                    "events": events, "deliveries_unparsed": 1, "deliveries_rejected": 0, "dispatch_failed": 0,
                    "rules_evaluated": events, "rule_fires": 1, "rules_not_fired": 1,
                    "actions_succeeded": 2, "actions_failed": 0, "actions_other": 0,
                    "messages_sent": 1, "ai_replies": 1, "inbound_messages": messages, "manager_messages": 0, "replies_24h": 1,
                    "enrolled": 1, "completed": 0, "exited": 1,
                    "leads_touched": 2, "leads_advanced": 1, "leads_won": 1, "leads_lost": 1, "won_value": 2500,
                ]
                for (name, value) in expected { #expect(totals[name] as? Int == value, "\(name): \(totals[name] ?? "absent")") }
                #expect(totals["reply_rate"] as? Double == 1)
                #expect(answer.json["events_by_type"] as? [String: Int] == ["stage_changed": stageChanges, "message_received": messages])
                #expect(answer.json["events_by_origin"] as? [String: Int] == ["kommo": events])
                #expect(answer.json["not_fired_by_reason"] as? [String: Int] == ["condition_false": 1])
                #expect(answer.json["actions_by_type"] as? [String: [String: Int]] == ["ai_response": ["succeeded": 1], "add_note": ["succeeded": 1]])
                let top = (answer.json["top_rules"] as? [[String: Any]])?.first
                #expect(top?["rule_id"] as? String == greet && top?["name"] as? String == "Greet qualified leads" && top?["fires"] as? Int == 1)
                // Daily buckets in Madrid: the win and its value on the day it happened, the events on the day they came.
                let days = answer.json["days"] as? [[String: Any]] ?? []
                #expect(days.count == 5)
                let byDay = Dictionary(uniqueKeysWithValues: days.map { ($0["day"] as? String ?? "", $0["figures"] as? [String: Any] ?? [:]) })
                #expect(byDay[Self.day(wonAt, in: zone)]?["won_value"] as? Int == 2500)
                #expect(byDay[Self.day(now, in: zone)]?["events"] as? Int == events)
                #expect(days.compactMap { $0["figures"] as? [String: Any] }.map { $0["won_value"] as? Int ?? 0 }.reduce(0, +) == 2500)

                // CSV: one row per day under the column names.
                let csv = try await client.request(.GET, overview, token: acme.key, headers: [("Accept", "text/csv")])
                #expect(csv.status == 200)
                #expect(csv.headers.first(name: "Content-Type")?.hasPrefix("text/csv") == true)
                let lines = csv.text.split(separator: "\r\n")
                #expect(lines.count == 6)
                #expect(lines.first?.hasPrefix("day,events,deliveries_unparsed") == true)
                #expect(lines.contains { $0.hasPrefix("\(Self.day(now, in: zone)),\(events),1,") }, "\(csv.text)")

                // By agent: what the agent's rules and sequence did; the tenant's events are not the agent's.
                let mine = try await client.request(.GET, "/api/v1/analytics/agents/\(agent)?\(range)", token: acme.key)
                let agentTotals = mine.json["totals"] as? [String: Any] ?? [:]
                #expect(mine.json["agent_id"] as? String == agent)
                #expect(agentTotals["events"] as? Int == 0 && agentTotals["rule_fires"] as? Int == 1 && agentTotals["won_value"] as? Int == 2500,
                        "\(mine.text)")

                let rules = try await client.request(.GET, "/api/v1/analytics/rules?\(range)", token: acme.key)
                let ruleRows = rules.json["rules"] as? [[String: Any]] ?? []
                #expect(ruleRows.compactMap { $0["rule_id"] as? String } == [greet, never], "\(rules.text)")
                #expect(ruleRows.first?["fired"] as? Int == 1 && ruleRows.first?["evaluated"] as? Int == 1)
                #expect(ruleRows.first?["leads_won"] as? Int == 1 && ruleRows.first?["won_value"] as? Int == 2500)
                #expect(ruleRows.last?["fired"] as? Int == 0 && ruleRows.last?["not_fired"] as? Int == 1)
                #expect((ruleRows.last?["outcomes"] as? [String: Int])?["condition_false"] == 1)
                #expect(ruleRows.last?["name"] as? String == "Big budgets only" && ruleRows.last?["agent_id"] as? String == agent)

                let sequences = try await client.request(.GET, "/api/v1/analytics/sequences?\(range)", token: acme.key)
                let sequenceRow = (sequences.json["sequences"] as? [[String: Any]])?.first
                #expect(sequenceRow?["sequence_id"] as? String == sequence && sequenceRow?["name"] as? String == "New lead follow-up")
                let figures = sequenceRow?["figures"] as? [String: Any] ?? [:]
                #expect(figures["enrolled"] as? Int == 1 && figures["exited"] as? Int == 1 && figures["completed"] as? Int == 0, "\(sequences.text)")
                #expect(figures["exits_by_reason"] as? [String: Int] == ["lead_replied": 1])

                let funnel = try await client.request(.GET, "/api/v1/analytics/sequences/\(sequence)/funnel?\(range)", token: acme.key)
                let steps = funnel.json["steps"] as? [[String: Any]] ?? []
                #expect(steps.compactMap { $0["step_id"] as? String } == ["hello", "call"], "\(funnel.text)")
                #expect(steps.compactMap { $0["reached"] as? Int } == [1, 1])
                #expect(steps.compactMap { $0["succeeded"] as? Int } == [1, 0])
                #expect(steps.first?["action_type"] as? String == "add_note")

                let outcomes = try await client.request(.GET, "/api/v1/analytics/outcomes?\(range)", token: acme.key)
                #expect(outcomes.json["leads_touched"] as? Int == 2)
                #expect(outcomes.json["totals"] as? [String: Int] == ["leads_advanced": 1, "leads_won": 1, "leads_lost": 1, "won_value": 2500])
                let seconds = outcomes.json["average_seconds_to_won"] as? Int ?? 0
                #expect((2 * 86_400 - 120...2 * 86_400).contains(seconds), "\(seconds)")
                func text(_ figures: [String: Int]) -> String { figures.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }
                let attributions = (outcomes.json["attributions"] as? [[String: Any]] ?? []).map {
                    "\($0["kind"] as? String ?? ""):\($0["id"] as? String ?? ""):\(text(($0["figures"] as? [String: Int]) ?? [:]))"
                }
                let wonFigures = text(["leads_advanced": 1, "leads_won": 1, "leads_lost": 0, "won_value": 2500])
                let lostFigures = text(["leads_advanced": 0, "leads_won": 0, "leads_lost": 1, "won_value": 0])
                #expect(Set(attributions) == [
                    "rule:\(greet):\(wonFigures)", "script:\(greeting):\(wonFigures)", "step:\(sequence).hello:\(lostFigures)",
                ], "\(outcomes.text)")

                // Another tenant sees zeros, and another tenant's ids are not its own.
                let foreign = try await client.request(.GET, overview, token: other.key)
                let foreignTotals = foreign.json["totals"] as? [String: Any] ?? [:]
                #expect(foreign.status == 200)
                #expect(foreignTotals.values.compactMap { $0 as? Int }.allSatisfy { $0 == 0 }, "\(foreign.text)")
                #expect(try await client.request(.GET, "/api/v1/analytics/rules?\(range)", token: other.key).json["rules"] as? [Any] != nil)
                #expect((try await client.request(.GET, "/api/v1/analytics/rules?\(range)", token: other.key).json["rules"] as? [Any])?.isEmpty == true)
                #expect(try await client.request(.GET, "/api/v1/analytics/sequences/\(sequence)/funnel", token: other.key).status == 404)
                #expect(try await client.request(.GET, "/api/v1/analytics/agents/\(agent)", token: other.key).status == 404)
                let otherAgent = try await client.request(.GET, "/api/v1/analytics/overview?agent_id=\(agent)", token: other.key)
                #expect(otherAgent.status == 400)
                #expect((otherAgent.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "agent_id")

                // Field-level problems for ranges.
                for (query, field) in [("from=2026-12-05&to=2026-12-01", "from"), ("from=2025-01-01&to=2026-12-01", "to"),
                                       ("from=2026-02-30", "from"), ("to=yesterday", "to"), ("tz=Mars/Olympus", "tz")] {
                    let bad = try await client.request(.GET, "/api/v1/analytics/overview?\(query)", token: acme.key)
                    #expect(bad.status == 400, "\(query): \(bad.text)")
                    #expect((bad.json["errors"] as? [[String: Any]])?.first?["field"] as? String == field, "\(query): \(bad.text)")
                }
            }
        }
    }

    @Test("time to first response, hand-offs to managers, live enrollments and ranked scripts, exactly, through the real services")
    func conversationFigures() async throws {
        typealias Pause = HumanReplyPauseJourneyTests
        let kommo = KommoEmulator()
        kommo.addLead(["id": .int(Pause.lead), "name": "Apartment 7C", "status_id": .int(Self.qualified), "pipeline_id": 7100001,
                       "_embedded": ["contacts": [["id": 501, "is_main": true]]]])
        kommo.addLead(["id": .int(Self.joao), "name": "House 7", "status_id": .int(Self.newStage), "pipeline_id": 7100001,
                       "_embedded": ["contacts": [["id": 501, "is_main": true]]]])
        kommo.addContact(["id": 501, "name": "Maria Silva", "first_name": "Maria"])
        let clock = ManualClock(Date())
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await FullSystem.make(clock: clock)
            try await system.run { client in
                let acme = try await client.createTenant(admin: system.adminToken)
                let integrations = try await client.json(.PATCH, "/api/v1/integrations", [
                    "kommo": ["base_url": "http://127.0.0.1:\(kommoPort)", "access_token": kommo.token],
                    "messages": ["mode": "salesbot_field", "field_id": 880011, "bot_id": 42],
                ], token: acme.key)
                #expect(integrations.status == 200, "\(integrations.text)")
                func create(_ path: String, _ body: [String: Any]) async throws -> String {
                    let answer = try await client.json(.POST, path, body, token: acme.key)
                    #expect(answer.status == 201, "\(path): \(answer.text)")
                    return answer.json["id"] as? String ?? ""
                }
                let agent = try await create("/api/v1/agents", [
                    "name": "Sofia", "channels": ["waba"], "language": "auto",
                    "pause_on_human_reply": ["enabled": true, "resume_after_seconds": 600],
                ])
                let base = "/api/v1/agents/\(agent)"
                let script = try await create("\(base)/scripts", [
                    "name": "Qualify", "type": "qualification", "body": "Thanks {{contact.first_name|there}}! What budget do you have in mind?",
                ])
                _ = try await create("\(base)/rules", [
                    "name": "Answer every message", "trigger": ["type": "message_received"], "actions": [["type": "ai_response", "script_id": script]],
                ])
                let sequence = try await create("\(base)/sequences", [
                    "name": "New lead follow-up", "status": "active",
                    "trigger": ["type": "stage_changed", "pipeline_id": Self.pipeline, "stage_id": Self.newStage],
                    "steps": [["id": "hello", "delay_seconds": 0, "action": ["type": "add_note", "text": "Say hello"]],
                              ["id": "call", "delay_days": 1, "action": ["type": "create_task", "text": "Call", "due_in_seconds": 3600]]],
                ])

                // João enters the new stage: enrolled, first step done, the second a day away — live at the end.
                let post = { (body: Data) async throws -> Void in
                    let answer = try await client.postWebhook(secret: acme.secret, body: body)
                    #expect(answer.status == 200, "\(answer.text)")
                }
                try await post(Self.stageChange(lead: Self.joao, to: Self.newStage, from: 0, at: clock.now()))
                #expect(try await eventually { !kommo.notes(on: Self.joao).isEmpty })
                // Maria wrote 200 s ago (Kommo's time of the message); our reply goes out now: 200 s to first response.
                try await post(Pause.inbound("Hi, is it still available?", at: clock.now().addingTimeInterval(-200)))
                #expect(try await eventually { Pause.salesbotRuns(kommo) == 1 })
                // A manager takes over (one hand-off), and writes again (still one).
                clock.advance(by: 30)
                try await post(Pause.outgoing("Maria, I'm Ana, I'll take it from here.", at: clock.now(), authorType: "user", authorID: "77", name: "Ana"))
                clock.advance(by: 30)
                try await post(Pause.outgoing("Can I call you?", at: clock.now(), authorType: "user", authorID: "77", name: "Ana"))

                let zone = TimeZone(identifier: "UTC")!
                let range = "from=\(Self.day(clock.now().addingTimeInterval(-86_400), in: zone))&to=\(Self.day(clock.now(), in: zone))"
                let overview = "/api/v1/analytics/overview?\(range)"
                let settled = try await eventually {
                    let totals = try await client.request(.GET, overview, token: acme.key).json["totals"] as? [String: Any]
                    return totals?["manager_messages"] as? Int == 2 && totals?["first_responses"] as? Int == 1
                }
                let answer = try await client.request(.GET, overview, token: acme.key)
                #expect(settled, "\(answer.text)")
                let totals = answer.json["totals"] as? [String: Any] ?? [:]
                #expect(totals["handoffs"] as? Int == 1 && totals["first_responses"] as? Int == 1 && totals["manager_messages"] as? Int == 2,
                        "\(answer.text)")
                let first = answer.json["first_response"] as? [String: Any] ?? [:]
                #expect(first["responses"] as? Int == 1 && first["median_seconds"] as? Int == 300 && first["buckets"] as? [String: Int] == ["le_300": 1],
                        "\(answer.text)")
                #expect(answer.json["live_enrollments"] as? Int == 1)
                #expect(answer.json["tenant_wide"] as? [String] == [])
                // By agent: the answer names the figures that are the tenant's, not the agent's.
                let mine = try await client.request(.GET, "/api/v1/analytics/agents/\(agent)?\(range)", token: acme.key)
                let tenantWide = mine.json["tenant_wide"] as? [String] ?? []
                #expect(tenantWide.contains("events") && tenantWide.contains("handoffs") && tenantWide.contains("first_response"), "\(mine.text)")
                #expect(mine.json["live_enrollments"] as? Int == 1)

                let sequences = try await client.request(.GET, "/api/v1/analytics/sequences?\(range)", token: acme.key)
                let row = (sequences.json["sequences"] as? [[String: Any]])?.first
                #expect(row?["sequence_id"] as? String == sequence)
                #expect((row?["figures"] as? [String: Any])?["active"] as? Int == 1, "\(sequences.text)")
                let sequencesCSV = try await client.request(.GET, "/api/v1/analytics/sequences?\(range)", token: acme.key, headers: [("Accept", "text/csv")])
                #expect(sequencesCSV.text.split(separator: "\r\n").last?.hasSuffix(",1") == true, "\(sequencesCSV.text)")

                // Scripts: the one script, used once (no reply to it yet), ranked first, per version.
                let scripts = try await client.request(.GET, "/api/v1/analytics/scripts?\(range)&agent_id=\(agent)", token: acme.key)
                #expect(scripts.status == 200, "\(scripts.text)")
                let ranked = scripts.json["scripts"] as? [[String: Any]] ?? []
                #expect(ranked.count == 1)
                #expect(ranked.first?["script_id"] as? String == script && ranked.first?["rank"] as? Int == 1 && ranked.first?["uses"] as? Int == 1
                        && ranked.first?["replies"] as? Int == 0 && ranked.first?["agent_id"] as? String == agent && ranked.first?["name"] as? String == "Qualify",
                        "\(scripts.text)")
                let versions = ranked.first?["versions"] as? [[String: Any]] ?? []
                #expect(versions.count == 1 && versions.first?["version"] as? Int == 1 && versions.first?["uses"] as? Int == 1, "\(scripts.text)")
                let all = try await client.request(.GET, "/api/v1/analytics/scripts?\(range)", token: acme.key, headers: [("Accept", "text/csv")])
                let lines = all.text.split(separator: "\r\n").map(String.init)
                #expect(lines == [
                    "rank,script_id,name,agent_id,version,uses,replies,reply_rate,advances,advance_rate,wins,win_rate,median_reply_seconds",
                    "1,\(script),Qualify,\(agent),all,1,0,0.0000,0,0.0000,0,0.0000,",
                    "1,\(script),Qualify,\(agent),1,1,0,0.0000,0,0.0000,0,0.0000,",
                ], "\(all.text)")
                let bad = try await client.request(.GET, "/api/v1/analytics/scripts?agent_id=agt_nobody", token: acme.key)
                #expect(bad.status == 400 && (bad.json["errors"] as? [[String: Any]])?.first?["field"] as? String == "agent_id", "\(bad.text)")
            }
        }
    }
}
