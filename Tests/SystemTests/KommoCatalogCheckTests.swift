import Foundation
import Gateway
import Sequences
import ServiceKit
import TestSupport
import Testing

/// Rules, sequences, agents and scripts name pipelines, stages, users, task types and custom fields by
/// Kommo id. With an account connected, the gateway checks them against the account's catalog: warned
/// at the field (saved) or refused (422), per `KOMMO_UNKNOWN_IDS`.
@Suite("Kommo catalog id checks", .serialized)
struct KommoCatalogCheckTests {
    static func system(kommo: KommoEmulator, kommoPort: Int, mode: UnknownKommoIDs) async throws -> FullSystem {
        let redirectURI = KommoConnectJourneyTests.redirectURI
        let client = KommoOAuthServer.Client(redirectURI: redirectURI)
        kommo.oauthServer.register(client)
        kommo.oauthServer.serve(host: "127.0.0.1:\(kommoPort)")
        return try await FullSystem.make(tune: { configuration in
            configuration.kommoInstall = KommoInstallSettings(clientID: client.id, authorizeURL: "http://127.0.0.1:\(kommoPort)/oauth")
            configuration.unknownKommoIDs = mode
            configuration.kommoCatalogRecheck = .seconds(1)
        }, tuneSequences: { configuration in
            configuration.kommoOAuth = KommoOAuthSettings(clientID: client.id, clientSecret: client.secret, redirectURI: redirectURI,
                                                          refererScheme: "http", checkInterval: .milliseconds(50))
        })
    }

    /// A rule naming the account's ids (Sales 7010001, Qualified 61234502, Manager 1 8812001, Source
    /// 512302, Follow-up 1) and, where `wrong` says, ids the account does not have.
    static func rule(stage: Int = 61_234_502, pipeline: Int = 7_010_001, user: Int = 8_812_001, field: String = "cf.512302",
                     taskType: Int = 1) -> [String: Any] {
        [
            "name": "Qualified leads get a call", "enabled": true,
            "trigger": ["type": "stage_changed", "pipeline_id": pipeline, "stage_id": stage],
            "conditions": ["all": [
                ["type": "field_value", "field": field, "operator": "is_not_empty"],
                ["any": [["type": "responsible_user_is", "user_ids": [8_812_002, user]],
                         ["type": "stage_is", "pipeline_id": pipeline, "stage_ids": [stage]]]],
            ]],
            "actions": [["type": "create_task", "text": "Call {{lead.name}}", "due_in_seconds": 3600, "task_type": taskType,
                         "responsible_user_id": user]],
        ]
    }

    static func warnings(_ answer: HTTPTestClient.Answer) -> [String: String] {
        var found: [String: String] = [:]
        for warning in answer.json["warnings"] as? [[String: Any]] ?? [] {
            found[warning["field"] as? String ?? ""] = warning["message"] as? String ?? ""
        }
        return found
    }

