import Basics
import Foundation
import Gateway
import NIOHTTP1
import ServiceKit
import TestSupport
import Testing

/// Plan limits where the work happens, through the real processes over HTTP, Stripe emulated: creates
/// racing for the last slot, enrollments beyond the plan, webhooks beyond the month's allowance.
@Suite("Plan enforcement", .serialized)
struct PlanEnforcementTests {
    /// A plans file: `free` with the given limits (the others from `base`), `starter` with everything unlimited.
    static func plans(_ free: [String: Int]) throws -> String {
        var limits: [String: Int] = ["agents": 20, "active_rules": 50, "active_sequences": 20, "active_enrollments": 100,
                                     "ai_replies_per_month": 100, "messages_per_month": 100, "webhook_events_per_month": 1000]
        limits.merge(free) { _, new in new }
        let freeLimits = limits.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",")
        let unlimited = PlanLimits.names.map { "\"\($0)\":null" }.joined(separator: ",")
        let text = """
            {"default_plan":"free","plans":[
             {"id":"free","name":"Free","stripe_price_id":null,"limits":{\(freeLimits)}},
             {"id":"starter","name":"Starter","stripe_price_id":"price_starter_monthly","limits":{\(unlimited)}}]}
            """
        let folder = temporaryFolder("plan-enforcement-plans")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = (folder as NSString).appendingPathComponent("plans.json")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func billing(port: Int, stripe: StripeEmulator, plans: String) throws -> BillingConfiguration {
        try BillingConfiguration(stripeBaseURL: "http://127.0.0.1:\(port)", secretKey: stripe.secretKey,
                                 webhookSecrets: BillingJourneyTests.webhookSecret, catalog: PlanCatalog.load(path: plans),
                                 returnURL: "http://kommo-agents.test/admin/")
    }

    /// The four processes with billing on (Stripe emulated) under a plans file whose `free` plan has `limits`.
    static func withBilledSystem(_ limits: [String: Int], tune: @Sendable (inout BillingConfiguration) -> Void = { _ in },
                                 _ body: @Sendable (FullSystem, HTTPTestClient) async throws -> Void) async throws {
        let stripe = StripeEmulator()
        let plans = try Self.plans(limits)
        try await withTestServer(stripe.handle) { stripePort in
            var billing = try Self.billing(port: stripePort, stripe: stripe, plans: plans)
            tune(&billing)
            let system = try await FullSystem.make(tune: { [billing] in $0.billing = billing })
            try await system.run { client in try await body(system, client) }
        }
    }

