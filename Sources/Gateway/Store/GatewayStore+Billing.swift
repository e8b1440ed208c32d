import Basics
import Crypto
import Foundation
import GRDB
import Wire

// MARK: - Records

/// A tenant's subscription as the gateway knows it from Stripe's events.
package struct SubscriptionRecord: Sendable, Equatable {
    package var id: String
    package var customerID: String
    package var tenantID: String?
    package var status: String
    package var priceID: String?
    package var currentPeriodEnd: Int64?
    package var cancelAtPeriodEnd: Bool
    package var trialEnd: Int64?
    package var objectCreated: Int64
    /// `created` of the event whose state this is.
    package var stateAt: Int64
    /// Since when (unix seconds) it has been `past_due`, for the grace period.
    package var pastDueSince: Int64?

    package init(id: String, customerID: String, tenantID: String?, status: String, priceID: String?, currentPeriodEnd: Int64?,
                 cancelAtPeriodEnd: Bool, trialEnd: Int64?, objectCreated: Int64, stateAt: Int64, pastDueSince: Int64?) {
        self.id = id; self.customerID = customerID; self.tenantID = tenantID; self.status = status; self.priceID = priceID
        self.currentPeriodEnd = currentPeriodEnd; self.cancelAtPeriodEnd = cancelAtPeriodEnd; self.trialEnd = trialEnd
        self.objectCreated = objectCreated; self.stateAt = stateAt; self.pastDueSince = pastDueSince
    }
}

package struct InvoiceRecord: Sendable, Equatable {
    package var id: String
    package var subscriptionID: String?
    package var status: String
    package var amountDue: Int64
    package var amountPaid: Int64
    package var currency: String
    package var created: Int64
    package var hostedURL: String?
}

/// A Stripe event as stored: every authenticated delivery is kept, with what it did.
package struct StripeEventRecord: Sendable, Equatable {
    package var id: String
    package var type: String
    package var created: Int64
    package var tenantID: String?
    /// `applied` (changed billing state), `stale` (an older state than the one held), `ignored` (a type
    /// billing does not act on), `unmatched` (no tenant known yet), `unparsed`.
    package var outcome: String
    package var receivedAt: Date
}

/// An alert: a tenant's use of an allowance crossed 80 % or 100 % in a month.
package struct BillingAlertRecord: Sendable, Equatable {
    package var limit: String
    package var month: String
    package var threshold: Int
    package var used: Int64
    package var allowed: Int64
    package var at: Date
}

/// What storing a Stripe event did.
package enum StripeEventOutcome: String, Sendable {
    case applied, stale, ignored, unmatched, unparsed, duplicate
}

