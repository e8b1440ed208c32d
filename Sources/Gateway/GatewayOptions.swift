import ArgumentParser
import Foundation
import Logging
import ServiceKit
import Wire

/// The gateway's settings (flags and environment variables).
package struct GatewayOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("http-host"), help: "Address the HTTP server binds (env HTTP_HOST).")
    package var httpHost: String = Env.string("HTTP_HOST") ?? "127.0.0.1"

    @Option(name: .customLong("http-port"), help: "Port of the HTTP server (env HTTP_PORT).")
    package var httpPort: Int = Env.int("HTTP_PORT") ?? 8080

    @Option(name: .customLong("data-dir"), help: "Folder of the gateway's SQLite store (env DATA_DIR).")
    package var dataDir: String = Env.string("DATA_DIR") ?? ".data/gateway"

    @Option(name: .customLong("ingest-address"), help: "ingest-service host:port (env INGEST_ADDRESS).")
    package var ingestAddress: String = Env.string("INGEST_ADDRESS") ?? "127.0.0.1:7101"

    @Option(name: .customLong("rules-address"), help: "rules-service host:port (env RULES_ADDRESS).")
    package var rulesAddress: String = Env.string("RULES_ADDRESS") ?? "127.0.0.1:7102"

    @Option(name: .customLong("sequence-address"), help: "sequence-service host:port (env SEQUENCE_ADDRESS).")
    package var sequenceAddress: String = Env.string("SEQUENCE_ADDRESS") ?? "127.0.0.1:7103"

    @Option(name: .customLong("public-base-url"), help: "The URL Kommo reaches the gateway at, for webhook URLs (env PUBLIC_BASE_URL).")
    package var publicBaseURL: String?

    @Option(name: .customLong("admin-token"), help: "Bearer token of the operator (env ADMIN_TOKEN). Unset: generated into the data folder.")
    package var adminToken: String?

    @Option(name: .customLong("max-body-bytes"), help: "Largest JSON request body (env MAX_BODY_BYTES).")
    package var maxBodyBytes: Int = Env.int("MAX_BODY_BYTES") ?? 1024 * 1024

    @Option(name: .customLong("rpc-timeout-ms"), help: "Deadline of each call to a service (env RPC_TIMEOUT_MS).")
    package var rpcTimeoutMilliseconds: Int = Env.int("RPC_TIMEOUT_MS") ?? 5000

    @Option(name: .customLong("webhook-timeout-ms"), help: "Deadline of storing a Kommo webhook; Kommo waits at most 2 s (env WEBHOOK_TIMEOUT_MS).")
    package var webhookTimeoutMilliseconds: Int = Env.int("WEBHOOK_TIMEOUT_MS") ?? 1500

    @Option(name: .customLong("rate-limit"), help: "Requests per second per API key; bursts up to twice that (env RATE_LIMIT).")
    package var rateLimit: Int = Env.int("RATE_LIMIT") ?? 50

    @Flag(name: .customLong("no-demo"), help: "Do not create the demo tenant on an empty store (env NO_DEMO=1).")
    package var noDemo: Bool = Env.string("NO_DEMO") == "1"

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (env LOG_LEVEL).")
    package var logLevel: String = Env.string("LOG_LEVEL") ?? "info"

    @OptionGroup package var rpcSecurity: RPCSecurityOptions

    package init() {}

    package func configuration() throws -> GatewayConfiguration {
        guard (0...65535).contains(httpPort) else { throw ConfigurationError("--http-port must be 0…65535") }
        guard maxBodyBytes >= 1024 else { throw ConfigurationError("--max-body-bytes must be at least 1024") }
        guard rateLimit >= 1 else { throw ConfigurationError("--rate-limit must be at least 1") }
        guard rpcTimeoutMilliseconds >= 10 else { throw ConfigurationError("--rpc-timeout-ms must be at least 10") }
        guard webhookTimeoutMilliseconds >= 10 else { throw ConfigurationError("--webhook-timeout-ms must be at least 10") }
        let adminToken = self.adminToken ?? Env.string("ADMIN_TOKEN")
        let publicBaseURL = self.publicBaseURL ?? Env.string("PUBLIC_BASE_URL")
        if let adminToken, adminToken.count < 16 { throw ConfigurationError("--admin-token must be at least 16 characters") }
        return GatewayConfiguration(
            httpHost: httpHost, httpPort: httpPort, dataDir: dataDir,
            ingestAddress: try PeerAddress(parsing: ingestAddress, key: "--ingest-address"),
            rulesAddress: try PeerAddress(parsing: rulesAddress, key: "--rules-address"),
            sequenceAddress: try PeerAddress(parsing: sequenceAddress, key: "--sequence-address"),
            publicBaseURL: publicBaseURL ?? "http://\(httpHost == "0.0.0.0" ? "localhost" : httpHost):\(httpPort)",
            adminToken: adminToken, maxBodyBytes: maxBodyBytes,
            rpcTimeout: .milliseconds(rpcTimeoutMilliseconds), webhookTimeout: .milliseconds(webhookTimeoutMilliseconds), firstRunDemo: !noDemo,
            rateLimitPerSecond: Double(rateLimit), rateLimitBurst: Double(rateLimit * 2),
            rpcSecurity: try rpcSecurity.security(identity: "gateway", logger: Logger(label: "gateway")))
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

    package init(
        httpHost: String = "127.0.0.1", httpPort: Int = 8080, dataDir: String,
        ingestAddress: PeerAddress = PeerAddress(host: "127.0.0.1", port: 7101),
        rulesAddress: PeerAddress = PeerAddress(host: "127.0.0.1", port: 7102),
        sequenceAddress: PeerAddress = PeerAddress(host: "127.0.0.1", port: 7103),
        publicBaseURL: String = "http://localhost:8080", adminToken: String? = nil,
        maxBodyBytes: Int = 1024 * 1024, rpcTimeout: Duration = .seconds(5), webhookTimeout: Duration = .milliseconds(1500),
        firstRunDemo: Bool = false,
        rateLimitPerSecond: Double = 50, rateLimitBurst: Double = 100, rpcSecurity: RPCSecurity
    ) {
        self.rpcSecurity = rpcSecurity
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
            + "sequences: \(sequenceAddress), public: \(publicBaseURL), admin token: \(adminToken == nil ? "generated" : "set"))"
    }
}
