import Basics
import Foundation

/// A Stripe event as the webhook delivers it, reduced to what billing state needs.
package struct StripeEvent: Sendable, Equatable {
    package var id: String
    package var type: String
    /// Unix seconds: when Stripe created the event, which orders the states it carries.
    package var created: Int64
    /// `data.object`: a Checkout Session, a subscription, an invoice…
    package var object: JSONValue

    /// The event types billing acts on; others are stored and acknowledged.
    package static let handled: Set<String> = [
        "checkout.session.completed",
        "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
        "customer.subscription.paused", "customer.subscription.resumed", "customer.subscription.trial_will_end",
        "invoice.paid", "invoice.payment_failed",
        // Sent beside `invoice.paid` when a payment succeeds; some clients of the API only send this one.
        "invoice.payment_succeeded",
    ]

    package static let statuses: Set<String> = ["trialing", "active", "past_due", "canceled", "unpaid", "incomplete", "incomplete_expired", "paused"]

    package init?(parsing body: some Sequence<UInt8>) {
        guard let json = JSONValue(parsing: body), case .string(let id)? = json["id"], id.hasPrefix("evt_"), id.count <= 255,
              case .string(let type)? = json["type"], type.count <= 100,
              case .int(let created)? = json["created"], let object = json["data"]?["object"], object.object != nil
        else { return nil }
        self.init(id: id, type: type, created: created, object: object)
    }

    package init(id: String, type: String, created: Int64, object: JSONValue) {
        self.id = id
        self.type = type
        self.created = created
        self.object = object
    }
}

/// A subscription as one event shows it.
package struct SubscriptionSnapshot: Sendable, Equatable {
    package var id: String
    package var customerID: String
    package var tenantID: String?
    package var status: String
    package var priceID: String?
    package var currentPeriodEnd: Int64?
    package var cancelAtPeriodEnd: Bool
    package var trialEnd: Int64?
    package var objectCreated: Int64

    /// Reads a Stripe subscription object. Since API version `2025-03-31.basil` the period lives on the
    /// items; older versions put it on the subscription, so both are read.
    package init?(_ object: JSONValue) {
        guard case .string(let id)? = object["id"], id.hasPrefix("sub_"),
              let customer = Self.id(object["customer"]), case .string(let status)? = object["status"],
              StripeEvent.statuses.contains(status) else { return nil }
        self.id = id
        customerID = customer
        self.status = status
        if case .string(let tenant)? = object["metadata"]?["tenant_id"], !tenant.isEmpty { tenantID = tenant }
        let item = object["items"]?["data"]?[0]
        priceID = Self.id(item?["price"]) ?? Self.id(object["plan"])
        currentPeriodEnd = item?["current_period_end"]?.int64 ?? object["current_period_end"]?.int64
        cancelAtPeriodEnd = object["cancel_at_period_end"]?.bool ?? false
        trialEnd = object["trial_end"]?.int64
        objectCreated = object["created"]?.int64 ?? 0
    }

    package init(id: String, customerID: String, tenantID: String?, status: String, priceID: String?, currentPeriodEnd: Int64?,
                 cancelAtPeriodEnd: Bool, trialEnd: Int64?, objectCreated: Int64) {
        self.id = id; self.customerID = customerID; self.tenantID = tenantID; self.status = status; self.priceID = priceID
        self.currentPeriodEnd = currentPeriodEnd; self.cancelAtPeriodEnd = cancelAtPeriodEnd; self.trialEnd = trialEnd
        self.objectCreated = objectCreated
    }

    /// An expandable Stripe reference: the id, or the expanded object's id.
    static func id(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let text)?: text.isEmpty ? nil : text
        case .object(let object)?: if case .string(let text)? = object["id"] { text } else { nil }
        default: nil
        }
    }

    /// Among states stamped with the same second, the one further along the lifecycle wins, so
    /// `created` (incomplete) and `updated` (active) in one second end active whatever their order.
    package static func rank(_ status: String) -> Int {
        switch status {
        case "incomplete": 0
        case "trialing": 1
        case "active": 2
        case "past_due": 3
        case "unpaid", "paused": 4
        case "incomplete_expired": 5
        case "canceled": 6
        default: -1
        }
    }
}

/// An invoice as `invoice.paid` / `invoice.payment_failed` shows it.
package struct InvoiceSnapshot: Sendable, Equatable {
    package var id: String
    package var customerID: String
    package var subscriptionID: String?
    package var status: String
    package var amountDue: Int64
    package var amountPaid: Int64
    package var currency: String
    package var priceID: String?
    package var periodEnd: Int64?
    package var created: Int64
    package var hostedURL: String?

    /// Reads an invoice; the subscription and price are where the API version of the event puts them
    /// (`subscription` and `lines.data[].price` before basil, `parent.subscription_details` and
    /// `lines.data[].pricing.price_details` since).
    package init?(_ object: JSONValue) {
        guard case .string(let id)? = object["id"], id.hasPrefix("in_"), let customer = SubscriptionSnapshot.id(object["customer"]) else { return nil }
        self.id = id
        customerID = customer
        subscriptionID = SubscriptionSnapshot.id(object["subscription"])
            ?? SubscriptionSnapshot.id(object["parent"]?["subscription_details"]?["subscription"])
        if case .string(let status)? = object["status"] { self.status = status } else { status = "open" }
        amountDue = object["amount_due"]?.int64 ?? 0
        amountPaid = object["amount_paid"]?.int64 ?? 0
        if case .string(let currency)? = object["currency"] { self.currency = currency } else { currency = "" }
        let line = object["lines"]?["data"]?[0]
        priceID = SubscriptionSnapshot.id(line?["price"]) ?? SubscriptionSnapshot.id(line?["pricing"]?["price_details"]?["price"])
        periodEnd = line?["period"]?["end"]?.int64 ?? object["period_end"]?.int64
        created = object["created"]?.int64 ?? 0
        if case .string(let url)? = object["hosted_invoice_url"] { hostedURL = url }
    }
}
