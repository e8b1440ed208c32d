import Basics
import Foundation
import Testing
import Wire

@Suite("sales scripts: variables, search, versions, effectiveness")
struct ScriptTests {
    static func render(_ tenant: Tenant, script: String, agent: String = "", lead: Int64 = 0,
                       values: [String: String] = [:]) async throws -> PB.RenderResponse {
        var request = PB.RenderRequest()
        request.agentId = agent
        request.scriptId = script
        request.leadId = lead
        request.values = values.sorted { $0.key < $1.key }.map { PB.KeyValue(key: $0.key, value: $0.value) }
        return try await tenant.client.renderScript(request, options: tenant.options)
    }

    static func search(_ tenant: Tenant, agent: String, text: String = "", filters: [String: String] = [:], limit: Int32 = 0,
                       cursor: String = "") async throws -> PB.DocumentPage {
        var query = Tenant.query(parent: agent, limit: limit, cursor: cursor)
        query.text = text
        query.filters = filters.sorted { $0.key < $1.key }.map { PB.KeyValue(key: $0.key, value: $0.value) }
        return try await tenant.client.listScripts(query, options: tenant.options)
    }

    static func names(_ page: PB.DocumentPage) throws -> [String] {
        try page.items.map { try object($0)["name"] as? String ?? "" }
    }