extension GatewayStore {
    /// Billing state: Stripe customers, subscriptions, invoices, every Stripe event, alerts and usage pushed.
    static func registerBillingMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v2-billing") { db in
            try db.execute(sql: """
                CREATE TABLE stripe_event (
                    id TEXT PRIMARY KEY NOT NULL,
                    type TEXT NOT NULL,
                    created INTEGER NOT NULL,
                    tenant_id TEXT,
                    customer_id TEXT,
                    outcome TEXT NOT NULL,
                    received_at INTEGER NOT NULL,
                    payload BLOB NOT NULL
                );
                CREATE INDEX stripe_event_by_tenant ON stripe_event(tenant_id, created);
                CREATE INDEX stripe_event_by_customer ON stripe_event(customer_id, created);
                CREATE TABLE billing_customer (
                    customer_id TEXT PRIMARY KEY NOT NULL,
                    tenant_id TEXT NOT NULL REFERENCES tenant(id),
                    created_at INTEGER NOT NULL
                );
                CREATE INDEX billing_customer_by_tenant ON billing_customer(tenant_id, created_at);
                CREATE TABLE billing_subscription (
                    id TEXT PRIMARY KEY NOT NULL,
                    customer_id TEXT NOT NULL,
                    tenant_id TEXT,
                    status TEXT NOT NULL,
                    price_id TEXT,
                    current_period_end INTEGER,
                    cancel_at_period_end INTEGER NOT NULL DEFAULT 0,
                    trial_end INTEGER,
                    object_created INTEGER NOT NULL,
                    state_at INTEGER NOT NULL,
                    past_due_since INTEGER
                );
                CREATE INDEX billing_subscription_by_customer ON billing_subscription(customer_id);
                CREATE TABLE billing_invoice (
                    id TEXT PRIMARY KEY NOT NULL,
                    customer_id TEXT NOT NULL,
                    subscription_id TEXT,
                    status TEXT NOT NULL,
                    amount_due INTEGER NOT NULL,
                    amount_paid INTEGER NOT NULL,
                    currency TEXT NOT NULL,
                    created INTEGER NOT NULL,
                    hosted_url TEXT
                );
                CREATE INDEX billing_invoice_by_customer ON billing_invoice(customer_id, created);
                CREATE TABLE billing_alert (
                    tenant_id TEXT NOT NULL,
                    limit_name TEXT NOT NULL,
                    month TEXT NOT NULL,
                    threshold INTEGER NOT NULL,
                    used INTEGER NOT NULL,
                    allowed INTEGER NOT NULL,
                    at INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, limit_name, month, threshold)
                );
                CREATE TABLE meter_push (
                    tenant_id TEXT NOT NULL,
                    ledger_id INTEGER NOT NULL,
                    month TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    meter TEXT NOT NULL,
                    units INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    detail TEXT NOT NULL DEFAULT '',
                    pushed_at INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, ledger_id)
                ) WITHOUT ROWID;
                CREATE INDEX meter_push_by_month ON meter_push(tenant_id, month, kind);
                """)
        }
    }

    private static func subscription(_ row: Row) -> SubscriptionRecord {
        SubscriptionRecord(id: row["id"], customerID: row["customer_id"], tenantID: row["tenant_id"], status: row["status"],
                           priceID: row["price_id"], currentPeriodEnd: row["current_period_end"],
                           cancelAtPeriodEnd: row["cancel_at_period_end"], trialEnd: row["trial_end"],
                           objectCreated: row["object_created"], stateAt: row["state_at"], pastDueSince: row["past_due_since"])
    }

    // MARK: - Stripe events

    /// Stores an authenticated Stripe event and applies it to billing state in one transaction, so that
    /// what Stripe is told was received is kept. An event id seen before changes nothing.
    /// Answers what it did and the tenant it concerns, when known.
    package func recordStripeEvent(_ event: StripeEvent, payload: Data, now: Date) async throws -> (outcome: StripeEventOutcome, tenantID: String?) {
        try await db.write { db in
            if try Bool.fetchOne(db, sql: "SELECT 1 FROM stripe_event WHERE id = ?", arguments: [event.id]) == true { return (.duplicate, nil) }
            let (outcome, tenant) = try Self.apply(event, db: db)
            let customer = SubscriptionSnapshot.id(event.object["customer"])
            try db.execute(sql: """
                INSERT INTO stripe_event (id, type, created, tenant_id, customer_id, outcome, received_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [event.id, event.type, event.created, tenant, customer, outcome.rawValue, now.unixMicros, payload])
            return (outcome, tenant)
        }
    }

    /// Keeps an authenticated body that is not a Stripe event, under the hash of its bytes.
    package func recordUnparsedStripeDelivery(payload: Data, now: Date) async throws -> String {
        let id = "unparsed_" + SHA256.hex(of: payload).prefix(32)
        try await db.write { db in
            try db.execute(sql: """
                INSERT OR IGNORE INTO stripe_event (id, type, created, tenant_id, outcome, received_at, payload) VALUES (?, '', 0, NULL, 'unparsed', ?, ?)
                """, arguments: [id, now.unixMicros, payload])
        }
        return id
    }

    private static func tenantExists(_ id: String, db: Database) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM tenant WHERE id = ?", arguments: [id]) == true
    }

    private static func tenant(customer: String, db: Database) throws -> String? {
        try String.fetchOne(db, sql: "SELECT tenant_id FROM billing_customer WHERE customer_id = ?", arguments: [customer])
    }

    /// What an event does. States are ordered by the event's `created` (ties by lifecycle rank), never by
    /// arrival, and `canceled` is final as it is at Stripe; so any order of the same events ends the same.
    private static func apply(_ event: StripeEvent, db: Database) throws -> (StripeEventOutcome, String?) {
        switch event.type {
        case "checkout.session.completed":
            guard case .string(let tenant)? = event.object["client_reference_id"], try tenantExists(tenant, db: db),
                  let customer = SubscriptionSnapshot.id(event.object["customer"]) else { return (.unmatched, nil) }
            try db.execute(sql: "INSERT OR IGNORE INTO billing_customer (customer_id, tenant_id, created_at) VALUES (?, ?, ?)",
                           arguments: [customer, tenant, event.created])
            if let subscription = SubscriptionSnapshot.id(event.object["subscription"]) {
                try db.execute(sql: "UPDATE billing_subscription SET tenant_id = coalesce(tenant_id, ?) WHERE id = ?", arguments: [tenant, subscription])
            }
            return (.applied, tenant)
        case let type where type.hasPrefix("customer.subscription."):
            guard StripeEvent.handled.contains(type), var snapshot = SubscriptionSnapshot(event.object) else { return (.ignored, nil) }
            if let claimed = snapshot.tenantID, try !tenantExists(claimed, db: db) { snapshot.tenantID = nil }
            let tenant = try snapshot.tenantID ?? tenant(customer: snapshot.customerID, db: db)
            let applied = try applySubscription(snapshot, at: event.created, db: db)
            return (applied ? (tenant == nil ? .unmatched : .applied) : .stale, tenant)
        case "invoice.paid", "invoice.payment_succeeded", "invoice.payment_failed":
            guard let invoice = InvoiceSnapshot(event.object) else { return (.ignored, nil) }
            let paid = event.type != "invoice.payment_failed"
            try db.execute(sql: """
                INSERT INTO billing_invoice (id, customer_id, subscription_id, status, amount_due, amount_paid, currency, created, hosted_url)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET status = CASE WHEN billing_invoice.status = 'paid' THEN 'paid' ELSE excluded.status END,
                    amount_paid = max(billing_invoice.amount_paid, excluded.amount_paid)
                """, arguments: [invoice.id, invoice.customerID, invoice.subscriptionID, paid ? "paid" : "payment_failed",
                                 invoice.amountDue, invoice.amountPaid, invoice.currency, invoice.created, invoice.hostedURL])
            let tenant = try tenant(customer: invoice.customerID, db: db)
            guard let subscriptionID = invoice.subscriptionID else { return (.applied, tenant) }
            let existing = try Row.fetchOne(db, sql: "SELECT * FROM billing_subscription WHERE id = ?", arguments: [subscriptionID]).map(subscription)
            // An invoice says how payment went, not the whole subscription: it moves a subscription
            // between paying states, and only when it is newer than the state held.
            if let existing {
                guard event.created >= existing.stateAt, existing.status != "canceled" else { return (.stale, tenant ?? existing.tenantID) }
                let from: Set<String> = paid ? ["past_due", "unpaid", "incomplete"] : ["active", "trialing"]
                guard from.contains(existing.status) else { return (.stale, tenant ?? existing.tenantID) }
                var next = existing
                next.status = paid ? "active" : "past_due"
                if paid, let price = invoice.priceID { next.priceID = price }
                if paid, let end = invoice.periodEnd { next.currentPeriodEnd = max(end, existing.currentPeriodEnd ?? 0) }
                _ = try applySubscription(SubscriptionSnapshot(
                    id: next.id, customerID: next.customerID, tenantID: next.tenantID, status: next.status, priceID: next.priceID,
                    currentPeriodEnd: next.currentPeriodEnd, cancelAtPeriodEnd: next.cancelAtPeriodEnd, trialEnd: next.trialEnd,
                    objectCreated: next.objectCreated), at: event.created, db: db, force: true)
                return (.applied, tenant ?? existing.tenantID)
            }
            // The subscription's own events have not arrived yet: what the invoice shows stands until they do.
            _ = try applySubscription(SubscriptionSnapshot(
                id: subscriptionID, customerID: invoice.customerID, tenantID: nil, status: paid ? "active" : "past_due",
                priceID: invoice.priceID, currentPeriodEnd: invoice.periodEnd, cancelAtPeriodEnd: false, trialEnd: nil,
                objectCreated: invoice.created), at: event.created, db: db)
            return (tenant == nil ? .unmatched : .applied, tenant)
        default:
            return (.ignored, nil)
        }
    }

    /// Writes a subscription state unless the one held is newer (or as new and further along).
    private static func applySubscription(_ snapshot: SubscriptionSnapshot, at created: Int64, db: Database, force: Bool = false) throws -> Bool {
        let existing = try Row.fetchOne(db, sql: "SELECT * FROM billing_subscription WHERE id = ?", arguments: [snapshot.id]).map(subscription)
        if let existing, !force {
            if existing.status == "canceled" && snapshot.status != "canceled" { return false }
            if created < existing.stateAt { return false }
            if created == existing.stateAt && SubscriptionSnapshot.rank(snapshot.status) < SubscriptionSnapshot.rank(existing.status) { return false }
        }
        let pastDueSince: Int64? = snapshot.status == "past_due" ? (existing?.status == "past_due" ? min(existing?.pastDueSince ?? created, created) : created) : nil
        try db.execute(sql: """
            INSERT INTO billing_subscription (id, customer_id, tenant_id, status, price_id, current_period_end, cancel_at_period_end,
                trial_end, object_created, state_at, past_due_since)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id, tenant_id = coalesce(excluded.tenant_id, billing_subscription.tenant_id),
                status = excluded.status, price_id = coalesce(excluded.price_id, billing_subscription.price_id),
                current_period_end = coalesce(excluded.current_period_end, billing_subscription.current_period_end),
                cancel_at_period_end = excluded.cancel_at_period_end, trial_end = coalesce(excluded.trial_end, billing_subscription.trial_end),
                object_created = CASE WHEN excluded.object_created > 0 THEN excluded.object_created ELSE billing_subscription.object_created END,
                state_at = excluded.state_at, past_due_since = excluded.past_due_since
            """, arguments: [snapshot.id, snapshot.customerID, snapshot.tenantID, snapshot.status, snapshot.priceID, snapshot.currentPeriodEnd,
                             snapshot.cancelAtPeriodEnd, snapshot.trialEnd, snapshot.objectCreated, max(created, existing?.stateAt ?? created),
                             pastDueSince])
        return true
    }

    // MARK: - Reading billing state

    /// The subscription that decides a tenant's plan: its newest live one, else its newest ended one.
    package func subscription(tenantID: String) async throws -> SubscriptionRecord? {
        try await db.read { db in
            try Row.fetchOne(db, sql: """
                SELECT s.* FROM billing_subscription s LEFT JOIN billing_customer c ON c.customer_id = s.customer_id
                WHERE coalesce(s.tenant_id, c.tenant_id) = ?
                ORDER BY s.status IN ('canceled', 'incomplete_expired'), s.object_created DESC, s.id DESC LIMIT 1
                """, arguments: [tenantID]).map(Self.subscription)
        }
    }

    /// Every tenant with a subscription or a Stripe customer, for the push of plan state at start.
    package func billedTenantIDs() async throws -> [String] {
        try await db.read { db in
            try String.fetchAll(db, sql: """
                SELECT DISTINCT t FROM (SELECT tenant_id AS t FROM billing_customer
                    UNION SELECT s.tenant_id FROM billing_subscription s WHERE s.tenant_id IS NOT NULL) ORDER BY t
                """)
        }
    }

    /// The tenant's Stripe customer, if it has one.
    package func stripeCustomer(tenantID: String) async throws -> String? {
        try await db.read { db in
            try String.fetchOne(db, sql: "SELECT customer_id FROM billing_customer WHERE tenant_id = ? ORDER BY created_at DESC LIMIT 1",
                                arguments: [tenantID])
                ?? String.fetchOne(db, sql: "SELECT customer_id FROM billing_subscription WHERE tenant_id = ? ORDER BY object_created DESC LIMIT 1",
                                   arguments: [tenantID])
        }
    }

    /// A tenant's latest invoices, newest first.
    package func invoices(tenantID: String, limit: Int) async throws -> [InvoiceRecord] {
        try await db.read { db in
            try Row.fetchAll(db, sql: """
                SELECT i.* FROM billing_invoice i LEFT JOIN billing_customer c ON c.customer_id = i.customer_id
                LEFT JOIN billing_subscription s ON s.id = i.subscription_id
                WHERE coalesce(c.tenant_id, s.tenant_id) = ? ORDER BY i.created DESC LIMIT ?
                """, arguments: [tenantID, limit]).map {
                InvoiceRecord(id: $0["id"], subscriptionID: $0["subscription_id"], status: $0["status"], amountDue: $0["amount_due"],
                              amountPaid: $0["amount_paid"], currency: $0["currency"], created: $0["created"], hostedURL: $0["hosted_url"])
            }
        }
    }

    /// A tenant's latest Stripe events, newest first.
    package func stripeEvents(tenantID: String, limit: Int) async throws -> [StripeEventRecord] {
        try await db.read { db in
            // Events that came before the tenant was known are found through its customer.
            try Row.fetchAll(db, sql: """
                SELECT id, type, created, coalesce(tenant_id, ?) AS tenant_id, outcome, received_at FROM stripe_event
                WHERE tenant_id = ? OR customer_id IN (SELECT customer_id FROM billing_customer WHERE tenant_id = ?)
                ORDER BY created DESC, id DESC LIMIT ?
                """, arguments: [tenantID, tenantID, tenantID, limit]).map {
                StripeEventRecord(id: $0["id"], type: $0["type"], created: $0["created"], tenantID: $0["tenant_id"], outcome: $0["outcome"],
                                  receivedAt: Date(unixMicros: $0["received_at"]))
            }
        }
    }

    /// How many Stripe events are stored (all tenants), for tests and operators.
    package func stripeEventCount() async throws -> Int {
        try await db.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM stripe_event") ?? 0 }
    }

    // MARK: - Alerts

    /// Records the alerts a use crosses (80 % and 100 % of an allowance, once per month each); answers the new ones.
    package func recordAlerts(tenantID: String, limit: String, month: String, used: Int64, allowed: Int64, now: Date) async throws -> [Int] {
        guard allowed > 0 else { return [] }
        let crossed = [80, 100].filter { used * 100 >= allowed * Int64($0) }
        guard !crossed.isEmpty else { return [] }
        return try await db.write { db in
            var fresh: [Int] = []
            for threshold in crossed {
                try db.execute(sql: """
                    INSERT OR IGNORE INTO billing_alert (tenant_id, limit_name, month, threshold, used, allowed, at) VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [tenantID, limit, month, threshold, used, allowed, now.unixMicros])
                if db.changesCount > 0 { fresh.append(threshold) }
            }
            return fresh
        }
    }

    package func alerts(tenantID: String, month: String) async throws -> [BillingAlertRecord] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM billing_alert WHERE tenant_id = ? AND month = ? ORDER BY at, limit_name, threshold",
                             arguments: [tenantID, month]).map {
                BillingAlertRecord(limit: $0["limit_name"], month: $0["month"], threshold: $0["threshold"], used: $0["used"],
                                   allowed: $0["allowed"], at: Date(unixMicros: $0["at"]))
            }
        }
    }
}

