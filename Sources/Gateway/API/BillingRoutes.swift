import Basics
import Foundation
import HTTPTypes
import Hummingbird
import ServiceKit
import Wire

// MARK: - Bodies and answers

struct CheckoutBody: RequestBody {
    static let fields: Set<String> = ["plan"]
    var plan: String
}

/// `GET /api/v1/billing`.
struct BillingDTO: Codable, Sendable {
    struct PlanDTO: Codable, Sendable {
        var id: String
        var name: String
        var limits: PlanLimits
        /// It can be bought through checkout.
        var purchasable: Bool
    }

    struct SubscriptionDTO: Codable, Sendable {
        var id: String
        var status: String
        var currentPeriodEnd: String?
        var cancelAtPeriodEnd: Bool
        var trialEnd: String?
        enum CodingKeys: String, CodingKey {
            case id, status, currentPeriodEnd = "current_period_end", cancelAtPeriodEnd = "cancel_at_period_end", trialEnd = "trial_end"
        }
    }

    struct UseDTO: Codable, Sendable {
        var limit: String
        var used: Int64
        var allowed: Int64?
        /// Of the allowance, rounded down; absent when unlimited.
        var percent: Int64?
        var exceeded: Bool
    }

    struct AlertDTO: Codable, Sendable {
        var limit: String
        var month: String
        var threshold: Int
        var used: Int64
        var allowed: Int64
        var at: String
    }

    struct InvoiceDTO: Codable, Sendable {
        var id: String
        var status: String
        var amountDue: Int64
        var amountPaid: Int64
        var currency: String
        var created: String
        var hostedInvoiceUrl: String?
        enum CodingKeys: String, CodingKey {
            case id, status, currency, created, amountDue = "amount_due", amountPaid = "amount_paid", hostedInvoiceUrl = "hosted_invoice_url"
        }
    }

    struct EventDTO: Codable, Sendable {
        var id: String
        var type: String
        var created: String
        var outcome: String
    }

    var billingEnabled: Bool
    var plan: PlanDTO
    /// The subscription's status; `none` without one.
    var status: String
    var blocked: Bool
    var blockReason: String?
    var currentPeriodEnd: String?
    var cancelAtPeriodEnd: Bool
    var subscription: SubscriptionDTO?
    var month: String
    var usage: [UseDTO]
    /// Webhook events kept but held from dispatch until the plan allows more.
    var heldWebhookEvents: Int64
    var alerts: [AlertDTO]
    var invoices: [InvoiceDTO]
    var events: [EventDTO]
    var plans: [PlanDTO]
    var reconciliation: [ReconciliationDTO]

    struct ReconciliationDTO: Codable, Sendable {
        var month: String
        var kind: String
        var meter: String
        var ledger: Int64
        var pushed: Int64
        var refused: Int64
        var difference: Int64
        /// The ledger and Stripe disagree (units not pushed yet, or refused).
        var flagged: Bool
    }

    enum CodingKeys: String, CodingKey {
        case plan, status, blocked, subscription, month, usage, alerts, invoices, events, plans, reconciliation
        case billingEnabled = "billing_enabled", blockReason = "block_reason", currentPeriodEnd = "current_period_end"
        case cancelAtPeriodEnd = "cancel_at_period_end", heldWebhookEvents = "held_webhook_events"
    }
}

extension BillingDTO.PlanDTO {
    init(_ plan: Plan) {
        self.init(id: plan.id, name: plan.name, limits: plan.limits, purchasable: plan.stripePriceID != nil)
    }
}

struct SessionDTO: Codable, Sendable {
    var id: String?
    var url: String
    var plan: String?
}

// MARK: - Routes

extension GatewayApp {
    static let stripeSignature = HTTPField.Name("Stripe-Signature")!
    /// Stripe's events are well below this; a larger body is not Stripe's.
    static let maxStripeWebhookBytes = 512 * 1024

