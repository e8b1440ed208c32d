import Foundation

/// Where a tenant stands: its plan, its subscription's status and whether its sends are blocked.
package struct TenantBillingState: Sendable, Equatable {
    package var plan: Plan
    /// The subscription's status, `none` without one.
    package var status: String
    /// AI replies and messages are not sent (they are recorded `blocked (plan limit)`).
    package var blocked: Bool
    package var blockReason: String?
    package var subscription: SubscriptionRecord?
}

/// The rules that turn a subscription into a plan and a verdict.
package enum BillingPolicy {
    /// Statuses whose sends stop at once.
    package static let blockingStatuses: Set<String> = ["unpaid", "canceled", "incomplete_expired", "paused"]

    package static func state(subscription: SubscriptionRecord?, catalog: PlanCatalog, enabled: Bool, now: Date) -> TenantBillingState {
        guard enabled else { return TenantBillingState(plan: catalog.defaultPlan, status: "none", blocked: false, blockReason: nil, subscription: nil) }
        guard let subscription else {
            return TenantBillingState(plan: catalog.defaultPlan, status: "none", blocked: false, blockReason: nil, subscription: nil)
        }
        let paidPlan = subscription.priceID.flatMap(catalog.plan(priceID:)) ?? catalog.defaultPlan
        switch subscription.status {
        case "active", "trialing":
            return TenantBillingState(plan: paidPlan, status: subscription.status, blocked: false, blockReason: nil, subscription: subscription)
        case "past_due":
            let since = Date(timeIntervalSince1970: TimeInterval(subscription.pastDueSince ?? subscription.stateAt))
            let graceEnds = since.addingTimeInterval(TimeInterval(catalog.pastDueGrace.components.seconds))
            let over = now >= graceEnds
            return TenantBillingState(plan: paidPlan, status: "past_due", blocked: over,
                                      blockReason: over ? "the subscription is past due beyond its grace period" : nil, subscription: subscription)
        case "incomplete":
            // The first payment is pending: the tenant keeps the plan it had without a subscription.
            return TenantBillingState(plan: catalog.defaultPlan, status: "incomplete", blocked: false, blockReason: nil, subscription: subscription)
        default:
            return TenantBillingState(plan: paidPlan, status: subscription.status, blocked: true,
                                      blockReason: "the subscription is \(subscription.status)", subscription: subscription)
        }
    }

    /// `YYYY-MM` of a moment, in UTC: allowances are per calendar month.
    package static func month(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month], from: date)
        return String(format: "%04d-%02d", parts.year ?? 1970, parts.month ?? 1)
    }

    /// The first moment of the UTC month of `date`.
    package static func monthStart(_ date: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: calendar.dateComponents([.year, .month], from: date)) ?? date
    }
}
