import Foundation
import Gateway
import NIOCore
import NIOPosix
import ServiceKit
import TestSupport
import Testing

/// The gateway's front door: connections, throttling, quotas, forwarded addresses, metrics and caching.
@Suite("Gateway hardening", .serialized)
struct GatewayHardeningTests {
    /// Opens a plain TCP connection to the gateway and optionally writes `bytes`.
    static func connect(_ port: Int, writing bytes: String? = nil) async throws -> any Channel {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: port).get()
        if let bytes { try await channel.writeAndFlush(ByteBuffer(string: bytes)).get() }
        return channel
    }

    @Test("2,000 idle connections do not stop /healthz; API answers carry Cache-Control: no-store; /metrics needs a token")
    func idleConnectionsAndHeaders() async throws {
        let system = try await FullSystem.make()
        try await system.run { client in
            var idle: [any Channel] = []
            for _ in 0..<2000 { idle.append(try await Self.connect(client.port)) }
            let health = try await client.request(.GET, "/healthz")
            #expect(health.status == 200, "\(health.status) \(health.text)")
            for channel in idle { try? await channel.close() }

            let tenant = try await client.createTenant(admin: system.adminToken)
            let listed = try await client.request(.GET, "/api/v1/agents", token: tenant.key)
            #expect(listed.headers.first(name: "Cache-Control") == "no-store")
            let refused = try await client.request(.GET, "/api/v1/agents")
            #expect(refused.status == 401 && refused.headers.first(name: "Cache-Control") == "no-store", "a problem answer too")
            #expect(try await client.request(.GET, "/metrics").status == 401)
            #expect(try await client.request(.GET, "/metrics", token: tenant.key).status == 401)
            #expect(try await client.request(.GET, "/metrics", token: system.adminToken).status == 200)
        }
    }

    @Test("a slowloris request head is closed after the header timeout")
    func slowloris() async throws {
        let system = try await FullSystem.make(tune: { $0.connections.headerTimeout = .milliseconds(500) })
        try await system.run { client in
            let channel = try await Self.connect(client.port, writing: "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            let closed = try await eventually(timeout: .seconds(20)) { !channel.isActive }
            #expect(closed, "the server closed the half-sent request")
        }
    }

    @Test("a partial body to an unknown webhook secret is answered 404 at once, without reading the body")
    func bogusSecretPartialBody() async throws {
        let system = try await FullSystem.make()
        try await system.run { client in
            var channels: [any Channel] = []
            let answered = Locked(0)
            for index in 0..<50 {
                let head = "POST /webhooks/kommo/whk_bogus\(index) HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                    + "Content-Length: 1048576\r\n\r\n" + String(repeating: "a", count: 4096)
                let channel = try await Self.connect(client.port)
                try await channel.pipeline.addHandler(FirstBytes(seen: answered)).get()
                try await channel.writeAndFlush(ByteBuffer(string: head)).get()
                channels.append(channel)
            }
            // The body never completes; a route that read it first would still be waiting.
            let all = try await eventually(timeout: .seconds(20)) { answered.value == 50 }
            #expect(all, "\(answered.value) of 50 answered before their bodies ended")
            for channel in channels { try? await channel.close() }
        }
    }

    @Test("failed authentication is throttled per address, even a correct key afterwards")
    func authThrottle() async throws {
        let system = try await FullSystem.make(tune: { $0.authFailureLimit = 5 })
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            for _ in 0..<5 { #expect(try await client.request(.GET, "/api/v1/agents", token: "ka_wrong").status == 401) }
            let throttled = try await client.request(.GET, "/api/v1/agents", token: tenant.key)
            #expect(throttled.status == 429, "\(throttled.text)")
            #expect(throttled.headers.first(name: "Retry-After").flatMap(Int.init).map { $0 >= 1 } == true)
            #expect(try await client.request(.GET, "/api/v1/tenants", token: system.adminToken).status == 429)
        }
    }

    @Test("API keys per tenant have a quota, and a tenant's rate is shared by its keys")
    func keyQuotaAndTenantRate() async throws {
        let system = try await FullSystem.make(tune: {
            $0.maxAPIKeys = 3
            $0.tenantRateLimitPerSecond = 2
            $0.tenantRateLimitBurst = 4
        })
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            var keys = [tenant.key]
            for index in 0..<2 {
                let created = try await client.json(.POST, "/api/v1/api-keys", ["name": "k\(index)"], token: tenant.key)
                #expect(created.status == 201, "\(created.text)")
                keys.append(created.json["key"] as? String ?? "")
            }
            let over = try await client.json(.POST, "/api/v1/api-keys", ["name": "one too many"], token: tenant.key)
            #expect(over.status == 429, "\(over.text)")
            #expect((over.json["detail"] as? String ?? "").contains("max_api_keys"), "\(over.text)")
            // 30 requests spread over three keys against 2/s with bursts of 4 for the tenant.
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<30 {
                    let key = keys[index % keys.count]
                    group.addTask { try await client.request(.GET, "/api/v1/api-keys", token: key).status }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 429 }.count >= 10, "the tenant's keys share one rate: \(statuses)")
        }
    }

    @Test("X-Forwarded-For is believed only from a trusted proxy")
    func forwardedFor() async throws {
        for trusted in [false, true] {
            let system = try await FullSystem.make(tune: { if trusted { $0.trustedProxies = [CIDR("127.0.0.0/8")!] } })
            try await system.run { client in
                let tenant = try await client.createTenant(admin: system.adminToken)
                let posted = try await client.request(.POST, "/webhooks/kommo/\(tenant.secret)", body: try Fixtures.body("lead_status_changed"),
                                                      contentType: "application/x-www-form-urlencoded",
                                                      headers: [("X-Forwarded-For", "203.0.113.7")])
                #expect(posted.status == 200, "\(posted.text)")
                let events = try await client.request(.GET, "/api/v1/webhooks/events", token: tenant.key)
                let id = ((events.json["items"] as? [[String: Any]])?.first?["id"] as? String) ?? ""
                let detail = try await client.request(.GET, "/api/v1/webhooks/events/\(id)", token: tenant.key)
                let stored = (detail.json["delivery"] as? [String: Any])?["remote_address"] as? String
                #expect(stored == (trusted ? "203.0.113.7" : "127.0.0.1"), "\(trusted ? "trusted" : "untrusted") proxy: \(stored ?? "none")")
            }
        }
    }

    @Test("an admin token shorter than 32 random bytes is refused at startup")
    func shortAdminToken() throws {
        let short = try GatewayOptions.parse(["--admin-token", "short-admin-token-0123456789"])
        #expect(throws: (any Error).self) { try short.configuration() }
        let long = try GatewayOptions.parse(["--admin-token", String(repeating: "a1", count: 32)])
        #expect(throws: Never.self) { try long.configuration() }
    }

    @Test("a malformed environment value stops startup with a message naming the variable; a flag wins over it")
    func strictEnvironment() throws {
        let options = try GatewayOptions.parse([])
        let base = ProcessInfo.processInfo.environment
        func environment(_ values: [String: String]) -> [String: String] {
            base.merging(values, uniquingKeysWith: { _, override in override })
        }
        #expect(throws: ConfigurationError("HTTP_PORT: expected a whole number, got 'abc'")) {
            try options.configuration(environment: environment(["HTTP_PORT": "abc"]))
        }
        #expect(throws: ConfigurationError("RATE_LIMIT: expected a whole number, got '50/s'")) {
            try options.configuration(environment: environment(["RATE_LIMIT": "50/s"]))
        }
        #expect(throws: ConfigurationError("NO_DEMO: expected 1, true, yes, on, 0, false, no or off, got 'please'")) {
            try options.configuration(environment: environment(["NO_DEMO": "please"]))
        }
        #expect(throws: ConfigurationError("--http-port (HTTP_PORT) must be 0…65535")) {
            try options.configuration(environment: environment(["HTTP_PORT": "70000"]))
        }
        let read = try options.configuration(environment: environment([
            "HTTP_PORT": "9090", "RATE_LIMIT": "7", "NO_DEMO": "true", "RPC_TIMEOUT_MS": " 250 ",
        ]))
        #expect(read.httpPort == 9090)
        #expect(read.rateLimitPerSecond == 7 && read.rateLimitBurst == 14)
        #expect(read.rpcTimeout == .milliseconds(250))
        #expect(read.firstRunDemo == false)
        let flagged = try GatewayOptions.parse(["--http-port", "8181"])
        #expect(try flagged.configuration(environment: environment(["HTTP_PORT": "abc"])).httpPort == 8181)
        let defaults = try options.configuration(environment: base.filter { !["HTTP_PORT", "RATE_LIMIT", "NO_DEMO"].contains($0.key) })
        #expect(defaults.httpPort == 8080 && defaults.rateLimitPerSecond == 50 && defaults.firstRunDemo)
    }
}

/// Counts a connection once the server's first bytes reach it.
final class FirstBytes: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let seen: Locked<Int>
    var counted = false
    init(seen: Locked<Int>) { self.seen = seen }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !counted {
            counted = true
            seen.withLock { $0 += 1 }
        }
    }
}