    /// `POST /webhooks/stripe`: the signature is checked over the raw body, then the event is stored (with
    /// what it did to billing state) before the 200, so Stripe's retries are only for what was not kept.
    static func addStripeWebhookRoute(to router: Router<GatewayContext>, billing: Billing, store: GatewayStore, clock: any WallClock,
                                      changed: @escaping @Sendable (String) async -> Void) {
        router.post("/webhooks/stripe") { request, context -> Response in
            guard let stripe = billing.configuration.stripe else {
                throw Problem(status: .notFound, detail: "billing is off on this deployment")
            }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: maxStripeWebhookBytes)
            } catch {
                throw Problem(status: .contentTooLarge, detail: "a Stripe webhook is at most \(maxStripeWebhookBytes) bytes")
            }
            let bytes = Data(body.readableBytesView)
            switch StripeSignature.verify(header: request.headers[stripeSignature], body: bytes, secrets: stripe.webhookSecrets,
                                          now: clock.now(), tolerance: billing.configuration.signatureTolerance) {
            case .valid: break
            case .malformed(let reason): throw Problem(status: .badRequest, detail: "Stripe-Signature refused: \(reason)")
            case .outsideTolerance: throw Problem(status: .badRequest, detail: "Stripe-Signature refused: its timestamp is more than 300 s from now")
            case .mismatch: throw Problem(status: .badRequest, detail: "Stripe-Signature refused: no v1 signature matches the endpoint secret")
            }
            guard let event = StripeEvent(parsing: bytes) else {
                let id = try await store.recordUnparsedStripeDelivery(payload: bytes, now: clock.now())
                return try jsonResponse(["received": "true", "outcome": StripeEventOutcome.unparsed.rawValue, "id": id])
            }
            let (outcome, tenant) = try await store.recordStripeEvent(event, payload: bytes, now: clock.now())
            if outcome == .applied, let tenant { await changed(tenant) }
            return try jsonResponse(["received": "true", "outcome": outcome.rawValue, "id": event.id])
        }
    }

    /// The tenant's billing: where it stands, Checkout to subscribe or change plan, the Billing Portal.
    static func addBillingRoutes(to api: RouterGroup<GatewayContext>, billing: Billing, store: GatewayStore) {
        api.get("/billing") { _, context -> Response in
            let tenant = try context.tenant
            let state = try await billing.state(tenantID: tenant)
            let usage = try await billing.usage(tenantID: tenant, requestID: context.requestID)
            let alerts = try await billing.alerts(tenantID: tenant, usage: usage)
            let subscription = state.subscription
            let periodEnd = subscription?.currentPeriodEnd.map { RFC3339.string(Date(timeIntervalSince1970: TimeInterval($0))) }
            let dto = BillingDTO(
                billingEnabled: billing.configuration.enabled, plan: .init(state.plan), status: state.status, blocked: state.blocked,
                blockReason: state.blockReason, currentPeriodEnd: periodEnd, cancelAtPeriodEnd: subscription?.cancelAtPeriodEnd ?? false,
                subscription: subscription.map {
                    .init(id: $0.id, status: $0.status, currentPeriodEnd: periodEnd, cancelAtPeriodEnd: $0.cancelAtPeriodEnd,
                          trialEnd: $0.trialEnd.map { RFC3339.string(Date(timeIntervalSince1970: TimeInterval($0))) })
                },
                month: BillingPolicy.month(billing.clock.now()),
                usage: usage.map { use in
                    .init(limit: use.limit, used: use.used, allowed: use.allowed, percent: use.allowed.map { $0 == 0 ? (use.used > 0 ? 100 : 0) : use.used * 100 / $0 },
                          exceeded: use.allowed.map { use.used >= $0 && use.limit.hasSuffix("_per_month") || use.used > $0 } ?? false)
                },
                heldWebhookEvents: try await billing.heldWebhookEvents(tenantID: tenant, requestID: context.requestID),
                alerts: alerts.map { .init(limit: $0.limit, month: $0.month, threshold: $0.threshold, used: $0.used, allowed: $0.allowed, at: RFC3339.string($0.at)) },
                invoices: try await store.invoices(tenantID: tenant, limit: 12).map {
                    .init(id: $0.id, status: $0.status, amountDue: $0.amountDue, amountPaid: $0.amountPaid, currency: $0.currency,
                          created: RFC3339.string(Date(timeIntervalSince1970: TimeInterval($0.created))), hostedInvoiceUrl: $0.hostedURL)
                },
                events: try await store.stripeEvents(tenantID: tenant, limit: 20).map {
                    .init(id: $0.id, type: $0.type, created: RFC3339.string(Date(timeIntervalSince1970: TimeInterval($0.created))), outcome: $0.outcome)
                },
                plans: billing.catalog.plans.map(BillingDTO.PlanDTO.init),
                reconciliation: try await billing.reconciliation(tenantID: tenant, requestID: context.requestID).map {
                    .init(month: $0.month, kind: $0.kind, meter: $0.meter, ledger: $0.ledger, pushed: $0.pushed, refused: $0.refused,
                          difference: $0.difference, flagged: $0.difference != 0)
                })
            return try jsonResponse(dto)
        }
        api.post("/billing/checkout") { request, context -> Response in
            let tenant = try context.tenant
            let body = try await request.decodeBody(CheckoutBody.self, context: context)
            let session = try await billing.checkout(tenantID: tenant, planID: body.plan, idempotencyKey: try idempotencyKey(request))
            return try jsonResponse(SessionDTO(id: session.id, url: session.url, plan: body.plan), status: .created)
        }
        api.post("/billing/portal") { request, context -> Response in
            let url = try await billing.portal(tenantID: try context.tenant, idempotencyKey: try idempotencyKey(request))
            return try jsonResponse(SessionDTO(id: nil, url: url, plan: nil), status: .created)
        }
    }

    private static func idempotencyKey(_ request: Request) throws -> String? {
        guard let key = request.headers[.idempotencyKey] else { return nil }
        guard !key.isEmpty, key.count <= 128 else { throw Problem.field("Idempotency-Key", "must be 1 to 128 characters") }
        return key
    }
}
