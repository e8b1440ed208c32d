import Basics
import Foundation

/// Billing: Stripe's webhook, where a tenant stands, Checkout and the Billing Portal.
extension OpenAPIDocument {
    static var billingOperations: [APIOperation] {
        [
            APIOperation(method: "post", path: "/webhooks/stripe", id: "receiveStripeWebhook", summary: "Stripe's webhook", tag: "billing",
                         access: .signature,
                         description: "Authenticated by `Stripe-Signature` (`t=…,v1=…`): the hex HMAC-SHA256 of `\"{t}.{raw body}\"` with the "
                             + "endpoint's signing secret, compared in constant time with every `v1`; a timestamp more than 300 s from now, "
                             + "a malformed header or no matching signature is 400. The event is stored before the 200; an event id seen "
                             + "before answers `duplicate` and changes nothing. 404 while billing is off. At most 512 KiB.",
                         parameters: [["name": "Stripe-Signature", "in": "header", "required": true,
                                       "description": "`t=<unix seconds>,v1=<hex>[,v1=<hex>…]`.",
                                       "schema": ["type": "string", "minLength": 1, "maxLength": 4096]]],
                         body: Schema.object([:], description: "A Stripe event (`id`, `type`, `created`, `data.object`)."),
                         bodyRequired: true, bodyMediaType: "application/json",
                         success: [200: ("Stored: what it did (`applied`, `stale`, `ignored`, `unmatched`, `unparsed`, `duplicate`).",
                                         Schema.ref("StripeWebhookAnswer"))],
                         problems: [400, 404], callsServices: false),
            APIOperation(method: "get", path: "/api/v1/billing", id: "getBilling", summary: "Where the tenant stands", tag: "billing",
                         description: "Plan, subscription status, period end and `cancel_at_period_end`, usage against every limit of the "
                             + "plan (this UTC month for the monthly allowances; `active_enrollments` counts live ones, active or paused; "
                             + "`webhook_events_per_month` events from Kommo's webhooks), the month's alerts at 80 % and 100 % (raised "
                             + "as the use crosses them, within the gateway's alert interval), invoices, the Stripe "
                             + "events about the tenant and the plans on offer. With billing off every limit is unlimited.",
                         success: [200: ("The tenant's billing.", Schema.ref("Billing"))]),
            APIOperation(method: "post", path: "/api/v1/billing/checkout", id: "createCheckout", summary: "Subscribe or change plan through Stripe Checkout",
                         tag: "billing",
                         description: "Creates a Checkout Session (`mode=subscription`, the plan's price, `client_reference_id` = the tenant) "
                             + "and answers its URL, to which the user is sent. The plan applies when Stripe's webhooks say it is paid. "
                             + "With the same `Idempotency-Key` Stripe answers the same session. 409 while billing is off; 502 when "
                             + "Stripe refuses.",
                         parameters: [idempotencyKey],
                         body: Schema.ref("CheckoutRequest"), example: ["plan": "starter"],
                         success: [201: ("The session.", Schema.ref("BillingSession"))], problems: [409, 502]),
            APIOperation(method: "post", path: "/api/v1/billing/portal", id: "createBillingPortal", summary: "Manage the subscription in Stripe's Billing Portal",
                         tag: "billing",
                         description: "Answers the URL of a Billing Portal session for the tenant's Stripe customer (payment method, invoices, "
                             + "cancellation). 409 while billing is off or before the tenant has subscribed; 502 when Stripe refuses.",
                         parameters: [idempotencyKey],
                         success: [201: ("The session.", Schema.ref("BillingSession"))], problems: [409, 502], callsServices: false),
        ]
    }

