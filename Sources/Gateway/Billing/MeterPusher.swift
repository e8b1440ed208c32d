import Basics
import Foundation
import Logging
import ServiceKit
import ServiceLifecycle
import Wire

/// Pushes the usage ledger to Stripe's Billing Meters (`POST /v1/billing/meter_events`) in the
/// background: each ledger entry once, in ledger order, with `identifier` = the entry's id, so a retry
/// (after a crash between Stripe's answer and our record of it) is never counted twice by Stripe. One
/// call at a time over all tenants, so never more than one per customer and meter; a 429 waits as long
/// as Stripe asks (or backs off) and tries the same entry again.
struct MeterPusher: Service, CustomStringConvertible {
    let store: GatewayStore
    let billing: BillingConfiguration
    let client: StripeClient
    let peers: Peers
    let clock: any WallClock
    let logger: Logger

    var description: String { "MeterPusher" }

    func run() async throws {
        guard !billing.catalog.meters.isEmpty else {
            try? await gracefulShutdown()
            return
        }
        var failures = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let ok = await pushAll()
            failures = ok ? 0 : failures + 1
            let wait = ok ? billing.meterPushInterval : min(billing.meterPushInterval * Double(1 << min(failures, 5)), .seconds(300))
            // Shutdown cuts the sleep short; the loop condition then ends the service.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
        }
    }

    /// One pass over every billed tenant; false when a tenant's push stopped on an error.
    func pushAll() async -> Bool {
        var ok = true
        do {
            for tenant in try await store.billedTenantIDs() {
                if Task.isShuttingDownGracefully { return ok }
                guard let customer = try await store.stripeCustomer(tenantID: tenant) else { continue }
                do {
                    try await push(tenant: tenant, customer: customer)
                } catch {
                    ok = false
                    logger.warning("gateway.meter_push_failed", metadata: ["tenant.id": "\(tenant)", "error": "\(error)"])
                }
            }
        } catch {
            logger.warning("gateway.meter_push_failed", metadata: ["error": "\(error)"])
            return false
        }
        return ok
    }

    private func push(tenant: String, customer: String) async throws {
        var cursor = try await store.meterCursor(tenantID: tenant)
        let options = peers.options(tenant: tenant, requestID: "meter-push")
        while !Task.isShuttingDownGracefully {
            var query = PB.DocumentQuery()
            query.cursor = String(cursor)
            query.limit = 200
            let page = try await peers.sequences.usageEntries(query, options: options)
            for item in page.items {
                guard let entry = JSONValue(parsing: item.json), let id = entry["id"]?.int64, let kind = entry["kind"]?.string,
                      let units = entry["units"]?.int64, let at = entry["at_micros"]?.int64 else { continue }
                let when = Date(unixMicros: at)
                let month = BillingPolicy.month(when)
                guard let meter = billing.catalog.meters[kind] else {
                    try await store.recordMeterPush(tenantID: tenant, ledgerID: id, month: month, kind: kind, meter: "", units: units,
                                                    status: "not_metered", now: clock.now())
                    cursor = id
                    continue
                }
                let now = clock.now()
                // Stripe takes events of the past 35 days, at most 5 minutes ahead.
                guard now.timeIntervalSince(when) < 35 * 86_400 - 3_600 else {
                    try await store.recordMeterPush(tenantID: tenant, ledgerID: id, month: month, kind: kind, meter: meter, units: units,
                                                    status: "refused", detail: "older than Stripe's 35 days", now: now)
                    cursor = id
                    continue
                }
                let timestamp = min(Int64(when.timeIntervalSince1970), Int64(now.timeIntervalSince1970))
                let status = try await send(meter: meter, customer: customer, units: units, identifier: "usage_\(tenant)_\(id)", timestamp: timestamp)
                try await store.recordMeterPush(tenantID: tenant, ledgerID: id, month: month, kind: kind, meter: meter, units: units,
                                                status: status.0, detail: status.1, now: clock.now())
                cursor = id
            }
            if page.nextCursor.isEmpty { return }
        }
    }

    /// Sends one meter event; retries a 429 after Stripe's wait (or a backoff). Answers `pushed`, or
    /// `refused` with Stripe's message for a 4xx no retry would change; throws on anything else.
    private func send(meter: String, customer: String, units: Int64, identifier: String, timestamp: Int64) async throws -> (String, String) {
        let form = [("event_name", meter), ("payload[stripe_customer_id]", customer), ("payload[value]", String(units)),
                    ("identifier", identifier), ("timestamp", String(timestamp))]
        let backoff = RetryBackoff(initial: .milliseconds(500), maximum: .seconds(30))
        var attempt = 0
        while true {
            attempt += 1
            do {
                _ = try await client.post("/v1/billing/meter_events", form: form, idempotencyKey: identifier)
                return ("pushed", "")
            } catch let failure as StripeClient.Failure where failure.status == 429 {
                let wait = failure.retryAfter.map { Duration.seconds(min($0, 30)) } ?? backoff.delay(afterAttempt: attempt)
                logger.info("gateway.meter_push_throttled", metadata: ["meter": "\(meter)", "wait": "\(wait)"])
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            } catch let failure as StripeClient.Failure where (400..<500).contains(failure.status) && failure.status != 409 {
                // Stripe's answer to an identifier it already has is an error too; the event counts once either way.
                if failure.message.contains("identifier") && failure.message.contains("already") { return ("pushed", "already at Stripe") }
                return ("refused", failure.message)
            }
        }
    }
}
