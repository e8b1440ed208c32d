import Basics
import Foundation
import Gateway
import ServiceKit
import TestSupport
import Testing

/// Stripe sends events at least once and in no particular order: the state they leave depends on the
/// objects' own states and `created`, never on arrival.
@Suite("Billing lifecycle from Stripe events")
struct BillingLifecycleTests {
    static let starter = "price_starter_monthly"
    static let pro = "price_pro_monthly"

    struct Setup {
        let store: GatewayStore
        let tenant: String
    }

    func setup(_ name: String) async throws -> Setup {
        let db = try StoreFactory.open(folder: temporaryFolder(name), migrator: GatewayStore.migrator)
        let store = GatewayStore(db: db)
        let tenant = try await store.createTenant(name: "acme", now: Date())
        return Setup(store: store, tenant: tenant.id)
    }

    /// Subscribe to starter, pay, fail a payment, recover on pro, and schedule the end of the period.
    static func lifecycle(tenant: String) -> [StripeEvent] {
        let period1: Int64 = 1_000 + 30 * 86_400
        let period2: Int64 = 3_000 + 30 * 86_400
        func sub(_ status: String, _ price: String, _ end: Int64, cancel: Bool = false, tenantTag: Bool = false) -> JSONValue {
            StripeEmulator.subscription(id: "sub_1", customer: "cus_1", status: status, price: price, created: 1_000, periodEnd: end,
                                        cancelAtPeriodEnd: cancel, tenant: tenantTag ? tenant : nil)
        }
        return [
            StripeEvent(id: "evt_checkout", type: "checkout.session.completed", created: 1_000, object: [
                "id": "cs_1", "object": "checkout.session", "mode": "subscription", "client_reference_id": .string(tenant),
                "customer": "cus_1", "subscription": "sub_1"]),
            StripeEvent(id: "evt_created", type: "customer.subscription.created", created: 1_000, object: sub("incomplete", starter, period1)),
            StripeEvent(id: "evt_paid1", type: "invoice.paid", created: 1_001,
                        object: StripeEmulator.invoice(id: "in_1", customer: "cus_1", subscription: "sub_1", price: starter, created: 1_001, paid: true, periodEnd: period1)),
            StripeEvent(id: "evt_active", type: "customer.subscription.updated", created: 1_001, object: sub("active", starter, period1)),
            StripeEvent(id: "evt_failed", type: "invoice.payment_failed", created: 2_000,
                        object: StripeEmulator.invoice(id: "in_2", customer: "cus_1", subscription: "sub_1", price: starter, created: 2_000, paid: false, periodEnd: period1)),
            StripeEvent(id: "evt_pastdue", type: "customer.subscription.updated", created: 2_000, object: sub("past_due", starter, period1)),
            StripeEvent(id: "evt_paid2", type: "invoice.paid", created: 3_000,
                        object: StripeEmulator.invoice(id: "in_3", customer: "cus_1", subscription: "sub_1", price: pro, created: 3_000, paid: true, periodEnd: period2)),
            StripeEvent(id: "evt_upgraded", type: "customer.subscription.updated", created: 3_000,
                        object: sub("active", pro, period2, cancel: true, tenantTag: true)),
        ]
    }

    func play(_ events: [StripeEvent], into store: GatewayStore) async throws -> [StripeEventOutcome] {
        var outcomes: [StripeEventOutcome] = []
        for event in events {
            let body = JSONValue.object(["id": .string(event.id), "type": .string(event.type), "created": .int(event.created),
                                         "data": .object(["object": event.object])]).data()
            outcomes.append(try await store.recordStripeEvent(event, payload: body, now: Date()).outcome)
        }
        return outcomes
    }

    @Test("in order, reversed and shuffled, a lifecycle ends active on pro with cancel_at_period_end")
    func outOfOrder() async throws {
        var generator = SeededGenerator(seed: 14)
        let probe = try await setup("billing-lifecycle-probe")
        let orders: [[Int]] = [Array(0..<8), Array((0..<8).reversed())] + (0..<6).map { _ in Array(0..<8).shuffled(using: &generator) }
        for (index, order) in orders.enumerated() {
            let setup = index == 0 ? probe : try await setup("billing-lifecycle-\(index)")
            let events = Self.lifecycle(tenant: setup.tenant)
            _ = try await play(order.map { events[$0] }, into: setup.store)
            let state = try #require(try await setup.store.subscription(tenantID: setup.tenant), "order \(order)")
            #expect(state.status == "active", "order \(order)")
            #expect(state.priceID == Self.pro, "order \(order)")
            #expect(state.cancelAtPeriodEnd, "order \(order)")
            let periodEnd: Int64 = 3_000 + 30 * 86_400
            #expect(state.currentPeriodEnd == periodEnd, "order \(order)")
            let invoices = try await setup.store.invoices(tenantID: setup.tenant, limit: 10)
            #expect(invoices.map(\.status) == ["paid", "payment_failed", "paid"], "order \(order)")
            #expect(try await setup.store.stripeEvents(tenantID: setup.tenant, limit: 50).count == 8, "order \(order): every event is kept")
        }
    }

