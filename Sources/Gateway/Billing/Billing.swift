import Basics
import Foundation
import HTTPTypes
import Logging
import ServiceKit
import Wire

/// Billing as the gateway runs it: plans, the tenants' Stripe state, Checkout and the Billing Portal,
/// usage against the plan's limits and the alerts it raises.
package struct Billing: Sendable {
    package let configuration: BillingConfiguration
    let store: GatewayStore
    let peers: Peers
    let client: StripeClient?
    let clock: any WallClock
    /// One check-and-create at a time per tenant and limit (see ``withRoom(for:tenantID:options:_:)``).
    let slots = PlanSlots()

    package init(configuration: BillingConfiguration, store: GatewayStore, peers: Peers, client: StripeClient?, clock: any WallClock) {
        self.configuration = configuration
        self.store = store
        self.peers = peers
        self.client = client
        self.clock = clock
    }

    package var catalog: PlanCatalog { configuration.catalog }

    /// The tenant's plan and whether its sends are blocked, now.
    package func state(tenantID: String) async throws -> TenantBillingState {
        let subscription = configuration.enabled ? try await store.subscription(tenantID: tenantID) : nil
        return BillingPolicy.state(subscription: subscription, catalog: catalog, enabled: configuration.enabled, now: clock.now())
    }

    // MARK: - Usage against limits

    /// One limit of the plan and the tenant's use of it.
    package struct Use: Sendable, Equatable {
        package var limit: String
        package var used: Int64
        /// `nil`: unlimited.
        package var allowed: Int64?
    }

    /// The tenant's use of every limit: live counts for agents, rules, sequences and enrollments, the
    /// current UTC month for AI replies, messages and webhook events.
    package func usage(tenantID: String, requestID: String) async throws -> [Use] {
        let state = try await state(tenantID: tenantID)
        let options = peers.options(tenant: tenantID, requestID: requestID)
        let counts = try await ResourceCounts.count(peers: peers, options: options)
        let monthly = try await monthlyUse(tenantID: tenantID, options: options)
        let used: [String: Int64] = monthly.merging([
            "agents": counts.agents, "active_rules": counts.activeRules, "active_sequences": counts.activeSequences,
            "active_enrollments": counts.activeEnrollments,
        ]) { _, new in new }
        return PlanLimits.names.map { Use(limit: $0, used: used[$0] ?? 0, allowed: state.plan.limits[name: $0]) }
    }

    /// This UTC month's use of the monthly allowances: AI replies and messages from sequence-service's
    /// usage ledger, events from Kommo's webhooks from ingest-service.
    func monthlyUse(tenantID: String, options: CallOptions) async throws -> [String: Int64] {
        let monthStart = BillingPolicy.monthStart(clock.now())
        var list = PB.DocumentQuery()
        list.filters = [PB.KeyValue(key: "from_micros", value: String(monthStart.unixMicros))]
        let ledger = try await peers.sequences.usage(list, options: options)
        var totals: [String: Int64] = [:]
        for item in ledger.items {
            guard let day = JSONValue(parsing: item.json), let kind = day["kind"]?.string, let units = day["units"]?.int64 else { continue }
            totals[kind, default: 0] += units
        }
        var stats = PB.StatsRequest()
        stats.fromMicros = monthStart.unixMicros
        let events = try await peers.ingest.stats(stats, options: options).webhookEvents
        return ["ai_replies_per_month": totals["ai_reply"] ?? 0, "messages_per_month": totals["message_sent"] ?? 0,
                "webhook_events_per_month": events]
    }

    /// The tenant's webhook events held now because the plan's `webhook_events_per_month` is used up.
    package func heldWebhookEvents(tenantID: String, requestID: String) async throws -> Int64 {
        var stats = PB.StatsRequest()
        // Only the held count is wanted: a range that holds no event keeps the rest of the answer empty.
        stats.fromMicros = clock.now().unixMicros
        stats.toMicros = stats.fromMicros
        return try await peers.ingest.stats(stats, options: peers.options(tenant: tenantID, requestID: requestID)).planHeld
    }

    /// An alert recorded by ``raiseAlerts(tenantID:requestID:)`` just now.
    package struct RaisedAlert: Sendable, Equatable {
        package var limit: String
        package var threshold: Int
        package var used: Int64
        package var allowed: Int64
    }

    /// Looks at the tenant's monthly use now and records the 80 % and 100 % alerts it has crossed (each
    /// once per month); answers the ones new with this look. ``AllowanceWatch`` calls it for every tenant,
    /// so an alert is raised when the use crosses it, whether or not anyone opens the billing page.
    package func raiseAlerts(tenantID: String, requestID: String) async throws -> [RaisedAlert] {
        guard configuration.enabled else { return [] }
        let plan = try await state(tenantID: tenantID).plan
        let monthly = PlanLimits.names.filter { $0.hasSuffix("_per_month") && plan.limits[name: $0] != nil }
        guard !monthly.isEmpty else { return [] }
        let used = try await monthlyUse(tenantID: tenantID, options: peers.options(tenant: tenantID, requestID: requestID))
        let now = clock.now()
        var raised: [RaisedAlert] = []
        for limit in monthly {
            guard let allowed = plan.limits[name: limit] else { continue }
            let use = used[limit] ?? 0
            for threshold in try await store.recordAlerts(tenantID: tenantID, limit: limit, month: BillingPolicy.month(now), used: use,
                                                          allowed: allowed, now: now) {
                raised.append(RaisedAlert(limit: limit, threshold: threshold, used: use, allowed: allowed))
            }
        }
        return raised
    }

    /// Records the 80 % and 100 % alerts the tenant's monthly use has crossed; answers the month's alerts.
    package func alerts(tenantID: String, usage: [Use]) async throws -> [BillingAlertRecord] {
        let now = clock.now()
        let month = BillingPolicy.month(now)
        for use in usage where use.limit.hasSuffix("_per_month") {
            guard let allowed = use.allowed else { continue }
            _ = try await store.recordAlerts(tenantID: tenantID, limit: use.limit, month: month, used: use.used, allowed: allowed, now: now)
        }
        return try await store.alerts(tenantID: tenantID, month: month)
    }

    // MARK: - Reconciliation

    /// Units in the ledger against units pushed to Stripe, per UTC month (this one and the last) and metered kind.
    package struct Reconciliation: Sendable, Equatable {
        package var month: String
        package var kind: String
        package var meter: String
        package var ledger: Int64
        package var pushed: Int64
        package var refused: Int64
        /// ledger − pushed: units Stripe has not counted (yet, or refused).
        package var difference: Int64 { ledger - pushed }
    }

    package func reconciliation(tenantID: String, requestID: String) async throws -> [Reconciliation] {
        guard configuration.enabled, !catalog.meters.isEmpty else { return [] }
        let now = clock.now()
        let thisMonth = BillingPolicy.monthStart(now)
        let lastMonth = BillingPolicy.monthStart(thisMonth.addingTimeInterval(-86_400))
        var list = PB.DocumentQuery()
        list.filters = [PB.KeyValue(key: "from_micros", value: String(lastMonth.unixMicros))]
        let ledger = try await peers.sequences.usage(list, options: peers.options(tenant: tenantID, requestID: requestID))
        var units: [String: Int64] = [:]
        for item in ledger.items {
            guard let day = JSONValue(parsing: item.json), let date = day["day"]?.string, let kind = day["kind"]?.string,
                  let count = day["units"]?.int64 else { continue }
            units["\(date.prefix(7))|\(kind)", default: 0] += count
        }
        let pushed = try await store.meterTotals(tenantID: tenantID)
        var rows: [Reconciliation] = []
        for month in [BillingPolicy.month(lastMonth), BillingPolicy.month(now)] {
            for (kind, meter) in catalog.meters.sorted(by: { $0.key < $1.key }) {
                let total = pushed.first { $0.month == month && $0.kind == kind }
                let row = Reconciliation(month: month, kind: kind, meter: meter, ledger: units["\(month)|\(kind)"] ?? 0,
                                         pushed: total?.pushed ?? 0, refused: total?.refused ?? 0)
                if row.ledger > 0 || row.pushed > 0 || row.refused > 0 { rows.append(row) }
            }
        }
        return rows
    }

    // MARK: - Creating beyond the plan

    /// Runs `create` (a create, or a patch that makes a resource count) only if the plan has room for one
    /// more of `limit`, with the count and the create serialised per tenant and limit: of two requests
    /// racing for the last free slot exactly one gets it, the other is refused with 402.
    package func withRoom<T: Sendable>(for limit: String, tenantID: String, options: CallOptions,
                                       _ create: @Sendable () async throws -> T) async throws -> T {
        guard configuration.enabled else { return try await create() }
        return try await slots.serialized("\(tenantID)|\(limit)") {
            try await requireRoom(for: limit, tenantID: tenantID, options: options)
            return try await create()
        }
    }

    /// Refuses a create that would take the tenant past its plan: 402 naming the limit.
    package func requireRoom(for limit: String, tenantID: String, options: CallOptions) async throws {
        guard configuration.enabled else { return }
        let state = try await state(tenantID: tenantID)
        guard let allowed = state.plan.limits[name: limit] else { return }
        let counts = try await ResourceCounts.count(peers: peers, options: options, only: limit)
        let used = counts[limit]
        guard used >= allowed else { return }
        throw Problem(status: HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required"),
                      detail: "plan limit \(limit) reached: the \(state.plan.name) plan allows \(allowed) and the tenant has \(used); upgrade the plan or remove some first",
                      limit: limit)
    }

    // MARK: - Stripe sessions

    /// A Checkout Session subscribing the tenant to `planID`; answers its id and URL.
    package func checkout(tenantID: String, planID: String, idempotencyKey: String?) async throws -> (id: String, url: String) {
        guard let client else { throw Problem(status: .conflict, detail: "billing is off on this deployment: every tenant is unlimited") }
        guard let plan = catalog.plan(id: planID) else {
            throw Problem.field("plan", "must be one of \(catalog.plans.filter { $0.stripePriceID != nil }.map(\.id).joined(separator: ", "))")
        }
        guard let price = plan.stripePriceID else { throw Problem.field("plan", "\(plan.id) is not a plan one subscribes to") }
        var form: [(String, String)] = [
            ("mode", "subscription"), ("line_items[0][price]", price), ("line_items[0][quantity]", "1"),
            ("client_reference_id", tenantID), ("metadata[tenant_id]", tenantID), ("metadata[plan]", plan.id),
            ("subscription_data[metadata][tenant_id]", tenantID),
            ("success_url", configuration.returnURL + "?checkout=success&session_id={CHECKOUT_SESSION_ID}"),
            ("cancel_url", configuration.returnURL + "?checkout=canceled"),
        ]
        if let customer = try await store.stripeCustomer(tenantID: tenantID) { form.append(("customer", customer)) }
        let key = "checkout:\(tenantID):\(plan.id):\(idempotencyKey ?? RandomID.make("", hexDigits: 32))"
        let session = try await call { try await client.post("/v1/checkout/sessions", form: form, idempotencyKey: key) }
        guard let id = session["id"]?.string, let url = session["url"]?.string else {
            throw Problem(status: .badGateway, detail: "Stripe's Checkout Session has no id or url")
        }
        return (id, url)
    }

    /// A Billing Portal session for the tenant's Stripe customer; answers its URL.
    package func portal(tenantID: String, idempotencyKey: String?) async throws -> String {
        guard let client else { throw Problem(status: .conflict, detail: "billing is off on this deployment: every tenant is unlimited") }
        guard let customer = try await store.stripeCustomer(tenantID: tenantID) else {
            throw Problem(status: .conflict, detail: "the tenant has no Stripe customer yet: subscribe through checkout first")
        }
        let key = "portal:\(tenantID):\(idempotencyKey ?? RandomID.make("", hexDigits: 32))"
        let session = try await call {
            try await client.post("/v1/billing_portal/sessions", form: [("customer", customer), ("return_url", configuration.returnURL)], idempotencyKey: key)
        }
        guard let url = session["url"]?.string else { throw Problem(status: .badGateway, detail: "Stripe's portal session has no url") }
        return url
    }

    /// A Stripe failure is the upstream's: 502 with Stripe's message (or 503 when Stripe asks to wait).
    private func call(_ body: () async throws -> JSONValue) async throws -> JSONValue {
        do {
            return try await body()
        } catch let failure as StripeClient.Failure {
            throw Problem(status: failure.status == 429 ? .serviceUnavailable : .badGateway, detail: "Stripe: \(failure.message)")
        } catch let problem as Problem {
            throw problem
        } catch {
            throw Problem(status: .badGateway, detail: "Stripe could not be reached")
        }
    }
}

