import Basics
import Foundation
import ServiceKit
import Sequences
import TestSupport
import Testing

/// Usage reaches Stripe's Billing Meters exactly once per ledger entry, even when the gateway (which
/// pushes it) is killed with SIGKILL in the middle of a batch.
@Suite("Meter push crash safety", .serialized)
struct MeterPushCrashTests {
    @Test("usage pushed equals the ledger with no duplicate across a kill -9 of the pusher mid-batch; 429s are waited out")
    func killPusherMidBatch() async throws {
        let stripe = StripeEmulator()
        stripe.delayMeterEvents(.milliseconds(25))
        stripe.throttleMeterEvents(2)
        try await withTestServer(stripe.handle) { stripePort in
            let system = try RunningSystem()
            system.environment["gateway"] = [
                "STRIPE_BASE_URL": "http://127.0.0.1:\(stripePort)", "STRIPE_SECRET_KEY": stripe.secretKey,
                "STRIPE_WEBHOOK_SECRET": BillingJourneyTests.webhookSecret, "BILLING_PLANS": PlanCatalogTests.shippedPath,
                "BILLING_PUSH_INTERVAL_MS": "100",
            ]
            try system.startAll()
            defer { system.stopAll() }
            #expect(try await eventually(timeout: .seconds(60)) { (try? await system.readiness().status) == 200 })
            let client = HTTPTestClient(port: system.ports["gateway"]!)
            let tenant = try await client.createTenant(admin: smokeAdminToken)

            // The ledger: 120 entries written by sequence-service's store (its file, opened beside it).
            let ledger = try SequenceStore(db: StoreFactory.open(folder: system.data + "/sequence", migrator: SequenceStore.migrator))
            let now = Date().unixMicros
            var units: [String: Int64] = [:]
            for index in 0..<120 {
                let kind = index % 3 == 0 ? "ai_reply" : (index % 3 == 1 ? "message_sent" : "ai_tokens")
                let amount = kind == "ai_tokens" ? 250 : 1
                try await ledger.recordUsage(tenantID: tenant.id, kind: kind, units: amount, at: now - Int64(120 - index) * 1_000_000,
                                             ref: "seed:\(index)")
                units[kind, default: 0] += Int64(amount)
            }

            // The tenant becomes a Stripe customer: pushing starts.
            let session: JSONValue = ["id": "cs_k", "object": "checkout.session", "client_reference_id": .string(tenant.id),
                                      "customer": "cus_k1", "subscription": "sub_k1", "mode": "subscription"]
            let completed = try await BillingJourneyTests.postEvent(client, id: "evt_k1", type: "checkout.session.completed",
                                                                    created: Int64(Date().timeIntervalSince1970), object: session)
            #expect(completed.status == 200, "\(completed.text)")

            // SIGKILL mid-batch, then a new gateway over the same store.
            #expect(try await eventually(timeout: .seconds(60)) { stripe.meterEvents.count >= 25 })
            await system.kill("gateway")
            let atKill = stripe.meterEvents.count
            #expect(atKill < 80, "the kill came after the batch: \(atKill)")
            try system.start("gateway")
            let metered = units["ai_reply"]! + units["message_sent"]!
            var done = false
            for _ in 0..<900 where !done {
                done = Int64(stripe.meterEvents.count) == metered
                if !done { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(done, "\(stripe.meterEvents.count) of \(metered)")

            let events = stripe.meterEvents
            #expect(Set(events.map(\.identifier)).count == events.count)
            #expect(events.filter { $0.eventName == "ai_replies" }.reduce(0) { $0 + $1.value } == units["ai_reply"])
            #expect(events.filter { $0.eventName == "messages_sent" }.reduce(0) { $0 + $1.value } == units["message_sent"])
            #expect(events.allSatisfy { $0.customer == "cus_k1" })
            #expect(stripe.maxConcurrentMeterCalls == 1)
            #expect(stripe.violations.isEmpty, "\(stripe.violations)")
            // At most the one call in flight at the kill was sent twice, and Stripe counted it once.
            let sent = stripe.received.filter { $0.path == "/v1/billing/meter_events" }
                .compactMap { StripeEmulator.decodeForm($0.text)?["identifier"] }
            #expect(sent.count - Set(sent).count <= 3, "resent \(sent.count - Set(sent).count) (2 of them the throttled ones)")

            // The reconciliation agrees.
            let billing = try await client.request(.GET, "/api/v1/billing", token: tenant.key)
            let rows = billing.json["reconciliation"] as? [[String: Any]] ?? []
            #expect(rows.count == 2, "\(billing.text)")
            #expect(rows.allSatisfy { $0["flagged"] as? Bool == false && $0["difference"] as? Int == 0 }, "\(rows)")
        }
    }
}
