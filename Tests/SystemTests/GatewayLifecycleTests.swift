import AsyncHTTPClient
import Gateway
import ServiceKit
import ServiceLifecycle
import TestSupport
import Testing
@testable import Wire

@Suite("Gateway lifecycle")
struct GatewayLifecycleTests {
    @Test("shutting the gateway down closes its connections to the services")
    func shutdownClosesPeerConnections() async throws {
        let ingest = try await TestRPCService.make(HealthServerStub.routes, as: "ingest-service")
        let rules = try await TestRPCService.make(HealthServerStub.routes, as: "rules-service")
        let sequences = try await TestRPCService.make(HealthServerStub.routes, as: "sequence-service")
        let servers = [ingest.server, rules.server, sequences.server]
        let port = Locked(0)
        let gateway = try await GatewayApp.build(
            configuration: GatewayConfiguration(
                httpPort: 0, dataDir: temporaryFolder("gateway"),
                ingestAddress: PeerAddress(host: "127.0.0.1", port: ingest.port),
                rulesAddress: PeerAddress(host: "127.0.0.1", port: rules.port),
                sequenceAddress: PeerAddress(host: "127.0.0.1", port: sequences.port),
                publicBaseURL: "http://kommo-agents.test", adminToken: "test-admin-token-0123456789abcdef0123456789abcdef0123456789",
                rpcTimeout: .seconds(30), webhookTimeout: .seconds(30), firstRunDemo: false, rpcSecurity: TestPKI.security("gateway")),
            logger: quietLogger,
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port ?? 0 } })
        try await withServices([ingest, rules, sequences]) {
            let group = ServiceGroup(services: [gateway], logger: quietLogger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                #expect(try await eventually { port.value != 0 })
                // Readiness asks every service: each now holds one connection from the gateway.
                // (Asked again while a loaded machine makes a handshake outlast readiness's one-second deadline.)
                let client = HTTPTestClient(port: port.value)
                #expect(try await eventually { try await client.request(.GET, "/readyz").status == 200 })
                #expect(servers.allSatisfy { $0.openConnections >= 1 }, "open: \(servers.map(\.openConnections))")

                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                #expect(try await eventually { servers.allSatisfy { $0.openConnections == 0 } },
                        "still open: \(servers.map(\.openConnections))")
            }
        }
    }
}