/// How many of each counted resource a tenant holds, asked of the services that own them.
package struct ResourceCounts: Sendable {
    package var agents: Int64 = 0
    package var activeRules: Int64 = 0
    package var activeSequences: Int64 = 0
    package var activeEnrollments: Int64 = 0

    package subscript(limit: String) -> Int64 {
        switch limit {
        case "agents": agents
        case "active_rules": activeRules
        case "active_sequences": activeSequences
        case "active_enrollments": activeEnrollments
        default: 0
        }
    }

    /// Pages through the tenant's agents (and, as needed, their rules, sequences and enrollments).
    /// Bounded by the services' quotas (at most 100 agents, 2 000 rules, 500 sequences per tenant).
    package static func count(peers: Peers, options: CallOptions, only: String? = nil) async throws -> ResourceCounts {
        var counts = ResourceCounts()
        var agentIDs: [String] = []
        var cursor = ""
        repeat {
            var query = PB.DocumentQuery()
            query.limit = 200
            query.cursor = cursor
            let page = try await peers.rules.listAgents(query, options: options)
            agentIDs += page.items.map(\.id)
            cursor = page.nextCursor
        } while !cursor.isEmpty
        counts.agents = Int64(agentIDs.count)
        if only == "agents" { return counts }
        for agent in agentIDs {
            if only == nil || only == "active_rules" {
                counts.activeRules += try await countPages { cursor in
                    var query = PB.DocumentQuery()
                    query.parentId = agent
                    query.limit = 200
                    query.cursor = cursor
                    query.filters = [PB.KeyValue(key: "enabled", value: "true")]
                    return try await peers.rules.listRules(query, options: options)
                }
            }
            if only == nil || only == "active_sequences" || only == "active_enrollments" {
                // Every sequence: a paused or draft one can still hold live enrollments.
                var sequenceIDs: [String] = []
                var cursor = ""
                repeat {
                    var query = PB.DocumentQuery()
                    query.parentId = agent
                    query.limit = 200
                    query.cursor = cursor
                    let page = try await peers.sequences.listSequences(query, options: options)
                    sequenceIDs += page.items.map(\.id)
                    counts.activeSequences += Int64(page.items.filter { JSONValue(parsing: $0.json)?["status"]?.string == "active" }.count)
                    cursor = page.nextCursor
                } while !cursor.isEmpty
                if only == nil || only == "active_enrollments" {
                    // Live enrollments, active or paused, in any sequence: what sequence-service counts against the plan.
                    for sequence in sequenceIDs {
                        for state in ["active", "paused"] {
                            counts.activeEnrollments += try await countPages { cursor in
                                var query = PB.DocumentQuery()
                                query.parentId = sequence
                                query.limit = 200
                                query.cursor = cursor
                                query.filters = [PB.KeyValue(key: "agent_id", value: agent), PB.KeyValue(key: "state", value: state)]
                                return try await peers.sequences.listEnrollments(query, options: options)
                            }
                        }
                    }
                }
            }
        }
        return counts
    }

    private static func countPages(_ page: (String) async throws -> PB.DocumentPage) async throws -> Int64 {
        var total: Int64 = 0
        var cursor = ""
        var pages = 0
        repeat {
            let answer = try await page(cursor)
            total += Int64(answer.items.count)
            cursor = answer.nextCursor
            pages += 1
        } while !cursor.isEmpty && pages < 1000
        return total
    }
}
