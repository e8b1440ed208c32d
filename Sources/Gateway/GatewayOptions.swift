import ArgumentParser
import Foundation
import Logging
import ServiceKit
import Wire

/// The gateway's settings (flags and environment variables).
package struct GatewayOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("http-host"), help: "Address the HTTP server binds (env HTTP_HOST; default 127.0.0.1).")
    package var httpHost: String?

    @Option(name: .customLong("http-port"), help: "Port of the HTTP server (env HTTP_PORT; default 8080).")
    package var httpPort: Int?

    @OptionGroup package var ingest: PeerOption<IngestPeer>
    @OptionGroup package var rules: PeerOption<RulesPeer>
    @OptionGroup package var sequence: PeerOption<SequencePeer>

    @Option(name: .customLong("public-base-url"), help: "The URL Kommo reaches the gateway at, for webhook URLs (env PUBLIC_BASE_URL).")
    package var publicBaseURL: String?

    @Option(name: .customLong("admin-token"), help: "Bearer token of the operator (env ADMIN_TOKEN). Unset: generated into the data folder.")
    package var adminToken: String?

    @Option(name: .customLong("max-body-bytes"), help: "Largest JSON request body (env MAX_BODY_BYTES; default 1048576).")
    package var maxBodyBytes: Int?

    @Option(name: .customLong("rpc-timeout-ms"), help: "Deadline of each call to a service (env RPC_TIMEOUT_MS; default 5000).")
    package var rpcTimeoutMilliseconds: Int?

    @Option(name: .customLong("webhook-timeout-ms"), help: "Deadline of storing a Kommo webhook; Kommo waits at most 2 s (env WEBHOOK_TIMEOUT_MS; default 1500).")
    package var webhookTimeoutMilliseconds: Int?

    @Option(name: .customLong("rate-limit"), help: "Requests per second per API key; bursts up to twice that (env RATE_LIMIT; default 50).")
    package var rateLimit: Int?

    @Option(name: .customLong("tenant-rate-limit"), help: "Requests per second per tenant across all its keys; bursts up to twice that (env TENANT_RATE_LIMIT; default 100).")
    package var tenantRateLimit: Int?

    @Option(name: .customLong("max-api-keys"), help: "Live API keys a tenant may hold (env MAX_API_KEYS; default 20).")
    package var maxAPIKeys: Int?

    @Option(name: .customLong("auth-failure-limit"), help: "Failed authentications per client address before it is throttled (env AUTH_FAILURE_LIMIT; default 10).")
    package var authFailureLimit: Int?

    @Option(name: .customLong("auth-failure-window-s"), help: "Window of the failed-authentication count, and how long a throttled address waits (env AUTH_FAILURE_WINDOW_S; default 60).")
    package var authFailureWindowSeconds: Int?

    @Option(name: .customLong("trusted-proxies"), help: "Comma-separated CIDRs of proxies whose X-Forwarded-For is believed (env TRUSTED_PROXIES). Unset: none.")
    package var trustedProxies: String?

    @Option(name: .customLong("metrics-token"), help: "Bearer token for GET /metrics (env METRICS_TOKEN); the admin token is accepted too.")
    package var metricsToken: String?

    @Option(name: .customLong("max-connections"), help: "Most HTTP connections open at once; more wait in the backlog (env MAX_CONNECTIONS; default 4096).")
    package var maxConnections: Int?

    @Option(name: .customLong("idle-timeout-ms"), help: "A kept-alive connection with no request is closed after this (env IDLE_TIMEOUT_MS; default 60000).")
    package var idleTimeoutMilliseconds: Int?

    @Option(name: .customLong("header-timeout-ms"), help: "A new connection's request head must be complete within this (env HEADER_TIMEOUT_MS; default 10000).")
    package var headerTimeoutMilliseconds: Int?

    @Option(name: .customLong("body-timeout-ms"), help: "A request body must be complete within this of its head (env BODY_TIMEOUT_MS; default 30000).")
    package var bodyTimeoutMilliseconds: Int?

    @Flag(name: .customLong("no-demo"), help: "Do not create the demo tenant on an empty store (env NO_DEMO=1 or true).")
    package var noDemo: Bool = false

    @Option(name: .customLong("pdftotext"), help: "poppler-utils' pdftotext, a path or a name on PATH, that reads uploaded PDF documents (env PDFTOTEXT; default pdftotext).")
    package var pdftotext: String?

    @OptionGroup package var billing: BillingOptions
    @Option(name: .customLong("kommo-client-id"), help: "The Kommo public integration's id, for the install button (env KOMMO_CLIENT_ID).")
    package var kommoClientID: String?

    @Option(name: .customLong("kommo-authorize-url"), help: "Kommo's authorize page (env KOMMO_AUTHORIZE_URL; default https://www.kommo.com/oauth; amoCRM: https://www.amocrm.ru/oauth).")
    package var kommoAuthorizeURL: String?

    @Option(name: .customLong("kommo-unknown-ids"), help: "What a rule, sequence, agent or script naming an id the connected Kommo account does not have gets: warn (saved, with warnings) or refuse (422) (env KOMMO_UNKNOWN_IDS; default warn).")
    package var kommoUnknownIDs: String?

    @OptionGroup package var process: ProcessOptions

    package init() {}

    /// The resolved configuration: a flag wins, then its environment variable, then the default. A
    /// variable that does not read as its setting's type stops startup with a message naming it.
    package func configuration(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> GatewayConfiguration {
        func resolve(_ flag: Int?, _ key: String, _ fallback: Int) throws -> Int {
            try flag ?? Env.integer(key, in: environment) ?? fallback
        }
        let httpHost = self.httpHost ?? Env.string("HTTP_HOST", in: environment) ?? "127.0.0.1"
        let httpPort = try resolve(self.httpPort, "HTTP_PORT", 8080)
        let maxBodyBytes = try resolve(self.maxBodyBytes, "MAX_BODY_BYTES", 1024 * 1024)
        let rpcTimeoutMilliseconds = try resolve(self.rpcTimeoutMilliseconds, "RPC_TIMEOUT_MS", 5000)
        let webhookTimeoutMilliseconds = try resolve(self.webhookTimeoutMilliseconds, "WEBHOOK_TIMEOUT_MS", 1500)
        let rateLimit = try resolve(self.rateLimit, "RATE_LIMIT", 50)
        let tenantRateLimit = try resolve(self.tenantRateLimit, "TENANT_RATE_LIMIT", 100)
        let maxAPIKeys = try resolve(self.maxAPIKeys, "MAX_API_KEYS", 20)
        let authFailureLimit = try resolve(self.authFailureLimit, "AUTH_FAILURE_LIMIT", 10)
        let authFailureWindowSeconds = try resolve(self.authFailureWindowSeconds, "AUTH_FAILURE_WINDOW_S", 60)
        let maxConnections = try resolve(self.maxConnections, "MAX_CONNECTIONS", 4096)
        let idleTimeoutMilliseconds = try resolve(self.idleTimeoutMilliseconds, "IDLE_TIMEOUT_MS", 60_000)
        let headerTimeoutMilliseconds = try resolve(self.headerTimeoutMilliseconds, "HEADER_TIMEOUT_MS", 10_000)
        let bodyTimeoutMilliseconds = try resolve(self.bodyTimeoutMilliseconds, "BODY_TIMEOUT_MS", 30_000)
        let trustedProxies = self.trustedProxies ?? Env.string("TRUSTED_PROXIES", in: environment) ?? ""
        let noDemo = try self.noDemo || Env.flag("NO_DEMO", in: environment) ?? false
        guard (0...65535).contains(httpPort) else { throw ConfigurationError("--http-port (HTTP_PORT) must be 0…65535") }
        guard maxBodyBytes >= 1024 else { throw ConfigurationError("--max-body-bytes (MAX_BODY_BYTES) must be at least 1024") }
        guard rateLimit >= 1 else { throw ConfigurationError("--rate-limit (RATE_LIMIT) must be at least 1") }
        guard rpcTimeoutMilliseconds >= 10 else { throw ConfigurationError("--rpc-timeout-ms (RPC_TIMEOUT_MS) must be at least 10") }
        guard webhookTimeoutMilliseconds >= 10 else { throw ConfigurationError("--webhook-timeout-ms (WEBHOOK_TIMEOUT_MS) must be at least 10") }
        guard tenantRateLimit >= 1 else { throw ConfigurationError("--tenant-rate-limit (TENANT_RATE_LIMIT) must be at least 1") }
        guard maxAPIKeys >= 1 else { throw ConfigurationError("--max-api-keys (MAX_API_KEYS) must be at least 1") }
        guard authFailureLimit >= 1, authFailureWindowSeconds >= 1 else {
            throw ConfigurationError("--auth-failure-limit (AUTH_FAILURE_LIMIT) and --auth-failure-window-s (AUTH_FAILURE_WINDOW_S) must be at least 1")
        }
        guard maxConnections >= 16 else { throw ConfigurationError("--max-connections (MAX_CONNECTIONS) must be at least 16") }
        guard idleTimeoutMilliseconds >= 100, headerTimeoutMilliseconds >= 100, bodyTimeoutMilliseconds >= 100 else {
            throw ConfigurationError("--idle-timeout-ms (IDLE_TIMEOUT_MS), --header-timeout-ms (HEADER_TIMEOUT_MS) and --body-timeout-ms (BODY_TIMEOUT_MS) must be at least 100")
        }
        var proxies: [CIDR] = []
        for entry in trustedProxies.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            guard let cidr = CIDR(entry) else { throw ConfigurationError("--trusted-proxies (TRUSTED_PROXIES): \(entry) is not an address or CIDR") }
            proxies.append(cidr)
        }
        let adminToken = self.adminToken ?? Env.string("ADMIN_TOKEN", in: environment)
        let metricsToken = self.metricsToken ?? Env.string("METRICS_TOKEN", in: environment)
        let publicBaseURL = self.publicBaseURL ?? Env.string("PUBLIC_BASE_URL", in: environment)
        if let adminToken { try GatewayConfiguration.checkToken(adminToken, key: "--admin-token / ADMIN_TOKEN") }
        let kommoAuthorizeURL = self.kommoAuthorizeURL ?? Env.string("KOMMO_AUTHORIZE_URL", in: environment) ?? KommoInstallSettings.kommoAuthorizeURL
        guard let authorize = URLComponents(string: kommoAuthorizeURL), let scheme = authorize.scheme, scheme == "https" || scheme == "http",
              authorize.host?.isEmpty == false, authorize.query == nil
        else { throw ConfigurationError("--kommo-authorize-url (KOMMO_AUTHORIZE_URL) must be an absolute URL without a query") }
        let kommoInstall = KommoInstallSettings(clientID: kommoClientID ?? Env.string("KOMMO_CLIENT_ID", in: environment),
                                                authorizeURL: kommoAuthorizeURL)
        let unknownIDsText = kommoUnknownIDs ?? Env.string("KOMMO_UNKNOWN_IDS", in: environment) ?? UnknownKommoIDs.warn.rawValue
        guard let unknownKommoIDs = UnknownKommoIDs(rawValue: unknownIDsText) else {
            throw ConfigurationError("--kommo-unknown-ids (KOMMO_UNKNOWN_IDS) must be warn or refuse")
        }
        if let metricsToken { try GatewayConfiguration.checkToken(metricsToken, key: "--metrics-token / METRICS_TOKEN") }
        let resolvedPublicBaseURL = publicBaseURL ?? "http://\(httpHost == "0.0.0.0" ? "localhost" : httpHost):\(httpPort)"
        var configuration = GatewayConfiguration(
            httpHost: httpHost, httpPort: httpPort, dataDir: process.dataDir(default: ".data/gateway"),
            ingestAddress: try ingest.resolved(), rulesAddress: try rules.resolved(), sequenceAddress: try sequence.resolved(),
            publicBaseURL: resolvedPublicBaseURL,
            adminToken: adminToken, maxBodyBytes: maxBodyBytes,
            rpcTimeout: .milliseconds(rpcTimeoutMilliseconds), webhookTimeout: .milliseconds(webhookTimeoutMilliseconds), firstRunDemo: !noDemo,
            rateLimitPerSecond: Double(rateLimit), rateLimitBurst: Double(rateLimit * 2),
            tenantRateLimitPerSecond: Double(tenantRateLimit), tenantRateLimitBurst: Double(tenantRateLimit * 2),
            maxAPIKeys: maxAPIKeys, authFailureLimit: authFailureLimit, authFailureWindow: .seconds(authFailureWindowSeconds),
            trustedProxies: proxies, metricsToken: metricsToken,
            connections: ConnectionLimits(maxConnections: maxConnections, idleTimeout: .milliseconds(idleTimeoutMilliseconds),
                                          headerTimeout: .milliseconds(headerTimeoutMilliseconds), bodyTimeout: .milliseconds(bodyTimeoutMilliseconds)),
            rpcSecurity: try process.security.security(identity: "gateway", logger: Logger(label: "gateway"), environment: environment),
            kommoInstall: kommoInstall)
        configuration.unknownKommoIDs = unknownKommoIDs
        configuration.pdftotext = pdftotext ?? Env.string("PDFTOTEXT", in: environment) ?? "pdftotext"
        configuration.billing = try billing.configuration(publicBaseURL: resolvedPublicBaseURL, environment: environment)
        return configuration
    }
}

