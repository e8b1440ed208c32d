import Basics
import Foundation
import Gateway
import NIOHTTP1
import TestSupport
import Testing

/// Billing through the gateway's HTTP surface, with Stripe emulated on loopback.
@Suite("Billing journey", .serialized)
struct BillingJourneyTests {
    static let webhookSecret = "whsec_journey_0123456789"

    static func billing(port: Int, emulator: StripeEmulator) throws -> BillingConfiguration {
        try BillingConfiguration(stripeBaseURL: "http://127.0.0.1:\(port)", secretKey: emulator.secretKey, webhookSecrets: webhookSecret,
                                 catalog: PlanCatalog.load(path: PlanCatalogTests.shippedPath), returnURL: "http://kommo-agents.test/admin/#/billing")
    }

    /// Posts a Stripe event signed as Stripe signs it.
    static func postEvent(_ client: HTTPTestClient, id: String, type: String, created: Int64, object: JSONValue,
                          secret: String = webhookSecret, at: Date = Date()) async throws -> HTTPTestClient.Answer {
        let body = StripeEmulator.event(id: id, type: type, created: created, object: object)
        let signature = StripeEmulator.signature(body: body, secret: secret, timestamp: Int64(at.timeIntervalSince1970))
        return try await client.request(.POST, "/webhooks/stripe", body: body, headers: [("Stripe-Signature", signature)])
    }

