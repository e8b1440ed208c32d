import Foundation
import Logging
import ServiceKit
import ServiceLifecycle
import Wire

extension GatewayApp {
    /// Tells sequence-service what a tenant's sends and enrollments are held to, and ingest-service its
    /// webhook allowance, from its billing state now: the plan's allowances, or blocked. Billing off:
    /// unlimited.
    static func pushTenantPlan(tenantID: String, store: GatewayStore, billing: BillingConfiguration, peers: Peers, clock: any WallClock,
                               requestID: String) async throws {
        let subscription = billing.enabled ? try await store.subscription(tenantID: tenantID) : nil
        let state = BillingPolicy.state(subscription: subscription, catalog: billing.catalog, enabled: billing.enabled, now: clock.now())
        var plan = PB.TenantPlan()
        plan.tenantId = tenantID
        plan.planId = state.plan.id
        plan.sendsBlocked = state.blocked
        plan.blockReason = state.blockReason ?? ""
        plan.aiRepliesPerMonth = state.plan.limits.aiRepliesPerMonth ?? -1
        plan.messagesPerMonth = state.plan.limits.messagesPerMonth ?? -1
        plan.activeEnrollments = state.plan.limits.activeEnrollments ?? -1
        plan.webhookEventsPerMonth = state.plan.limits.webhookEventsPerMonth ?? -1
        let options = peers.options(tenant: tenantID, requestID: requestID)
        _ = try await peers.sequences.setTenantPlan(plan, options: options)
        _ = try await peers.ingest.setTenantPlan(plan, options: options)
    }
}

/// Keeps sequence-service's copy of every tenant's plan true: all tenants once at start (so a plan
/// change whose push was missed, or billing switched on or off, is enforced), then the billed tenants
/// every `interval`, which is how a past-due subscription's grace period ending takes effect without
/// an event. A change from a Stripe webhook is pushed at once besides.
struct BillingPush: Service, CustomStringConvertible {
    let store: GatewayStore
    let billing: BillingConfiguration
    let peers: Peers
    let clock: any WallClock
    let logger: Logger
    var interval: Duration = .seconds(60)

    var description: String { "BillingPush" }

    func run() async throws {
        var delay = Duration.milliseconds(200)
        var pending = true
        while pending && !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await pushAll(requestID: "startup")
                pending = false
            } catch {
                logger.info("gateway.tenant_plan_push_retry", metadata: ["error": "\(error)"])
                // Cancelled sleep: the loop condition ends the retries.
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(30))
            }
        }
        guard billing.enabled else {
            try? await gracefulShutdown()
            return
        }
        var month = BillingPolicy.month(clock.now())
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // Shutdown cuts the sleep short; the loop condition then ends the service.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            let now = BillingPolicy.month(clock.now())
            if now != month {
                // A new month renews every tenant's allowances: ingest releases the webhooks it held.
                do {
                    try await pushAll(requestID: "new-month")
                    month = now
                } catch {
                    logger.warning("gateway.tenant_plan_push_failed", metadata: ["error": "\(error)"])
                }
            }
            await pushBilled()
        }
    }

    /// Pushes every tenant's plan, a page of tenants at a time.
    func pushAll(requestID: String) async throws {
        var after: String?
        repeat {
            let page = try await store.tenants(limit: 200, after: after)
            for tenant in page {
                try await GatewayApp.pushTenantPlan(tenantID: tenant.id, store: store, billing: billing, peers: peers, clock: clock,
                                                    requestID: requestID)
            }
            after = page.count == 200 ? page.last?.id : nil
        } while after != nil
    }

    /// Pushes every billed tenant's plan; one failing tenant does not stop the others.
    func pushBilled() async {
        do {
            for tenant in try await store.billedTenantIDs() {
                do {
                    try await GatewayApp.pushTenantPlan(tenantID: tenant, store: store, billing: billing, peers: peers, clock: clock,
                                                        requestID: "billing")
                } catch {
                    logger.warning("gateway.tenant_plan_push_failed", metadata: ["tenant.id": "\(tenant)", "error": "\(error)"])
                }
            }
        } catch {
            logger.warning("gateway.tenant_plan_push_failed", metadata: ["error": "\(error)"])
        }
    }
}