/// The gateway's resolved configuration.
package struct GatewayConfiguration: Sendable {
    package var httpHost: String
    package var httpPort: Int
    package var dataDir: String
    package var ingestAddress: PeerAddress
    package var rulesAddress: PeerAddress
    package var sequenceAddress: PeerAddress
    package var publicBaseURL: String
    package var adminToken: String?
    package var maxBodyBytes: Int
    package var rpcTimeout: Duration
    /// Deadline of storing a Kommo webhook: below Kommo's 2 s, so a slow store answers 504 before Kommo
    /// gives up, and Kommo sends it again later.
    package var webhookTimeout: Duration
    /// On an empty store, create a `demo` tenant and write its key to `first-run.txt`.
    package var firstRunDemo: Bool
    /// Requests per second per API key, and the burst allowed above it.
    package var rateLimitPerSecond: Double
    package var rateLimitBurst: Double
    /// How the gateway's connections to the services are secured (mutual TLS as `gateway`).
    package var rpcSecurity: RPCSecurity
    /// Requests per second per tenant across all its keys (so more keys do not mean more rate), and its burst.
    package var tenantRateLimitPerSecond: Double
    package var tenantRateLimitBurst: Double
    /// Live (unrevoked) API keys a tenant may hold.
    package var maxAPIKeys: Int
    /// Failed authentications per client address within `authFailureWindow` before it answers 429.
    package var authFailureLimit: Int
    package var authFailureWindow: Duration
    /// Proxies whose `X-Forwarded-For` is believed; from anyone else the socket peer is the client.
    package var trustedProxies: [CIDR]
    /// Bearer token for `/metrics` besides the admin token.
    package var metricsToken: String?
    package var connections: ConnectionLimits
    /// Plans and Stripe; off by default (every tenant unlimited).
    package var billing: BillingConfiguration = .off
    /// The Kommo install button: the integration's id and Kommo's authorize page.
    package var kommoInstall: KommoInstallSettings
    /// What a document naming ids the connected Kommo account does not have gets.
    package var unknownKommoIDs: UnknownKommoIDs = .warn
    /// In `refuse` mode, a catalog older than this is read again from Kommo before an id is refused (the
    /// id may have been added in Kommo since); younger, it is trusted, so refusals do not spend the budget.
    package var kommoCatalogRecheck: Duration = .seconds(30)
    /// The program that turns an uploaded PDF into text (``PDFText``).
    package var pdftotext = "pdftotext"

    /// A configured token must be long enough to be 32 random bytes (base64url or hex encoded).
    package static func checkToken(_ token: String, key: String) throws {
        guard token.count >= 43 else {
            throw ConfigurationError("\(key) must be at least 43 characters (32 random bytes, e.g. `openssl rand -hex 32`); it has \(token.count)")
        }
    }

    package init(
        httpHost: String = "127.0.0.1", httpPort: Int = 8080, dataDir: String,
        ingestAddress: PeerAddress = PeerAddress(host: "127.0.0.1", port: 7101),
        rulesAddress: PeerAddress = PeerAddress(host: "127.0.0.1", port: 7102),
        sequenceAddress: PeerAddress = PeerAddress(host: "127.0.0.1", port: 7103),
        publicBaseURL: String = "http://localhost:8080", adminToken: String? = nil,
        maxBodyBytes: Int = 1024 * 1024, rpcTimeout: Duration = .seconds(5), webhookTimeout: Duration = .milliseconds(1500),
        firstRunDemo: Bool = false,
        rateLimitPerSecond: Double = 50, rateLimitBurst: Double = 100,
        tenantRateLimitPerSecond: Double = 100, tenantRateLimitBurst: Double = 200,
        maxAPIKeys: Int = 20, authFailureLimit: Int = 10, authFailureWindow: Duration = .seconds(60),
        trustedProxies: [CIDR] = [], metricsToken: String? = nil, connections: ConnectionLimits = ConnectionLimits(),
        rpcSecurity: RPCSecurity, kommoInstall: KommoInstallSettings = KommoInstallSettings()
    ) {
        self.rpcSecurity = rpcSecurity
        self.kommoInstall = kommoInstall
        self.tenantRateLimitPerSecond = tenantRateLimitPerSecond
        self.tenantRateLimitBurst = tenantRateLimitBurst
        self.maxAPIKeys = maxAPIKeys
        self.authFailureLimit = authFailureLimit
        self.authFailureWindow = authFailureWindow
        self.trustedProxies = trustedProxies
        self.metricsToken = metricsToken
        self.connections = connections
        self.firstRunDemo = firstRunDemo
        self.rateLimitPerSecond = rateLimitPerSecond
        self.rateLimitBurst = rateLimitBurst
        self.httpHost = httpHost
        self.httpPort = httpPort
        self.dataDir = dataDir
        self.ingestAddress = ingestAddress
        self.rulesAddress = rulesAddress
        self.sequenceAddress = sequenceAddress
        self.publicBaseURL = publicBaseURL
        self.adminToken = adminToken
        self.maxBodyBytes = maxBodyBytes
        self.rpcTimeout = rpcTimeout
        self.webhookTimeout = webhookTimeout
    }
}