    @Test("checkout, the webhooks that follow, the portal and the plan's limits, as a tenant sees them")
    func journey() async throws {
        let emulator = StripeEmulator()
        try await withTestServer(emulator.handle) { port in
            let billing = try Self.billing(port: port, emulator: emulator)
            let system = try await FullSystem.make(tune: { $0.billing = billing })
            try await system.run { client in
                let tenant = try await client.createTenant(admin: system.adminToken)
                let start = try await client.request(.GET, "/api/v1/billing", token: tenant.key)
                #expect(start.status == 200, "\(start.text)")
                #expect(start.json["billing_enabled"] as? Bool == true)
                #expect((start.json["plan"] as? [String: Any])?["id"] as? String == "free")
                #expect(start.json["status"] as? String == "none")
                let usage = start.json["usage"] as? [[String: Any]] ?? []
                #expect(usage.map { $0["limit"] as? String ?? "" } == PlanLimits.names)

                // Free allows one agent: the second is refused with 402 naming the limit.
                let agent = try await client.json(.POST, "/api/v1/agents", ["name": "First"], token: tenant.key)
                #expect(agent.status == 201, "\(agent.text)")
                let second = try await client.json(.POST, "/api/v1/agents", ["name": "Second"], token: tenant.key)
                #expect(second.status == 402, "\(second.text)")
                #expect(second.json["limit"] as? String == "agents")
                #expect(second.headers.first(name: "Content-Type") == "application/problem+json")

                // Free allows one active sequence: a draft may be created, but making it active needs room,
                // and a patch that leaves the plan's count as it was does not.
                let agentID = agent.json["id"] as? String ?? ""
                var active = SequencesJourneyTests.sequence
                active["name"] = "Active one"
                let activeOne = try await client.json(.POST, "/api/v1/agents/\(agentID)/sequences", active, token: tenant.key)
                #expect(activeOne.status == 201, "\(activeOne.text)")
                var draft = SequencesJourneyTests.sequence
                draft["status"] = "draft"
                let drafted = try await client.json(.POST, "/api/v1/agents/\(agentID)/sequences", draft, token: tenant.key)
                #expect(drafted.status == 201, "\(drafted.text)")
                let draftID = drafted.json["id"] as? String ?? ""
                let draftPath = "/api/v1/agents/\(agentID)/sequences/\(draftID)"
                let activate = try await client.json(.PATCH, draftPath, ["status": "active"], token: tenant.key)
                #expect(activate.status == 402, "\(activate.text)")
                #expect(activate.json["limit"] as? String == "active_sequences")
                let rename = try await client.json(.PATCH, draftPath, ["name": "Renamed draft"], token: tenant.key)
                #expect(rename.status == 200, "\(rename.text)")
                let activeID = activeOne.json["id"] as? String ?? ""
                let firstPath = "/api/v1/agents/\(agentID)/sequences/\(activeID)"
                let stillActive = try await client.json(.PATCH, firstPath, ["status": "active", "name": "Active, renamed"], token: tenant.key)
                #expect(stillActive.status == 200, "already active: \(stillActive.text)")

                // Checkout: the form Stripe needs, with an Idempotency-Key; the same key answers the same session.
                let noPortal = try await client.request(.POST, "/api/v1/billing/portal", token: tenant.key)
                #expect(noPortal.status == 409, "no customer yet: \(noPortal.text)")
                let checkout = try await client.request(.POST, "/api/v1/billing/checkout", body: Data(#"{"plan":"starter"}"#.utf8),
                                                        token: tenant.key, headers: [("Idempotency-Key", "upgrade-1")])
                #expect(checkout.status == 201, "\(checkout.text)")
                let url = checkout.json["url"] as? String ?? ""
                #expect(url.hasPrefix("https://checkout.stripe.test/"))
                let again = try await client.request(.POST, "/api/v1/billing/checkout", body: Data(#"{"plan":"starter"}"#.utf8),
                                                     token: tenant.key, headers: [("Idempotency-Key", "upgrade-1")])
                #expect(again.json["url"] as? String == url, "the same key answers the same session")
                let form = try #require(emulator.checkouts.first)
                #expect(form["mode"] == "subscription")
                #expect(form["line_items[0][price]"] == "price_starter_monthly")
                #expect(form["client_reference_id"] == tenant.id)
                #expect(form["subscription_data[metadata][tenant_id]"] == tenant.id)
                #expect(emulator.checkouts.count == 1)
                #expect(emulator.violations.isEmpty, "\(emulator.violations)")
                for (body, status) in [(#"{"plan":"free"}"#, 400), (#"{"plan":"gold"}"#, 400), (#"{"plan":"pro","x":1}"#, 400)] {
                    let answer = try await client.request(.POST, "/api/v1/billing/checkout", body: Data(body.utf8), token: tenant.key)
                    #expect(answer.status == status, "\(body): \(answer.text)")
                }

                // Stripe's webhooks: the subscription first (before checkout.session.completed), then the session.
                let now = Int64(Date().timeIntervalSince1970)
                let subscription = StripeEmulator.subscription(id: "sub_j1", customer: "cus_j1", status: "active", price: "price_starter_monthly",
                                                               created: now - 5, periodEnd: now + 30 * 86_400)
                let first = try await Self.postEvent(client, id: "evt_j1", type: "customer.subscription.created", created: now - 5, object: subscription)
                #expect(first.status == 200 && first.json["outcome"] as? String == "unmatched", "\(first.text)")
                let session: JSONValue = ["id": "cs_j1", "object": "checkout.session", "client_reference_id": .string(tenant.id),
                                          "customer": "cus_j1", "subscription": "sub_j1", "mode": "subscription"]
                let completed = try await Self.postEvent(client, id: "evt_j2", type: "checkout.session.completed", created: now - 4, object: session)
                #expect(completed.json["outcome"] as? String == "applied", "\(completed.text)")
                let replay = try await Self.postEvent(client, id: "evt_j2", type: "checkout.session.completed", created: now - 4, object: session)
                #expect(replay.status == 200 && replay.json["outcome"] as? String == "duplicate", "\(replay.text)")

                // Refused deliveries are 400 and not kept.
                let body = StripeEmulator.event(id: "evt_forged", type: "customer.subscription.deleted", created: now,
                                                object: StripeEmulator.subscription(id: "sub_j1", customer: "cus_j1", status: "canceled",
                                                                                    price: "price_starter_monthly", created: now - 5, periodEnd: now))
                for header in [StripeEmulator.signature(body: body, secret: "whsec_wrong_0000000", timestamp: now),
                               StripeEmulator.signature(body: body, secret: Self.webhookSecret, timestamp: now - 600), "t=\(now)", ""] {
                    let refused = try await client.request(.POST, "/webhooks/stripe", body: body, headers: [("Stripe-Signature", header)])
                    #expect(refused.status == 400, "\(header): \(refused.text)")
                }
                let unsigned = try await client.request(.POST, "/webhooks/stripe", body: body)
                #expect(unsigned.status == 400)

                let paid = try await client.request(.GET, "/api/v1/billing", token: tenant.key)
                #expect((paid.json["plan"] as? [String: Any])?["id"] as? String == "starter", "\(paid.text)")
                #expect(paid.json["status"] as? String == "active")
                #expect(paid.json["blocked"] as? Bool == false)
                #expect(paid.json["current_period_end"] as? String != nil)
                let events = (paid.json["events"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                #expect(Set(events) == ["evt_j1", "evt_j2"], "both kept, the forged one not: \(events)")

                // Starter allows three agents now.
                let more = try await client.json(.POST, "/api/v1/agents", ["name": "Second"], token: tenant.key)
                #expect(more.status == 201, "\(more.text)")

                // The portal, for the customer checkout made.
                let portal = try await client.request(.POST, "/api/v1/billing/portal", token: tenant.key)
                #expect(portal.status == 201, "\(portal.text)")
                #expect((portal.json["url"] as? String)?.hasPrefix("https://billing.stripe.test/") == true)
                #expect(emulator.portals.first?["customer"] == "cus_j1")
                #expect(emulator.portals.first?["return_url"] == "http://kommo-agents.test/admin/#/billing")

                // cancel_at_period_end shows.
                let ending = StripeEmulator.subscription(id: "sub_j1", customer: "cus_j1", status: "active", price: "price_starter_monthly",
                                                         created: now - 5, periodEnd: now + 30 * 86_400, cancelAtPeriodEnd: true)
                _ = try await Self.postEvent(client, id: "evt_j3", type: "customer.subscription.updated", created: now - 1, object: ending)
                let shown = try await client.request(.GET, "/api/v1/billing", token: tenant.key)
                #expect(shown.json["cancel_at_period_end"] as? Bool == true, "\(shown.text)")

                // Another tenant sees none of it.
                let other = try await client.createTenant(admin: system.adminToken, name: "other")
                let theirs = try await client.request(.GET, "/api/v1/billing", token: other.key)
                #expect(theirs.json["status"] as? String == "none")
                #expect(!theirs.text.contains("evt_j"))
                #expect(try await client.request(.POST, "/api/v1/billing/portal", token: other.key).status == 409)
                #expect(emulator.received.allSatisfy { $0.headers["authorization"] == "Bearer \(emulator.secretKey)" })
                #expect(emulator.received.allSatisfy { $0.headers["idempotency-key"]?.isEmpty == false })
            }
        }
    }

    @Test("with billing off the webhook is 404, checkout 409, and every tenant unlimited")
    func off() async throws {
        let system = try await FullSystem.make()
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            let answer = try await client.request(.GET, "/api/v1/billing", token: tenant.key)
            #expect(answer.json["billing_enabled"] as? Bool == false)
            let usage = answer.json["usage"] as? [[String: Any]] ?? []
            #expect(usage.count == 7 && usage.allSatisfy { $0["allowed"] == nil }, "\(answer.text)")
            #expect(try await client.request(.POST, "/webhooks/stripe", body: Data("{}".utf8), headers: [("Stripe-Signature", "t=1,v1=00")]).status == 404)
            #expect(try await client.json(.POST, "/api/v1/billing/checkout", ["plan": "starter"], token: tenant.key).status == 409)
            for index in 0..<3 {
                #expect(try await client.json(.POST, "/api/v1/agents", ["name": "Agent \(index)"], token: tenant.key).status == 201)
            }
        }
    }
}