    static var billingSchemas: [String: JSONValue] {
        let limit = Schema.integer("Null: unlimited.", minimum: 0, nullable: true)
        let limits = Schema.object(Dictionary(uniqueKeysWithValues: PlanLimits.names.map { ($0, limit) }), required: PlanLimits.names)
        return [
            "StripeWebhookAnswer": Schema.object([
                "received": Schema.string(enumeration: ["true"]), "id": Schema.string(),
                "outcome": Schema.string(enumeration: ["applied", "stale", "ignored", "unmatched", "unparsed", "duplicate"]),
            ], required: ["received", "outcome", "id"]),
            "CheckoutRequest": Schema.object(["plan": Schema.string("A plan with a Stripe price (`starter`, `pro` in the shipped plans).",
                                                                    minLength: 1, maxLength: 40)],
                                             required: ["plan"], closed: true),
            "BillingSession": Schema.object([
                "id": Schema.string(), "url": Schema.string(format: "uri"), "plan": Schema.string(),
            ], required: ["url"]),
            "Plan": Schema.object([
                "id": Schema.string(), "name": Schema.string(), "limits": limits,
                "purchasable": Schema.boolean("It has a Stripe price, so checkout can sell it."),
            ], required: ["id", "name", "limits", "purchasable"]),
            "Billing": Schema.object([
                "billing_enabled": Schema.boolean("Off: no Stripe settings, every tenant unlimited."),
                "plan": Schema.ref("Plan"),
                "status": Schema.string("The subscription's status; `none` without one.",
                                        enumeration: ["none", "trialing", "active", "past_due", "canceled", "unpaid", "incomplete",
                                                      "incomplete_expired", "paused"]),
                "blocked": Schema.boolean("AI replies and messages are not sent (recorded `blocked (plan limit)`)."),
                "block_reason": Schema.string(),
                "current_period_end": Schema.string(format: "date-time"),
                "cancel_at_period_end": Schema.boolean("The subscription ends at `current_period_end`."),
                "subscription": Schema.object([
                    "id": Schema.string(), "status": Schema.string(), "current_period_end": Schema.string(format: "date-time"),
                    "cancel_at_period_end": Schema.boolean(), "trial_end": Schema.string(format: "date-time"),
                ], required: ["id", "status", "cancel_at_period_end"]),
                "month": Schema.string("The UTC month of the monthly allowances, `YYYY-MM`."),
                "usage": Schema.array(Schema.object([
                    "limit": Schema.string(enumeration: PlanLimits.names), "used": Schema.integer(minimum: 0),
                    "allowed": limit, "percent": Schema.integer("Of the allowance; absent when unlimited.", minimum: 0),
                    "exceeded": Schema.boolean(),
                ], required: ["limit", "used", "exceeded"])),
                "held_webhook_events": Schema.integer("Webhook events kept in history but held from dispatch because "
                    + "`webhook_events_per_month` is used up; dispatched in order when the plan allows.", minimum: 0),
                "alerts": Schema.array(Schema.object([
                    "limit": Schema.string(), "month": Schema.string(), "threshold": Schema.integer(minimum: 80, maximum: 100),
                    "used": Schema.integer("The use when the alert was raised."), "allowed": Schema.integer(), "at": time,
                ], required: ["limit", "month", "threshold", "used", "allowed", "at"])),
                "invoices": Schema.array(Schema.object([
                    "id": Schema.string(), "status": Schema.string(enumeration: ["paid", "payment_failed"]),
                    "amount_due": Schema.integer(), "amount_paid": Schema.integer(), "currency": Schema.string(), "created": time,
                    "hosted_invoice_url": Schema.string(),
                ], required: ["id", "status", "amount_due", "amount_paid", "currency", "created"])),
                "events": Schema.array(Schema.object([
                    "id": Schema.string(), "type": Schema.string(), "created": time, "outcome": Schema.string(),
                ], required: ["id", "type", "created", "outcome"]), "The latest Stripe events about the tenant, newest first."),
                "plans": Schema.array(Schema.ref("Plan")),
                "reconciliation": Schema.array(Schema.object([
                    "month": Schema.string(), "kind": Schema.string(), "meter": Schema.string("The Stripe meter's event name."),
                    "ledger": Schema.integer("Units in our usage ledger.", minimum: 0),
                    "pushed": Schema.integer("Units Stripe accepted.", minimum: 0),
                    "refused": Schema.integer("Units Stripe refused.", minimum: 0),
                    "difference": Schema.integer("ledger − pushed."), "flagged": Schema.boolean("The two disagree."),
                ], required: ["month", "kind", "meter", "ledger", "pushed", "refused", "difference", "flagged"]),
                "Units in the ledger against units pushed to Stripe's Billing Meters, per UTC month (the last and this) and kind."),
            ], required: ["billing_enabled", "plan", "status", "blocked", "cancel_at_period_end", "month", "usage", "held_webhook_events", "alerts", "invoices",
                          "events", "plans", "reconciliation"]),
        ]
    }
}