extension GatewayConfiguration: CustomStringConvertible {
    /// The configuration without its secrets, safe to log.
    package var description: String {
        "GatewayConfiguration(http: \(httpHost):\(httpPort), data: \(dataDir), ingest: \(ingestAddress), rules: \(rulesAddress), "
            + "sequences: \(sequenceAddress), public: \(publicBaseURL), admin token: \(adminToken == nil ? "generated" : "set"), "
            + "trusted proxies: \(trustedProxies.count), connections: \(connections.maxConnections), \(billing))"
    }
}

/// What the gateway needs to send a user to Kommo's consent page.
package struct KommoInstallSettings: Sendable, Hashable {
    /// Kommo's own authorize page.
    package static let kommoAuthorizeURL = "https://www.kommo.com/oauth"
    /// The integration's id; `nil`: installing through OAuth is not offered (412).
    package var clientID: String?
    /// Where the user is sent (a Kommo emulator in tests).
    package var authorizeURL: String
    /// How long an issued state may come back.
    package var stateTTL: Duration

    package init(clientID: String? = nil, authorizeURL: String = KommoInstallSettings.kommoAuthorizeURL, stateTTL: Duration = .seconds(900)) {
        self.clientID = clientID.flatMap { $0.isEmpty ? nil : $0 }
        self.authorizeURL = authorizeURL
        self.stateTTL = stateTTL
    }
}
