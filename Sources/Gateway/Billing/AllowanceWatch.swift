import Logging
import ServiceLifecycle

/// Raises the 80 % and 100 % alerts of every tenant's monthly allowances as its use crosses them:
/// every `interval` it looks at each tenant's use this month (two reads per tenant: the usage ledger
/// and the webhook count) and records the thresholds newly crossed, logging each once. The billing
/// page and `GET /api/v1/billing` then list them with the time they were raised.
struct AllowanceWatch: Service, CustomStringConvertible {
    let billing: Billing
    let store: GatewayStore
    let interval: Duration
    let logger: Logger

    var description: String { "AllowanceWatch" }

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // Shutdown cuts the sleep short; the loop condition then ends the service.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            guard !Task.isCancelled && !Task.isShuttingDownGracefully else { return }
            await checkAll()
        }
    }

    /// One look at every tenant; one failing tenant does not stop the others.
    func checkAll() async {
        var after: String?
        repeat {
            let page: [TenantRecord]
            do {
                page = try await store.tenants(limit: 200, after: after)
            } catch {
                logger.warning("gateway.allowance_watch_failed", metadata: ["error": "\(error)"])
                return
            }
            for tenant in page {
                do {
                    for alert in try await billing.raiseAlerts(tenantID: tenant.id, requestID: "alerts") {
                        logger.notice("gateway.billing_alert", metadata: [
                            "tenant.id": "\(tenant.id)", "billing.limit": "\(alert.limit)", "billing.threshold": "\(alert.threshold)",
                            "billing.used": "\(alert.used)", "billing.allowed": "\(alert.allowed)",
                        ])
                    }
                } catch {
                    logger.warning("gateway.allowance_watch_failed", metadata: ["tenant.id": "\(tenant.id)", "error": "\(error)"])
                }
            }
            after = page.count == 200 ? page.last?.id : nil
        } while after != nil
    }
}