    /// Sends `count` requests at once; answers their statuses.
    static func race(_ count: Int, _ send: @escaping @Sendable (Int) async throws -> HTTPTestClient.Answer) async throws -> [Int] {
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<count { group.addTask { try await send(index).status } }
            var statuses: [Int] = []
            for try await status in group { statuses.append(status) }
            return statuses.sorted()
        }
    }

    @Test("creates racing for the last free slot: exactly one is created, the others are refused with 402")
    func lastSlotRace() async throws {
        try await Self.withBilledSystem(["agents": 2, "active_rules": 2, "active_sequences": 2]) { system, client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            let key = tenant.key
            let agent = try await client.json(.POST, "/api/v1/agents", ["name": "First"], token: key)
            #expect(agent.status == 201, "\(agent.text)")
            let agentID = agent.json["id"] as? String ?? ""

            let agents = try await Self.race(6) { index in
                try await client.json(.POST, "/api/v1/agents", ["name": "Racer \(index)"], token: key)
            }
            #expect(agents == [201, 402, 402, 402, 402, 402], "\(agents)")

            let rule: [String: Any] = ["name": "Answer", "trigger": ["type": "message_received"], "actions": [["type": "ai_response"]]]
            let firstRule = try await client.json(.POST, "/api/v1/agents/\(agentID)/rules", rule, token: key)
            #expect(firstRule.status == 201, "\(firstRule.text)")
            let ruleBody = try JSONSerialization.data(withJSONObject: rule)
            let rules = try await Self.race(6) { _ in
                try await client.request(.POST, "/api/v1/agents/\(agentID)/rules", body: ruleBody, token: key)
            }
            #expect(rules == [201, 402, 402, 402, 402, 402], "\(rules)")

            var sequence = SequencesJourneyTests.sequence
            let firstSequence = try await client.json(.POST, "/api/v1/agents/\(agentID)/sequences", sequence, token: key)
            #expect(firstSequence.status == 201, "\(firstSequence.text)")
            // Drafts do not count; making them active at once races for the last slot as creates do.
            sequence["status"] = "draft"
            var drafts: [String] = []
            for index in 0..<3 {
                sequence["name"] = "Draft \(index)"
                let draft = try await client.json(.POST, "/api/v1/agents/\(agentID)/sequences", sequence, token: key)
                #expect(draft.status == 201, "\(draft.text)")
                drafts.append(draft.json["id"] as? String ?? "")
            }
            sequence["status"] = "active"
            sequence["name"] = "Racer"
            let draftIDs = drafts
            let sequenceBody = try JSONSerialization.data(withJSONObject: sequence)
            let sequences = try await Self.race(7) { index in
                if index < 3 {
                    return try await client.json(.PATCH, "/api/v1/agents/\(agentID)/sequences/\(draftIDs[index])", ["status": "active"], token: key)
                }
                return try await client.request(.POST, "/api/v1/agents/\(agentID)/sequences", body: sequenceBody, token: key)
            }
            #expect(sequences.filter { $0 == 200 || $0 == 201 }.count == 1, "\(sequences)")
            #expect(sequences.filter { $0 == 402 }.count == 6, "\(sequences)")

            // What the tenant holds is what the plan allows, no more.
            let billingView = try await client.request(.GET, "/api/v1/billing", token: key)
            let usage = billingView.json["usage"] as? [[String: Any]] ?? []
            let used = Dictionary(uniqueKeysWithValues: usage.map { ($0["limit"] as? String ?? "", $0["used"] as? Int ?? -1) })
            #expect(used["agents"] == 2 && used["active_rules"] == 2 && used["active_sequences"] == 2, "\(used)")
        }
    }

    @Test("enrollments beyond active_enrollments: 402 over REST, not made from a webhook, and explained in the lead's timeline")
    func enrollmentLimit() async throws {
        try await Self.withBilledSystem(["active_enrollments": 1]) { system, client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            let key = tenant.key
            let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sales bot"], token: key)
            let agentID = agent.json["id"] as? String ?? ""
            let sequence = try await client.json(.POST, "/api/v1/agents/\(agentID)/sequences", SequencesJourneyTests.sequence, token: key)
            #expect(sequence.status == 201, "\(sequence.text)")
            let enrollments = "/api/v1/agents/\(agentID)/sequences/\(sequence.json["id"] as? String ?? "")/enrollments"

            let first = try await client.json(.POST, enrollments, ["lead_id": 101], token: key)
            #expect(first.status == 201, "\(first.text)")
            let second = try await client.json(.POST, enrollments, ["lead_id": 102], token: key)
            #expect(second.status == 402, "\(second.text)")
            #expect(second.json["limit"] as? String == "active_enrollments")
            #expect((second.json["detail"] as? String)?.hasPrefix("blocked (plan limit): active_enrollments: 1 of 1") == true, "\(second.text)")

            @Sendable func blocked(_ lead: Int) async throws -> [[String: Any]] {
                let timeline = try await client.request(.GET, "/api/v1/leads/\(lead)/timeline", token: key)
                return (timeline.json["items"] as? [[String: Any]] ?? []).filter {
                    $0["kind"] as? String == "action" && ($0["detail"] as? String)?.hasPrefix("blocked (plan limit)") == true
                }
            }
            #expect(try await blocked(102).count == 1)
            let listed = try await client.request(.GET, enrollments + "?lead_id=102", token: key)
            #expect((listed.json["items"] as? [[String: Any]])?.isEmpty == true, "\(listed.text)")

            // The stage webhook would enroll its lead: at the limit it is kept out, and the timeline says why.
            let webhook = try await client.postWebhook(secret: tenant.secret, body: try Fixtures.body("lead_status_changed"))
            #expect(webhook.json["status"] as? String == "accepted", "\(webhook.text)")
            #expect(try await eventually { try await blocked(4410021).count == 1 })
            let none = try await client.request(.GET, enrollments + "?lead_id=4410021", token: key)
            #expect((none.json["items"] as? [[String: Any]])?.isEmpty == true, "\(none.text)")

            let view = try await client.request(.GET, "/api/v1/billing", token: key)
            let use = (view.json["usage"] as? [[String: Any]] ?? []).first { $0["limit"] as? String == "active_enrollments" }
            #expect(use?["used"] as? Int == 1 && use?["allowed"] as? Int == 1, "\(use ?? [:])")

            // Ending the live enrollment frees the slot.
            let cancel = try await client.json(.POST, enrollments + "/\(first.json["id"] as? String ?? "")/cancel", ["reason": "done"], token: key)
            #expect(cancel.status == 200, "\(cancel.text)")
            let again = try await client.json(.POST, enrollments, ["lead_id": 102], token: key)
            #expect(again.status == 201, "\(again.text)")
        }
    }

    @Test("webhooks beyond webhook_events_per_month are kept in history and held; after the upgrade each is dispatched once")
    func webhookAllowance() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { kommoPort in
            try await Self.withBilledSystem(["webhook_events_per_month": 2]) { system, client in
                let tenant = try await SuspensionJourneyTests.prepare(client, admin: system.adminToken, kommoPort: kommoPort, token: kommo.token)
                let stages = ScriptEffectivenessJourneyTests.self
                for lead in Int64(1)...4 {
                    let body = stages.stageChange(lead: 5_100_000 + lead, to: stages.qualified, from: stages.newStage, at: Date())
                    let posted = try await client.postWebhook(secret: tenant.secret, body: body)
                    #expect(posted.status == 200 && posted.json["status"] as? String == "accepted", "\(posted.text)")
                }
                // Two dispatched (a task each), two kept in history but held.
                #expect(try await eventually { kommo.tasksCreated >= 2 })
                try await Task.sleep(for: .seconds(2))
                #expect(kommo.tasksCreated == 2)
                let history = try await SuspensionJourneyTests.history(client, key: tenant.key)
                #expect(history.count == 4, "\(history)")
                let held = history.filter { $0["status"] as? String == "held" }
                #expect(held.count == 2, "\(history.map { $0["status"] ?? "" })")
                let heldID = held.first?["id"] as? String ?? ""
                let detail = try await SuspensionJourneyTests.ingestEvent(system, tenantID: tenant.id, eventID: heldID)
                #expect(!detail.dispatches.isEmpty && detail.dispatches.allSatisfy {
                    $0.lastError.hasPrefix("held: plan limit: webhook_events_per_month: 2 of 2")
                }, "\(detail.dispatches)")
                let view = try await client.request(.GET, "/api/v1/billing", token: tenant.key)
                let use = (view.json["usage"] as? [[String: Any]] ?? []).first { $0["limit"] as? String == "webhook_events_per_month" }
                #expect(use?["used"] as? Int == 4 && use?["allowed"] as? Int == 2 && use?["exceeded"] as? Bool == true, "\(use ?? [:])")
                #expect(view.json["held_webhook_events"] as? Int == 2, "\(view.text)")

                // Stripe says the unlimited plan is bought: the held webhooks go on, each once.
                let now = Int64(Date().timeIntervalSince1970)
                let subscription = StripeEmulator.subscription(id: "sub_w1", customer: "cus_w1", status: "active", price: "price_starter_monthly",
                                                               created: now - 5, periodEnd: now + 30 * 86_400)
                _ = try await BillingJourneyTests.postEvent(client, id: "evt_w1", type: "customer.subscription.created", created: now - 5,
                                                            object: subscription)
                let session: JSONValue = ["id": "cs_w1", "object": "checkout.session", "client_reference_id": .string(tenant.id),
                                          "customer": "cus_w1", "subscription": "sub_w1", "mode": "subscription"]
                let completed = try await BillingJourneyTests.postEvent(client, id: "evt_w2", type: "checkout.session.completed",
                                                                        created: now - 4, object: session)
                #expect(completed.json["outcome"] as? String == "applied", "\(completed.text)")
                #expect(try await eventually { kommo.tasksCreated >= 4 })
                let delivered = try await eventually {
                    try await SuspensionJourneyTests.history(client, key: tenant.key).allSatisfy { $0["status"] as? String == "delivered" }
                }
                #expect(delivered)
                try await Task.sleep(for: .seconds(1))
                #expect(kommo.tasksCreated == 4)
                let after = try await client.request(.GET, "/api/v1/billing", token: tenant.key)
                #expect(after.json["held_webhook_events"] as? Int == 0, "\(after.text)")
            }
        }
    }

    @Test("the 80 % and 100 % alerts are raised as the use crosses them, before anyone opens the billing page")
    func alertsAsUseCrosses() async throws {
        try await Self.withBilledSystem(["webhook_events_per_month": 5], tune: { $0.alertInterval = .milliseconds(100) }) { system, client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            let store = GatewayStore(db: try StoreFactory.open(folder: system.gatewayData, migrator: GatewayStore.migrator))
            let month = BillingPolicy.month(Date())
            let stages = ScriptEffectivenessJourneyTests.self
            @Sendable func post(_ lead: Int64) async throws {
                let body = stages.stageChange(lead: 5_200_000 + lead, to: stages.qualified, from: stages.newStage, at: Date())
                let posted = try await client.postWebhook(secret: tenant.secret, body: body)
                #expect(posted.status == 200, "\(posted.text)")
            }
            for lead in Int64(1)...3 { try await post(lead) }
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await store.alerts(tenantID: tenant.id, month: month).isEmpty, "60 %: no alert yet")

            try await post(4)
            #expect(try await eventually(timeout: .seconds(10)) { try await store.alerts(tenantID: tenant.id, month: month).map(\.threshold) == [80] })
            try await post(5)
            #expect(try await eventually(timeout: .seconds(10)) { try await store.alerts(tenantID: tenant.id, month: month).map(\.threshold) == [80, 100] })
            let raised = try await store.alerts(tenantID: tenant.id, month: month)
            #expect(raised.map(\.limit) == ["webhook_events_per_month", "webhook_events_per_month"])
            #expect(raised.map(\.used) == [4, 5] && raised.allSatisfy { $0.allowed == 5 }, "\(raised)")

            // The billing page lists them as raised, each once, and looking again adds nothing.
            for _ in 0..<2 {
                let view = try await client.request(.GET, "/api/v1/billing", token: tenant.key)
                let alerts = view.json["alerts"] as? [[String: Any]] ?? []
                #expect(alerts.map { $0["threshold"] as? Int ?? 0 } == [80, 100], "\(alerts)")
                #expect(alerts.map { $0["used"] as? Int ?? 0 } == [4, 5], "\(alerts)")
            }
        }
    }
}
