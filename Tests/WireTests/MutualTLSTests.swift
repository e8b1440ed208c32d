import Basics
import Foundation
import NIOCore
import NIOSSL
import TestSupport
import Testing
@testable import Wire

/// Waits until `condition` holds, polling; false when it never did within `timeout`.
private func within(_ timeout: Duration, _ condition: @Sendable () async -> Bool) async -> Bool {
    let end = ContinuousClock.now + timeout
    while ContinuousClock.now < end {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}

/// One echo call as a raw frame.
private func echoFrame(tenant: String = "") -> [UInt8] {
    var envelope = PB.Envelope()
    envelope.callId = 1
    envelope.method = PB.EchoService.echo.path
    envelope.payload = echoPayload("hello")
    if !tenant.isEmpty {
        var metadata = PB.Metadata()
        metadata.tenantId = tenant
        envelope.metadata = metadata
    }
    return frame(envelope)
}

/// An ingest-service stand-in that would hand out a webhook secret to whoever may ask.
private struct SecretHolder: PartialIngestHandler {
    func getWebhookSource(_ request: PB.TenantRequest, context: RPCContext) async throws -> PB.WebhookSource {
        var source = PB.WebhookSource()
        source.secret = "whsec-of-\(context.tenantID)"
        return source
    }
}

/// Every method of a service, for the table check.
private struct AnyHealth: PartialHealthHandler {}
private struct AnyEcho: PartialEchoHandler {}
private struct AnyIngest: PartialIngestHandler {}
private struct AnyRules: PartialRulesHandler {}
private struct AnySequences: PartialSequencesHandler {}

@Suite("Mutual TLS and caller identity")
struct MutualTLSTests {
    let callOptions = CallOptions(timeout: .seconds(30))

    @Test("a client without a certificate is refused in the handshake; no frame is read")
    func noClientCertificate() async throws {
        try await withServer { server in
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.minimumTLSVersion = .tlsv13
            configuration.trustRoots = .file(TestPKI.folder + "/ca.pem")
            configuration.certificateVerification = .noHostnameVerification
            let raw = try await RawClient(port: server.port, tls: try NIOSSLContext(configuration: configuration))
            let (received, closed) = try await raw.exchange(echoFrame())
            #expect(received.isEmpty)
            #expect(closed)
            #expect(server.stats.snapshot.isEmpty)
        }
    }

    @Test("a client certificate from another CA is refused")
    func foreignCertificate() async throws {
        try await withServer { server in
            let connection = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway", foreign: true),
                                           logger: quietLogger)
            defer { connection.close() }
            await #expect(throws: RPCError.self) {
                _ = try await EchoClient(connection: connection).echoOnce(echoRequest("x"), options: callOptions)
            }
            #expect(server.stats.snapshot.isEmpty)
        }
    }

    @Test("a plain TCP client (no TLS at all) gets no answer")
    func plaintextClient() async throws {
        try await withServer { server in
            let raw = try await RawClient(port: server.port, tls: nil)
            let (received, closed) = try await raw.exchange(echoFrame())
            #expect(closed)
            #expect((try? answers(in: received))?.isEmpty ?? true)
        }
    }

    @Test("the client checks that the server's certificate names the service it meant to reach")
    func serverNameChecked() async throws {
        try await withServer(security: TestPKI.security("rules-service")) { server in
            let wrong = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway"),
                                      serverName: "ingest-service", logger: quietLogger)
            defer { wrong.close() }
            await #expect(throws: RPCError.self) {
                _ = try await EchoClient(connection: wrong).echoOnce(echoRequest("x"), options: callOptions)
            }
            let right = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway"),
                                      serverName: "rules-service", logger: quietLogger)
            defer { right.close() }
            let answer = try await EchoClient(connection: right).echoOnce(echoRequest("x"), options: callOptions)
            #expect(answer.payload == Array("x".utf8))
        }
    }

    @Test("Ingest/GetWebhookSource answers the gateway and PERMISSION_DENIED to every other identity")
    func identityDecides() async throws {
        try await withServer(routes: SecretHolder().routes, security: TestPKI.security("ingest-service")) { server in
            let tenant = CallOptions(timeout: .seconds(30), tenantID: "tn_acme")
            for identity in ["sequence-service", "rules-service", "stranger"] {
                let connection = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security(identity),
                                               serverName: "ingest-service", logger: quietLogger)
                defer { connection.close() }
                do {
                    _ = try await IngestClient(connection: connection).getWebhookSource(PB.TenantRequest(), options: tenant)
                    Issue.record("\(identity) was given a webhook secret")
                } catch let error as RPCError {
                    #expect(error.code == .permissionDenied, "\(identity)")
                }
            }
            let gateway = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway"),
                                        serverName: "ingest-service", logger: quietLogger)
            defer { gateway.close() }
            let source = try await IngestClient(connection: gateway).getWebhookSource(PB.TenantRequest(), options: tenant)
            #expect(source.secret == "whsec-of-tn_acme")
        }
    }

    @Test("a method missing from the table is denied to everyone")
    func failClosed() async throws {
        let policy = RPCAccessPolicy(callers: [:], tenantActors: ["gateway"])
        try await withServer(configure: { $0.access = policy }) { server in
            let connection = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway"),
                                           logger: quietLogger)
            defer { connection.close() }
            do {
                _ = try await EchoClient(connection: connection).echoOnce(echoRequest("x"), options: callOptions)
                Issue.record("a method with no entry was served")
            } catch let error as RPCError {
                #expect(error.code == .permissionDenied)
            }
        }
    }

    @Test("a tenant id in metadata from an identity that does not act for tenants is refused")
    func tenantFromStranger() async throws {
        try await withServer { server in
            let stranger = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("stranger"),
                                         logger: quietLogger)
            defer { stranger.close() }
            let client = EchoClient(connection: stranger)
            // Echo is open to any holder of a certificate from the CA, but not on behalf of a tenant.
            _ = try await client.echoOnce(echoRequest("x"), options: callOptions)
            do {
                _ = try await client.echoOnce(echoRequest("x"), options: CallOptions(timeout: .seconds(5), tenantID: "tn_victim"))
                Issue.record("a stranger acted for a tenant")
            } catch let error as RPCError {
                #expect(error.code == .permissionDenied)
            }
            let gateway = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway"), logger: quietLogger)
            defer { gateway.close() }
            _ = try await EchoClient(connection: gateway).echoOnce(echoRequest("x"), options: CallOptions(timeout: .seconds(5), tenantID: "tn_acme"))
        }
    }

    @Test("every generated route has an entry in the access table, and the table names no other method")
    func tableCoversEveryRoute() {
        let routes = AnyHealth().routes + AnyEcho().routes + AnyIngest().routes + AnyRules().routes + AnySequences().routes
        for route in routes {
            #expect(PB.accessTable[route.path] != nil, "\(route.path) has no callers line in proto/")
        }
        #expect(Set(PB.accessTable.keys) == Set(routes.map(\.path)))
        // The examples the trust boundary is built on.
        #expect(PB.accessTable[PB.IngestService.getWebhookSource.path] == ["gateway"])
        #expect(PB.accessTable[PB.RulesService.createAgent.path] == ["gateway"])
        #expect(PB.accessTable[PB.SequencesService.schedule.path] == ["ingest-service"])
    }

    // MARK: - Bounds

    @Test("a frame that trickles one byte at a time is closed at the frame deadline, though bytes keep coming")
    func tricklingFrame() async throws {
        try await withServer(configure: { $0.frameDeadline = .milliseconds(500); $0.idleTimeout = .minutes(5) }) { server in
            let raw = try await RawClient(port: server.port)
            let started = ContinuousClock.now
            // 100 bytes at one per 100 ms: 10 s for the whole frame, each byte well inside the idle timeout.
            let closedAfter: Duration? = try await raw.channel.executeThenClose { inbound, outbound in
                try await withThrowingTaskGroup(of: Duration?.self) { group in
                    group.addTask {
                        try await outbound.write(ByteBuffer(bytes: [0, 0, 0, 100]))
                        for _ in 0..<100 {
                            try await Task.sleep(for: .milliseconds(100))
                            try await outbound.write(ByteBuffer(bytes: [0x0a]))
                        }
                        try await Task.sleep(for: .seconds(2))
                        return nil
                    }
                    group.addTask {
                        do { for try await _ in inbound {} } catch {}
                        return ContinuousClock.now - started
                    }
                    defer { group.cancelAll() }
                    // Whichever ends first: the server closing (a duration), or the writer finishing (nil).
                    // A write after the close fails, which also means the server closed.
                    do {
                        return try await group.next() ?? nil
                    } catch {
                        return ContinuousClock.now - started
                    }
                }
            }
            let closed = try #require(closedAfter, "the trickling connection stayed open for the whole frame")
            #expect(closed < .seconds(8))
        }
    }

    @Test("partial frames across connections are capped: beyond the budget a new big partial frame closes its connection")
    func partialFrameBudget() async throws {
        try await withServer(configure: {
            $0.maximumFrameSize = 1024 * 1024
            $0.maximumPartialFrameBytes = 300 * 1024
        }) { server in
            let chunk = [UInt8](repeating: 0x0a, count: 200 * 1024)
            let header: [UInt8] = [0, 0x10, 0, 0]  // 1 MiB announced
            let first = try await RawClient(port: server.port)
            try await first.channel.channel.writeAndFlush(ByteBuffer(bytes: header + chunk))
            #expect(await within(.seconds(20)) { server.partialFrames.inUse >= 200 * 1024 })

            let second = try await RawClient(port: server.port)
            let (_, closed) = try await second.exchange(header + chunk)
            #expect(closed)
            #expect(first.channel.channel.isActive, "the connection within the budget is kept")
            #expect(server.partialFrames.inUse <= 300 * 1024)

            try await first.channel.channel.close()
            #expect(await within(.seconds(20)) { server.partialFrames.inUse == 0 }, "closing gives the bytes back")
            // And the server still serves.
            let connection = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway"), logger: quietLogger)
            defer { connection.close() }
            _ = try await EchoClient(connection: connection).echoOnce(echoRequest("x"), options: callOptions)
        }
    }

    @Test("connections beyond the cap are closed; a freed place is taken again")
    func connectionCap() async throws {
        try await withServer(configure: { $0.maximumConnections = 2 }) { server in
            func connect() -> RPCConnection {
                RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway"),
                              backoff: RetryBackoff(initial: .milliseconds(20), maximum: .milliseconds(100)), logger: quietLogger)
            }
            let one = connect(), two = connect(), three = connect()
            defer { one.close(); two.close(); three.close() }
            _ = try await EchoClient(connection: one).echoOnce(echoRequest("1"), options: callOptions)
            _ = try await EchoClient(connection: two).echoOnce(echoRequest("2"), options: callOptions)
            await #expect(throws: RPCError.self) {
                _ = try await EchoClient(connection: three).echoOnce(echoRequest("3"), options: callOptions)
            }
            #expect(server.openConnections <= 2)
            one.close()
            #expect(await within(.seconds(20)) { server.openConnections < 2 })
            let served = await within(.seconds(20)) {
                (try? await EchoClient(connection: three).echoOnce(echoRequest("3"), options: CallOptions(timeout: .seconds(2)))) != nil
            }
            #expect(served)
        }
    }
}