    @Test("warn: ids the account has save cleanly; unknown ones and a stage of another pipeline are warned at their fields; nothing is checked before connecting")
    func warnMode() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await Self.system(kommo: kommo, kommoPort: kommoPort, mode: .warn)
            try await system.run { client in
                let tenant = try await client.createTenant(admin: system.adminToken)
                let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sales bot"], token: tenant.key)
                let agentID = agent.json["id"] as? String ?? ""
                let rules = "/api/v1/agents/\(agentID)/rules"

                // Not connected: ids are taken as written.
                let early = try await client.json(.POST, rules, Self.rule(stage: 1), token: tenant.key)
                #expect(early.status == 201, "\(early.text)")
                #expect(Self.warnings(early).isEmpty, "\(early.text)")

                _ = try await KommoConnectJourneyTests.install(client, key: tenant.key)

                let clean = try await client.json(.POST, rules, Self.rule(), token: tenant.key)
                #expect(clean.status == 201, "\(clean.text)")
                #expect(clean.json["warnings"] == nil, "\(clean.text)")

                let wrong = try await client.json(.POST, rules, Self.rule(user: 777, field: "cf.999", taskType: 55), token: tenant.key)
                #expect(wrong.status == 201, "\(wrong.text)")
                let warned = Self.warnings(wrong)
                #expect(warned["conditions.all[1].any[0].user_ids[1]"]?.contains("no user 777") == true, "\(wrong.text)")
                #expect(warned["actions[0].responsible_user_id"]?.contains("no user 777") == true, "\(wrong.text)")
                #expect(warned["conditions.all[0].field"]?.contains("no lead field 999") == true, "\(wrong.text)")
                #expect(warned["actions[0].task_type"]?.contains("no task type 55") == true, "\(wrong.text)")
                #expect(warned.count == 4, "\(wrong.text)")
                // The rule was stored as written.
                let stored = try await client.request(.GET, "\(rules)/\(wrong.json["id"] as? String ?? "")", token: tenant.key)
                #expect(stored.status == 200)

                // A stage of another pipeline: told which pipeline it is in.
                let elsewhere = try await client.json(.POST, rules, Self.rule(pipeline: 7_010_001, taskType: 2), token: tenant.key)
                #expect(Self.warnings(elsewhere).isEmpty, "\(elsewhere.text)")
                let patch = try await client.request(.PATCH, "\(rules)/\(elsewhere.json["id"] as? String ?? "")",
                                                     body: try JSONSerialization.data(withJSONObject: ["trigger": ["type": "stage_changed", "pipeline_id": 7_010_001, "stage_id": 70_100_010 + 1]]),
                                                     token: tenant.key, headers: [("If-Match", elsewhere.headers.first(name: "ETag") ?? "")])
                #expect(patch.status == 200, "\(patch.text)")
                #expect(Self.warnings(patch)["trigger.stage_id"]?.contains("no stage 70100011") == true, "\(patch.text)")

                // Sequences and agents are checked the same way.
                let sequence = try await client.json(.POST, "/api/v1/agents/\(agentID)/sequences", [
                    "name": "Nurture", "trigger": ["type": "manual"],
                    "steps": [["id": "move", "delay_seconds": 0, "action": ["type": "change_stage", "pipeline_id": 7_010_001, "stage_id": 61_234_599]]],
                ], token: tenant.key)
                #expect(sequence.status == 201, "\(sequence.text)")
                #expect(Self.warnings(sequence)["steps[0].action.stage_id"]?.contains("no stage 61234599") == true, "\(sequence.text)")
                let agentPatch = try await client.request(.PATCH, "/api/v1/agents/\(agentID)",
                                                          body: try JSONSerialization.data(withJSONObject: ["pipelines": [["pipeline_id": 4_242]]]),
                                                          token: tenant.key, headers: [("If-Match", agent.headers.first(name: "ETag") ?? "")])
                #expect(agentPatch.status == 200, "\(agentPatch.text)")
                #expect(Self.warnings(agentPatch)["pipelines[0].pipeline_id"]?.contains("no pipeline 4242") == true, "\(agentPatch.text)")
            }
        }
    }

    @Test("refuse: an unknown id is a 422 naming each field, after one fresh read of the catalog; known ids save")
    func refuseMode() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await Self.system(kommo: kommo, kommoPort: kommoPort, mode: .refuse)
            try await system.run { client in
                let tenant = try await client.createTenant(admin: system.adminToken)
                let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sales bot"], token: tenant.key)
                let rules = "/api/v1/agents/\(agent.json["id"] as? String ?? "")/rules"
                _ = try await KommoConnectJourneyTests.install(client, key: tenant.key)
                let readsAfterConnect = kommo.oauthServer.catalogReads

                let refused = try await client.json(.POST, rules, Self.rule(stage: 61_234_777, pipeline: 7_010_001), token: tenant.key)
                #expect(refused.status == 422, "\(refused.text)")
                let errors = (refused.json["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String }
                #expect(Set(errors) == ["trigger.stage_id", "conditions.all[1].any[1].stage_ids[0]"], "\(refused.text)")
                let listed = try await client.request(.GET, rules, token: tenant.key)
                #expect((listed.json["items"] as? [Any])?.isEmpty == true, "\(listed.text)")

                // The stage is added in Kommo; the next save finds it: the catalog is read again before refusing.
                kommo.oauthServer.editCatalog { catalog in
                    catalog.pipelines = [KommoOAuthServer.pipeline(id: 7_010_001, name: "Sales", isMain: true,
                                                                   stages: [(61_234_501, "New", 0), (61_234_502, "Qualified", 0), (61_234_777, "Demo booked", 0)])]
                }
                try await Task.sleep(for: .milliseconds(1100))
                let accepted = try await client.json(.POST, rules, Self.rule(stage: 61_234_777, pipeline: 7_010_001), token: tenant.key)
                #expect(accepted.status == 201, "\(accepted.text)")
                #expect(kommo.oauthServer.catalogReads > readsAfterConnect)
            }
        }
    }

    @Test("a tenant with a pasted long-lived token gets its account's catalog read on schedule, and its ids checked")
    func pastedTokenCatalog() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await FullSystem.make(tuneSequences: { configuration in
                configuration.kommoOAuth.checkInterval = .milliseconds(50)
            })
            try await system.run { client in
                let tenant = try await client.createTenant(admin: system.adminToken)
                let before = try await client.request(.GET, "/api/v1/kommo/catalog", token: tenant.key)
                #expect(before.json["connected"] as? Bool == false, "\(before.text)")

                let pasted = try await client.json(.PATCH, "/api/v1/integrations", [
                    "kommo": ["base_url": "http://127.0.0.1:\(kommoPort)", "access_token": kommo.token],
                ], token: tenant.key)
                #expect(pasted.status == 200, "\(pasted.text)")
                var catalog = try await client.request(.GET, "/api/v1/kommo/catalog", token: tenant.key)
                let deadline = ContinuousClock.now + .seconds(10)
                while catalog.json["refreshed_at"] is NSNull || catalog.json["refreshed_at"] == nil, ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(100))
                    catalog = try await client.request(.GET, "/api/v1/kommo/catalog", token: tenant.key)
                }
                #expect(catalog.json["connected"] as? Bool == true, "\(catalog.text)")
                let stages = ((catalog.json["pipelines"] as? [[String: Any]])?.first?["stages"] as? [[String: Any]]) ?? []
                #expect(stages.contains { $0["id"] as? Int == 61_234_502 && $0["name"] as? String == "Qualified" }, "\(catalog.text)")
                let reads = kommo.received.filter { $0.path == "/api/v4/leads/pipelines" }
                #expect(reads.first?.headers["authorization"] == "Bearer \(kommo.token)")
                // Read once per interval, not on every pass.
                try await Task.sleep(for: .milliseconds(300))
                #expect(kommo.received.filter { $0.path == "/api/v4/leads/pipelines" }.count == reads.count)

                let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sales bot"], token: tenant.key)
                let rule = try await client.json(.POST, "/api/v1/agents/\(agent.json["id"] as? String ?? "")/rules",
                                                 Self.rule(user: 4_242), token: tenant.key)
                #expect(rule.status == 201, "\(rule.text)")
                #expect(Self.warnings(rule)["actions[0].responsible_user_id"]?.contains("no user 4242") == true, "\(rule.text)")
                #expect(kommo.violations.isEmpty, "\(kommo.violations)")
            }
        }
    }
}
