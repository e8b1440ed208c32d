import Basics
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Prometheus
import ServiceKit
import Wire

/// The composition root of the gateway: the HTTP application with its store, peers and routes.
package enum GatewayApp {
    package static func build(
        configuration: GatewayConfiguration, logger: Logger, metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        clock: any WallClock = SystemClock(), onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) async throws -> some ApplicationProtocol {
        let db = try StoreFactory.open(folder: configuration.dataDir, migrator: GatewayStore.migrator)
        let store = GatewayStore(db: db)
        let adminToken = try configuration.adminToken ?? loadOrCreateAdminToken(folder: configuration.dataDir)
        let peers = Peers(configuration: configuration, logger: logger)
        let stripeHTTP = configuration.billing.enabled ? StripeHTTPClient() : nil
        let billing = Billing(configuration: configuration.billing, store: store, peers: peers,
                              client: configuration.billing.stripe.flatMap { stripe in stripeHTTP.map { StripeClient(stripe: stripe, http: $0.client) } },
                              clock: clock)
        let router = try router(configuration: configuration, store: store, peers: peers, adminToken: adminToken, metrics: metrics,
                                clock: clock, billing: billing, logger: logger)
        ConnectionLimits.raiseFileLimit(for: configuration.connections.maxConnections)

        var app = Application(
            router: router,
            server: configuration.connections.server,
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.httpHost, port: configuration.httpPort), serverName: "gateway",
                backlog: 1024, availableConnectionsDelegate: MaximumAvailableConnections(configuration.connections.maxConnections, logger: logger)),
            onServerRunning: onServerRunning,
            logger: logger)
        // Services stop in reverse order: the HTTP server first, the peer connections last.
        app.addServices(peers, FirstRun(store: store, peers: peers, configuration: configuration, clock: clock, logger: logger))
        app.addServices(BillingPush(store: store, billing: configuration.billing, peers: peers, clock: clock, logger: logger))
        if let stripeHTTP { app.addServices(stripeHTTP) }
        if configuration.billing.enabled {
            app.addServices(AllowanceWatch(billing: billing, store: store, interval: configuration.billing.alertInterval, logger: logger))
        }
        if let client = billing.client {
            app.addServices(MeterPusher(store: store, billing: configuration.billing, client: client, peers: peers, clock: clock, logger: logger))
        }
        return app
    }

    /// Every route of the gateway, with its middleware. `OpenAPITests` compares it with the OpenAPI document.
    package static func router(configuration: GatewayConfiguration, store: GatewayStore, peers: Peers, adminToken: String,
                               metrics: PrometheusCollectorRegistry, clock: any WallClock = SystemClock(),
                               billing: Billing? = nil, logger: Logger = Logger(label: "gateway")) throws -> Router<GatewayContext> {
        let billing = billing ?? Billing(configuration: configuration.billing, store: store, peers: peers, client: nil, clock: clock)
        let authenticator = Authenticator(
            store: store, adminToken: adminToken,
            throttle: AuthFailureThrottle(limit: configuration.authFailureLimit, window: configuration.authFailureWindow), clock: clock)
        let router = Router(context: GatewayContext.self)
        router.add(middleware: GatewayMiddleware(maxBodyBytes: configuration.maxBodyBytes, metrics: HTTPMetrics(registry: metrics),
                                                 addresses: ClientAddressResolver(trustedProxies: configuration.trustedProxies)))
        addHealthRoutes(to: router, peers: peers)
        addInboundWebhookRoutes(to: router, peers: peers, timeout: configuration.webhookTimeout)
        addChatsWebhookRoutes(to: router, peers: peers, timeout: configuration.webhookTimeout)
        addStripeWebhookRoute(to: router, billing: billing, store: store, clock: clock, changed: { tenant in
            // Pushed again by BillingPush within a minute if this fails.
            do {
                try await pushTenantPlan(tenantID: tenant, store: store, billing: configuration.billing, peers: peers, clock: clock,
                                         requestID: "stripe")
            } catch {
                logger.warning("gateway.tenant_plan_push_failed", metadata: ["tenant.id": "\(tenant)", "error": "\(error)"])
            }
        })
        addMetricsRoutes(to: router, peers: peers, registry: metrics, authenticator: authenticator, token: configuration.metricsToken)
        let api = router.group("/api/v1")
        addOpenAPIRoutes(to: api)
        let tenantAPI = router.group("/api/v1").add(middleware: TenantAuthMiddleware(
            authenticator: authenticator, limiter: KeyRateLimiter(rate: configuration.rateLimitPerSecond, burst: configuration.rateLimitBurst),
            tenantLimiter: KeyRateLimiter(rate: configuration.tenantRateLimitPerSecond, burst: configuration.tenantRateLimitBurst)))
        addTenantRoutes(to: api, tenantAPI: tenantAPI, store: store, authenticator: authenticator, peers: peers, configuration: configuration,
                        clock: clock)
        addWebhookHistoryRoutes(to: tenantAPI, peers: peers, configuration: configuration)
        addRuleRunRoutes(to: tenantAPI, peers: peers, clock: clock)
        addCascadeRoutes(to: tenantAPI, peers: peers)
        addScriptRoutes(to: tenantAPI, peers: peers)
        addKnowledgeRoutes(to: tenantAPI, peers: peers, pdf: PDFText(program: configuration.pdftotext))
        addIntegrationRoutes(to: tenantAPI, peers: peers)
        addKommoConnectRoutes(to: router, tenantAPI: tenantAPI, store: store, peers: peers, configuration: configuration, clock: clock)
        addLeadTimelineRoutes(to: tenantAPI, peers: peers)
        addActionRoutes(to: tenantAPI, peers: peers)
        addUsageRoutes(to: tenantAPI, peers: peers)
        addAnalyticsRoutes(to: tenantAPI, peers: peers, clock: clock)
        addResourceRoutes(to: tenantAPI, peers: peers, store: store, clock: clock, billing: billing,
                          kommoIDs: configuration.unknownKommoIDs, kommoCatalogRecheck: configuration.kommoCatalogRecheck,
                          pdf: PDFText(program: configuration.pdftotext))
        addSequenceRoutes(to: tenantAPI, peers: peers)
        addBillingRoutes(to: tenantAPI, billing: billing, store: store)
        try addAdminRoutes(to: router)
        return router
    }

    /// The operator's token: from configuration, or generated once into the data folder (mode 0600) as
    /// 32 random bytes. A stored token shorter than that (from an older build) is replaced.
    static func loadOrCreateAdminToken(folder: String) throws -> String {
        let path = (folder as NSString).appendingPathComponent("admin-token")
        if FileManager.default.fileExists(atPath: path) {
            // A token file that cannot be read stops startup: replacing it would lock the operator out.
            let existing = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            // A token too short for today's rule (from an older build) is replaced, as documented above.
            if (try? GatewayConfiguration.checkToken(existing, key: "admin-token")) != nil { return existing }
        }
        let token = RandomID.make("adm_", hexDigits: 64)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        return token
    }
}