    @Test("a replayed event changes nothing, and a cancellation is final whatever arrives after it")
    func replayAndCancel() async throws {
        let setup = try await setup("billing-replay")
        let events = Self.lifecycle(tenant: setup.tenant)
        _ = try await play(events, into: setup.store)
        let before = try await setup.store.subscription(tenantID: setup.tenant)
        let replayed = try await play(events.reversed(), into: setup.store)
        #expect(replayed.allSatisfy { $0 == .duplicate }, "\(replayed)")
        #expect(try await setup.store.subscription(tenantID: setup.tenant) == before)
        #expect(try await setup.store.stripeEventCount() == 8)

        let deleted = StripeEvent(id: "evt_deleted", type: "customer.subscription.deleted", created: 5_000,
                                  object: StripeEmulator.subscription(id: "sub_1", customer: "cus_1", status: "canceled", price: Self.pro,
                                                                      created: 1_000, periodEnd: 3_000 + 30 * 86_400))
        // A late `updated` (active) stamped after the deletion must not bring it back.
        let late = StripeEvent(id: "evt_late", type: "customer.subscription.updated", created: 6_000,
                               object: StripeEmulator.subscription(id: "sub_1", customer: "cus_1", status: "active", price: Self.pro,
                                                                   created: 1_000, periodEnd: 3_000 + 30 * 86_400))
        let outcomes = try await play([deleted, late], into: setup.store)
        #expect(outcomes == [.applied, .stale])
        #expect(try await setup.store.subscription(tenantID: setup.tenant)?.status == "canceled")
    }

    @Test("the policy: grace for past_due, blocked when unpaid, canceled, incomplete_expired or paused")
    func policy() throws {
        let catalog = try PlanCatalog.load(path: PlanCatalogTests.shippedPath)
        let now = Date(timeIntervalSince1970: 10 * 86_400)
        func record(_ status: String, pastDueSince: Int64? = nil) -> SubscriptionRecord {
            SubscriptionRecord(id: "sub_1", customerID: "cus_1", tenantID: "t", status: status, priceID: Self.starter, currentPeriodEnd: nil,
                               cancelAtPeriodEnd: false, trialEnd: nil, objectCreated: 0, stateAt: 0, pastDueSince: pastDueSince)
        }
        let none = BillingPolicy.state(subscription: nil, catalog: catalog, enabled: true, now: now)
        #expect(none.plan.id == "free" && !none.blocked && none.status == "none")
        for status in ["active", "trialing"] {
            let state = BillingPolicy.state(subscription: record(status), catalog: catalog, enabled: true, now: now)
            #expect(state.plan.id == "starter" && !state.blocked, "\(status)")
        }
        let fresh = BillingPolicy.state(subscription: record("past_due", pastDueSince: 9 * 86_400), catalog: catalog, enabled: true, now: now)
        #expect(!fresh.blocked, "within the 7-day grace")
        let stale = BillingPolicy.state(subscription: record("past_due", pastDueSince: 2 * 86_400), catalog: catalog, enabled: true, now: now)
        #expect(stale.blocked && stale.blockReason?.contains("grace") == true)
        for status in ["unpaid", "canceled", "incomplete_expired", "paused"] {
            let state = BillingPolicy.state(subscription: record(status), catalog: catalog, enabled: true, now: now)
            #expect(state.blocked, "\(status)")
        }
        let pending = BillingPolicy.state(subscription: record("incomplete"), catalog: catalog, enabled: true, now: now)
        #expect(pending.plan.id == "free" && !pending.blocked)
        let off = BillingPolicy.state(subscription: record("canceled"), catalog: .unlimited, enabled: false, now: now)
        #expect(!off.blocked && off.plan.limits == .unlimited)
    }
}

/// A small deterministic generator, so a shuffled order that fails can be seen again.
private struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
