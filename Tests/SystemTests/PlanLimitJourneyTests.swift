import Basics
import Foundation
import Gateway
import NIOHTTP1
import ServiceKit
import TestSupport
import Testing

/// A tenant at its AI-reply allowance, through the four real processes, Kommo and Stripe emulated: its
/// replies are recorded `blocked (plan limit)` and not sent, with an alert; its webhooks are all kept;
/// once Stripe says a higher plan is paid, the next replies go out.
@Suite("Plan limit journey", .serialized)
struct PlanLimitJourneyTests {
    static let lead: Int64 = HumanReplyPauseJourneyTests.lead

    /// Free allows two AI replies a month; starter a hundred.
    static func plans() throws -> String {
        let limits = #""agents":2,"active_rules":5,"active_sequences":1,"active_enrollments":10,"messages_per_month":50,"webhook_events_per_month":1000"#
        let text = """
            {"default_plan":"free","past_due_grace_days":3,"plans":[
             {"id":"free","name":"Free","stripe_price_id":null,"limits":{\(limits),"ai_replies_per_month":2}},
             {"id":"starter","name":"Starter","stripe_price_id":"price_starter_monthly","limits":{\(limits),"ai_replies_per_month":100}}]}
            """
        let folder = temporaryFolder("plan-limit-plans")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = (folder as NSString).appendingPathComponent("plans.json")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test("at the AI-reply limit replies are blocked with an alert; after invoice.paid on a higher plan they are sent; every webhook is kept")
    func blockedThenPaid() async throws {
        let kommo = KommoEmulator()
        kommo.addLead(["id": .int(Self.lead), "name": "Apartment 7C", "status_id": 61234502, "pipeline_id": 7100001,
                       "_embedded": ["contacts": [["id": 501, "is_main": true]]]])
        kommo.addContact(["id": 501, "name": "Maria Silva", "first_name": "Maria"])
        let stripe = StripeEmulator()
        let plansPath = try Self.plans()
        try await withTestServer(kommo.handle) { kommoPort in
            try await withTestServer(stripe.handle) { stripePort in
                let billing = try BillingConfiguration(stripeBaseURL: "http://127.0.0.1:\(stripePort)", secretKey: stripe.secretKey,
                                                       webhookSecrets: BillingJourneyTests.webhookSecret,
                                                       catalog: PlanCatalog.load(path: plansPath), returnURL: "http://kommo-agents.test/admin/")
                let system = try await FullSystem.make(tune: { $0.billing = billing })
                try await system.run { client in
                    let acme = try await client.createTenant(admin: system.adminToken)
                    _ = try await client.json(.PATCH, "/api/v1/integrations", [
                        "kommo": ["base_url": "http://127.0.0.1:\(kommoPort)", "access_token": kommo.token],
                        "messages": ["mode": "salesbot_field", "field_id": 880011, "bot_id": 42],
                    ], token: acme.key)
                    let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sofia", "channels": ["waba"], "language": "auto"], token: acme.key)
                    let agentID = agent.json["id"] as? String ?? ""
                    _ = try await client.json(.POST, "/api/v1/agents/\(agentID)/scripts", [
                        "name": "Qualify", "type": "qualification", "body": "Thanks {{contact.first_name|there}}! What budget do you have in mind?",
                    ], token: acme.key)
                    let rule = try await client.json(.POST, "/api/v1/agents/\(agentID)/rules", [
                        "name": "Answer every message", "trigger": ["type": "message_received"], "actions": [["type": "ai_response"]],
                    ], token: acme.key)
                    #expect(rule.status == 201, "\(rule.text)")

                    @Sendable func write(_ text: String) async throws {
                        let answer = try await client.postWebhook(secret: acme.secret, body: HumanReplyPauseJourneyTests.inbound(text, at: Date()))
                        #expect(answer.status == 200, "\(answer.text)")
                    }
                    @Sendable func outcomes() async throws -> [(String, String)] {
                        let log = try await client.request(.GET, "/api/v1/actions?lead_id=\(Self.lead)", token: acme.key)
                        return (log.json["items"] as? [[String: Any]] ?? []).map { ($0["outcome"] as? String ?? "", $0["detail"] as? String ?? "") }
                    }

                    // Two replies are within the free plan.
                    try await write("Hi, is it still available?")
                    #expect(try await eventually { HumanReplyPauseJourneyTests.salesbotRuns(kommo) == 1 })
                    try await write("Around 300k")
                    #expect(try await eventually { HumanReplyPauseJourneyTests.salesbotRuns(kommo) == 2 })

                    // The third is blocked and not sent.
                    try await write("Can I visit on Friday?")
                    let blocked = try await eventually { try await outcomes().contains { $0.1.hasPrefix("blocked (plan limit)") } }
                    let log = try await outcomes()
                    #expect(blocked, "\(log)")
                    let blockedDetail = try await outcomes().first { $0.1.hasPrefix("blocked (plan limit)") }?.1 ?? ""
                    #expect(blockedDetail.contains("ai_replies_per_month"), "\(blockedDetail)")
                    try await Task.sleep(for: .milliseconds(300))
                    #expect(HumanReplyPauseJourneyTests.salesbotRuns(kommo) == 2)

                    let atLimit = try await client.request(.GET, "/api/v1/billing", token: acme.key)
                    let alerts = (atLimit.json["alerts"] as? [[String: Any]] ?? []).filter { $0["limit"] as? String == "ai_replies_per_month" }
                    #expect(Set(alerts.compactMap { $0["threshold"] as? Int }) == [80, 100], "\(atLimit.text)")
                    let use = (atLimit.json["usage"] as? [[String: Any]] ?? []).first { $0["limit"] as? String == "ai_replies_per_month" }
                    #expect(use?["used"] as? Int == 2 && use?["allowed"] as? Int == 2 && use?["exceeded"] as? Bool == true, "\(use ?? [:])")

                    // Stripe: checkout completed, then the first invoice paid on starter (before the subscription's own events).
                    let now = Int64(Date().timeIntervalSince1970)
                    let session: JSONValue = ["id": "cs_p1", "object": "checkout.session", "client_reference_id": .string(acme.id),
                                              "customer": "cus_p1", "subscription": "sub_p1", "mode": "subscription"]
                    let completed = try await BillingJourneyTests.postEvent(client, id: "evt_p1", type: "checkout.session.completed",
                                                                            created: now - 2, object: session)
                    #expect(completed.status == 200, "\(completed.text)")
                    let invoice = StripeEmulator.invoice(id: "in_p1", customer: "cus_p1", subscription: "sub_p1", price: "price_starter_monthly",
                                                         created: now - 1, paid: true)
                    let paid = try await BillingJourneyTests.postEvent(client, id: "evt_p2", type: "invoice.paid", created: now - 1, object: invoice)
                    #expect(paid.json["outcome"] as? String == "applied", "\(paid.text)")
                    let upgraded = try await client.request(.GET, "/api/v1/billing", token: acme.key)
                    #expect((upgraded.json["plan"] as? [String: Any])?["id"] as? String == "starter", "\(upgraded.text)")

                    // The next reply is sent.
                    try await write("Friday at 5pm then?")
                    let sent = try await eventually { HumanReplyPauseJourneyTests.salesbotRuns(kommo) == 3 }
                    let finalLog = try await outcomes()
                    #expect(sent, "\(finalLog)")

                    // Every message webhook, the blocked one's included, is in the history.
                    let events = try await client.request(.GET, "/api/v1/webhooks/events?lead_id=\(Self.lead)", token: acme.key)
                    let kept = (events.json["items"] as? [[String: Any]] ?? []).count
                    #expect(kept == 4, "\(events.text)")
                }
            }
        }
    }
}