// MARK: - Usage pushed to Stripe's Billing Meters

/// Units pushed (or refused) per month and ledger kind, for the reconciliation.
package struct MeterPushTotal: Sendable, Equatable {
    package var month: String
    package var kind: String
    package var pushed: Int64
    package var refused: Int64
}

extension GatewayStore {
    /// The last ledger entry of the tenant that was pushed or refused: the pusher goes on after it.
    package func meterCursor(tenantID: String) async throws -> Int64 {
        try await db.read { db in
            try Int64.fetchOne(db, sql: "SELECT max(ledger_id) FROM meter_push WHERE tenant_id = ?", arguments: [tenantID]) ?? 0
        }
    }

    /// Records one ledger entry as pushed (`pushed`) or refused by Stripe (`refused`, with why).
    package func recordMeterPush(tenantID: String, ledgerID: Int64, month: String, kind: String, meter: String, units: Int64,
                                 status: String, detail: String = "", now: Date) async throws {
        try await db.write { db in
            try db.execute(sql: """
                INSERT OR IGNORE INTO meter_push (tenant_id, ledger_id, month, kind, meter, units, status, detail, pushed_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [tenantID, ledgerID, month, kind, meter, units, status, detail, now.unixMicros])
        }
    }

    package func meterTotals(tenantID: String) async throws -> [MeterPushTotal] {
        try await db.read { db in
            try Row.fetchAll(db, sql: """
                SELECT month, kind, coalesce(sum(CASE WHEN status = 'pushed' THEN units END), 0) AS pushed,
                       coalesce(sum(CASE WHEN status = 'refused' THEN units END), 0) AS refused
                FROM meter_push WHERE tenant_id = ? GROUP BY month, kind ORDER BY month, kind
                """, arguments: [tenantID]).map { MeterPushTotal(month: $0["month"], kind: $0["kind"], pushed: $0["pushed"], refused: $0["refused"]) }
        }
    }
}