    @Test("every variable kind renders from the lead's facts, the agent and the caller's values; defaults fill gaps")
    func variables() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent(#"{"name": "Sofia"}"#)
            // The lead's facts come from the events rules-service evaluated.
            _ = try await acme.evaluate(Events.stageChanged("evt-1", at: service.clock.now()))
            let script = try await acme.createScript(#"""
                {"name": "All", "type": "greeting", "body": "{{lead.name}}|{{lead.price}}|{{lead.stage}}|{{contact.name}}|{{contact.first_name}}|{{lead.cf.550011}}|{{lead.cf.Budget}}|{{agent.name}}|{{manager.name}}|{{promo_code}}|{{nickname|there}}"}
                """#, agent: agent.id)
            let rendered = try await Self.render(acme, script: script.id, agent: agent.id, lead: Lead.id,
                                                 values: ["contact.name": "Ana Souza", "manager.name": "Carlos", "promo_code": "SPRING"])
            #expect(!rendered.blocked)
            #expect(rendered.text == "Website order #812|2500|61234502|Ana Souza|Ana|2500-5000|2500-5000|Sofia|Carlos|SPRING|there")
            #expect(rendered.version == 1)

            // Sample values alone, without a lead, win over nothing and fill every variable.
            let sample = try await Self.render(acme, script: script.id, values: [
                "lead.name": "Deal", "lead.price": "10", "lead.stage": "Qualified", "contact.name": "Bo Li", "lead.cf.550011": "x",
                "lead.cf.Budget": "y", "manager.name": "M", "promo_code": "P", "nickname": "Bobo",
            ])
            #expect(sample.text == "Deal|10|Qualified|Bo Li|Bo|x|y|Sofia|M|P|Bobo")
        }
    }

    @Test("a missing value without a default blocks the send with the reason, or renders empty when the script allows it")
    func blocking() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            let strict = try await acme.createScript(
                #"{"name": "Strict", "type": "closing", "body": "{{promo_code}} for {{contact.first_name|friend}} by {{manager.name}}"}"#, agent: agent.id)
            let blocked = try await Self.render(acme, script: strict.id, agent: agent.id)
            #expect(blocked.blocked)
            #expect(blocked.text.isEmpty)
            #expect(blocked.missing == ["promo_code", "manager.name"])
            #expect(blocked.reason.contains("{{promo_code}}") && blocked.reason.contains("{{manager.name}}"))

            let filled = try await Self.render(acme, script: strict.id, values: ["promo_code": "SPRING", "manager.name": "Carlos"])
            #expect(!filled.blocked)
            #expect(filled.text == "SPRING for friend by Carlos")

            let lenient = try await acme.createScript(
                #"{"name": "Lenient", "type": "closing", "body": "Hi{{contact.name}}, {{promo_code|no code}}", "block_on_missing": false}"#,
                agent: agent.id)
            let open = try await Self.render(acme, script: lenient.id)
            #expect(!open.blocked)
            #expect(open.text == "Hi, no code")
        }
    }

    @Test("saving warns about variables the vocabulary does not know, and only about those")
    func unknownVariableWarnings() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            let typo = try await acme.createScript(
                #"{"name": "Typo", "type": "greeting", "body": "Hi {{lead.nmae}}, {{promo_code|none}} {{lead.cf.Budget}} {{agent.name}}"}"#,
                agent: agent.id)
            #expect(typo.warnings.count == 2)
            #expect(typo.warnings.allSatisfy { $0.field == "body" })
            #expect(typo.warnings.first?.message.contains("{{lead.nmae}}") == true)
            #expect(typo.warnings.last?.message.contains("{{promo_code}}") == true)
            let clean = try await acme.client.updateScript(
                Tenant.write(#"{"body": "Hi {{lead.name}} from {{agent.name}} and {{manager.name}}"}"#, id: typo.id, parent: agent.id),
                options: acme.options)
            #expect(clean.warnings.isEmpty)

            // A declared caller variable is expected, so only the typo still warns.
            let declared = try await acme.createScript(
                #"{"name": "Promo", "type": "closing", "body": "{{lead.nmae}}: {{promo_code}}", "variables": ["promo_code"]}"#,
                agent: agent.id)
            #expect(declared.warnings.map(\.message) == ["unknown variable {{lead.nmae}}: it renders as its default, or blocks the send"])
            #expect(try object(declared)["variables"] as? [String] == ["promo_code"])
            do {
                _ = try await acme.createScript(
                    #"{"name": "Bad", "type": "closing", "body": "x", "variables": ["9lives", "lead.name", "code", "code"]}"#,
                    agent: agent.id)
                Issue.record("expected INVALID_ARGUMENT")
            } catch let error as RPCError {
                #expect(error.code == .invalidArgument)
                #expect(error.violations.map(\.field) == ["variables[0]", "variables[1]", "variables[3]"])
            }
        }
    }

    @Test("full-text search ranks a name-and-body match first; filters by type, stage and active; cursor pages")
    func search() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            let once = try await acme.createScript(
                #"{"name": "Hello", "type": "greeting", "body": "Hello! Our discount ends soon, ask me anything.", "stage_ids": [61234501]}"#,
                agent: agent.id)
            service.clock.advance(by: 1)
            let both = try await acme.createScript(
                #"{"name": "Discount offer", "type": "closing", "body": "The discount is yours today.", "stage_ids": [61234502]}"#,
                agent: agent.id)
            service.clock.advance(by: 1)
            let none = try await acme.createScript(
                #"{"name": "Qualify", "type": "qualification", "body": "What budget do you have?", "active": false}"#, agent: agent.id)

            let ranked = try await Self.search(acme, agent: agent.id, text: "discount")
            #expect(ranked.items.map(\.id) == [both.id, once.id])
            // Accents and prefixes: search as you type.
            #expect(try await Self.search(acme, agent: agent.id, text: "DISCÓ").items.map(\.id) == [both.id, once.id])
            #expect(try await Self.search(acme, agent: agent.id, text: "\"budget\" OR").items.isEmpty)

            #expect(try await Self.search(acme, agent: agent.id, filters: ["type": "closing"]).items.map(\.id) == [both.id])
            #expect(try await Self.search(acme, agent: agent.id, filters: ["active": "false"]).items.map(\.id) == [none.id])
            // A stage filter finds the scripts for that stage and those for every stage.
            #expect(try await Self.search(acme, agent: agent.id, filters: ["stage_id": "61234501"]).items.map(\.id) == [once.id, none.id])
            #expect(try await Self.search(acme, agent: agent.id, text: "discount", filters: ["type": "greeting"]).items.map(\.id) == [once.id])

            let first = try await Self.search(acme, agent: agent.id, text: "discount", limit: 1)
            #expect(first.items.map(\.id) == [both.id])
            let second = try await Self.search(acme, agent: agent.id, text: "discount", limit: 1, cursor: first.nextCursor)
            #expect(second.items.map(\.id) == [once.id])
            #expect(second.nextCursor.isEmpty)
            let plain = try await Self.search(acme, agent: agent.id, limit: 2)
            #expect(plain.items.map(\.id) == [once.id, both.id])
            #expect(try await Self.search(acme, agent: agent.id, limit: 2, cursor: plain.nextCursor).items.map(\.id) == [none.id])

            // Edits and deletes reach the index.
            _ = try await acme.client.updateScript(Tenant.write(#"{"name": "Bargain hello"}"#, id: once.id, parent: agent.id), options: acme.options)
            _ = try await acme.client.updateScript(Tenant.write(#"{"body": "Take it today."}"#, id: both.id, parent: agent.id), options: acme.options)
            #expect(try await Self.search(acme, agent: agent.id, text: "bargain").items.map(\.id) == [once.id])
            #expect(try await Self.search(acme, agent: agent.id, text: "yours").items.isEmpty)
            #expect(try await Self.search(acme, agent: agent.id, text: "today").items.map(\.id) == [both.id])
            try await acme.client.deleteScript(Tenant.ref(once.id), options: acme.options)
            #expect(try await Self.search(acme, agent: agent.id, text: "discount").items.map(\.id) == [both.id])

            let bad = await rpcError {
                try await Self.search(acme, agent: agent.id, filters: ["type": "smalltalk", "stage_id": "x", "colour": "red"])
            }
            #expect(bad?.code == .invalidArgument)
            #expect(Set(bad?.violations.map(\.field) ?? []) == ["filters.type", "filters.stage_id", "filters.colour"])
            let wrongCursor = await rpcError { try await Self.search(acme, agent: agent.id, text: "x", cursor: plain.nextCursor) }
            #expect(wrongCursor?.violations.map(\.field) == ["cursor"])

            let other = service.tenant("t_other")
            #expect(await rpcError { try await Self.search(other, agent: agent.id, text: "discount") }?.code == .notFound)
        }
    }

    @Test("every edit is a version; rollback restores an earlier one as a new version")
    func versionsAndRollback() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            let script = try await acme.createScript(#"{"name": "Hi", "type": "greeting", "body": "First"}"#, agent: agent.id)
            service.clock.advance(by: 60)
            _ = try await acme.client.updateScript(Tenant.write(#"{"body": "Second", "active": false}"#, id: script.id, parent: agent.id),
                                                   options: acme.options)
            var rollback = PB.ScriptRollback()
            rollback.agentId = agent.id
            rollback.scriptId = script.id
            rollback.version = 1
            let restored = try await acme.client.rollbackScript(rollback, options: acme.options)
            #expect(restored.version == 3)
            let json = try object(restored)
            #expect(json["body"] as? String == "First")
            #expect(json["active"] as? Bool == true)
            #expect(try object(try await acme.client.getScript(Tenant.ref(script.id), options: acme.options))["body"] as? String == "First")
            #expect(try await Self.render(acme, script: script.id).version == 3)

            let versions = try await acme.client.listScriptVersions(Tenant.ref(script.id, parent: agent.id), options: acme.options)
            #expect(versions.currentVersion == 3)
            #expect(versions.items.map(\.version) == [3, 2, 1])
            #expect(versions.items.map { $0.json.contains("Second") } == [false, true, false])

            rollback.version = 9
            #expect(await rpcError { try await acme.client.rollbackScript(rollback, options: acme.options) }?.violations.map(\.field) == ["version"])
            rollback.version = 2
            rollback.ifVersion = 1
            #expect(await rpcError { try await acme.client.rollbackScript(rollback, options: acme.options) }?.code == .failedPrecondition)

            let other = service.tenant("t_other")
            rollback.ifVersion = 0
            #expect(await rpcError { try await other.client.rollbackScript(rollback, options: other.options) }?.code == .notFound)
            #expect(await rpcError { try await other.client.listScriptVersions(Tenant.ref(script.id), options: other.options) }?.code == .notFound)
            var ranking = PB.StatsQuery()
            ranking.agentId = agent.id
            #expect(await rpcError { try await other.client.scriptRanking(ranking, options: other.options) }?.code == .notFound)
        }
    }

    @Test("effectiveness: a reply within 24 h raises the reply rate, a move to won the win and advance rates; ranking by reply rate")
    func effectiveness() async throws {
        try await RulesService.run { service in
            let acme = service.tenant("t_acme")
            let agent = try await acme.createAgent()
            let good = try await acme.createScript(#"{"name": "Good", "type": "greeting", "body": "Hi"}"#, agent: agent.id)
            let quiet = try await acme.createScript(#"{"name": "Quiet", "type": "greeting", "body": "Hello"}"#, agent: agent.id)
            let start = service.clock.now()
            _ = try await acme.evaluate(Events.stageChanged("evt-stage", at: start))

            func use(_ script: String, lead: Int64, key: String) async throws {
                var record = PB.RecordRequest()
                var use = PB.ScriptUse()
                use.scriptId = script
                use.actionKey = key
                use.leadId = lead
                record.scriptUses = [use]
                _ = try await acme.client.record(record, options: acme.options)
            }
            func stats(_ script: String) async throws -> [String: Any] {
                var query = PB.StatsQuery()
                query.id = script
                query.agentId = agent.id
                query.fromMicros = start.unixMicros - 1
                query.toMicros = start.addingTimeInterval(40 * 86_400).unixMicros
                let report = try await acme.client.scriptStats(query, options: acme.options)
                return try #require(try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any])
            }

            service.clock.advance(by: 60)
            try await use(good.id, lead: Lead.id, key: "e1:r:0")
            try await use(quiet.id, lead: 77, key: "e2:r:0")
            var report = try await stats(good.id)
            #expect(report["uses"] as? Int == 1)
            #expect(report["reply_rate"] as? Double == 0)
            #expect(report["win_rate"] as? Double == 0)

            service.clock.advance(by: 2 * 3_600)
            _ = try await acme.evaluate(Events.inbound("evt-in", lead: Lead.id, at: service.clock.now()))
            // The quiet lead answers only after the 24 h window.
            service.clock.advance(by: 25 * 3_600)
            _ = try await acme.evaluate(Events.inbound("evt-late", lead: 77, at: service.clock.now()))
            report = try await stats(good.id)
            #expect(report["reply_rate"] as? Double == 1)
            #expect(report["median_reply_seconds"] as? Double == 7_200)
            #expect(report["advance_rate"] as? Double == 0)
            #expect(try await stats(quiet.id)["reply_rate"] as? Double == 0)

            service.clock.advance(by: 86_400)
            _ = try await acme.evaluate(Events.stageChanged("evt-won", to: 142, from: Lead.stageTo, at: service.clock.now()))
            report = try await stats(good.id)
            #expect(report["win_rate"] as? Double == 1)
            #expect(report["advance_rate"] as? Double == 1)
            let versions = try #require(report["versions"] as? [[String: Any]])
            #expect(versions.first?["version"] as? Int == 1)
            #expect(versions.first?["reply_rate"] as? Double == 1)

            // A move to lost is no advance.
            try await use(quiet.id, lead: 78, key: "e3:r:0")
            _ = try await acme.evaluate(Events.stageChanged("evt-lost", lead: 78, to: 143, from: Lead.stageTo, at: service.clock.now().addingTimeInterval(1)))
            #expect(try await stats(quiet.id)["advance_rate"] as? Double == 0)

            var query = PB.StatsQuery()
            query.agentId = agent.id
            query.fromMicros = start.unixMicros - 1
            query.toMicros = start.addingTimeInterval(40 * 86_400).unixMicros
            let ranking = try await acme.client.scriptRanking(query, options: acme.options)
            let json = try #require(try JSONSerialization.jsonObject(with: Data(ranking.json.utf8)) as? [String: Any])
            let scripts = try #require(json["scripts"] as? [[String: Any]])
            #expect(scripts.map { $0["script_id"] as? String ?? "" } == [good.id, quiet.id])
            #expect(scripts.map { $0["uses"] as? Int ?? -1 } == [1, 2])
        }
    }
}
