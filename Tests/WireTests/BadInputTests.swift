import Foundation
import Logging
import TestSupport
import Testing
@testable import Wire

/// Each bad peer gets an error status or a closed connection, and the server keeps serving others.
@Suite("RPC bad input")
struct RPCBadInputTests {
    let logger = Logger(label: "test")

    /// A well-behaved client still gets answers.
    func assertServing(_ server: RPCServer) async throws {
        let connection = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway"), logger: logger)
        defer { connection.close() }
        let response = try await EchoClient(connection: connection).echo(echoRequest("still here"), options: CallOptions(timeout: .seconds(30)))
        #expect(response.payload == Array("still here".utf8))
    }

    func envelope(method: String = PB.EchoService.echo.path, payload: [UInt8] = echoPayload("x"), timeout: Int64 = 0) -> PB.Envelope {
        var envelope = PB.Envelope()
        envelope.callId = 42
        envelope.method = method
        envelope.payload = payload
        envelope.timeoutMicros = timeout
        return envelope
    }

    @Test("a frame longer than the maximum closes the connection before it is read")
    func frameTooLarge() async throws {
        try await withServer(configure: { $0.maximumFrameSize = 64 * 1024 }) { server in
            let raw = try await RawClient(port: server.port)
            // Announce 1 GiB and send only a few bytes: the server must not wait for (or allocate) the rest.
            let (received, closed) = try await raw.exchange([0x40, 0x00, 0x00, 0x00, 1, 2, 3])
            #expect(received.isEmpty)
            #expect(closed)
            try await assertServing(server)
        }
    }

    @Test("a truncated frame followed by close is dropped")
    func truncatedFrame() async throws {
        try await withServer { server in
            let raw = try await RawClient(port: server.port)
            let whole = frame(envelope())
            let (received, _) = try await raw.exchange(Array(whole.prefix(whole.count / 2)), closeAfterWrite: true)
            #expect(received.isEmpty)
            try await assertServing(server)
        }
    }

    @Test("bytes that are not an envelope close the connection")
    func invalidEnvelope() async throws {
        try await withServer { server in
            let raw = try await RawClient(port: server.port)
            let garbage: [UInt8] = [0x0F, 0xFF, 0xFF, 0xFF, 0x01]
            let (received, closed) = try await raw.exchange([0, 0, 0, UInt8(garbage.count)] + garbage)
            #expect(received.isEmpty)
            #expect(closed)
            try await assertServing(server)
        }
    }

    @Test("an unknown method answers UNIMPLEMENTED")
    func unknownMethod() async throws {
        try await withServer { server in
            let raw = try await RawClient(port: server.port)
            let (received, _) = try await raw.exchange(frame(envelope(method: "/agents.v1.Nope/Nothing")), limit: 1)
            let answer = try #require(try answers(in: received).first)
            #expect(answer.callId == 42)
            #expect(answer.statusCode == StatusCode.unimplemented.rawValue)
            #expect(answer.statusMessage.contains("/agents.v1.Nope/Nothing"))
            try await assertServing(server)
        }
    }

    @Test("a payload that does not decode as the request answers INVALID_ARGUMENT")
    func undecodablePayload() async throws {
        try await withServer { server in
            let raw = try await RawClient(port: server.port)
            let (received, _) = try await raw.exchange(frame(envelope(payload: [0x0F, 0xFF, 0xFF])), limit: 1)
            let answer = try #require(try answers(in: received).first)
            #expect(answer.statusCode == StatusCode.invalidArgument.rawValue)
            #expect(answer.statusMessage.contains("agents.v1.EchoRequest"))
        }
    }

    @Test("a missing required field answers INVALID_ARGUMENT naming the field")
    func missingRequiredField() async throws {
        struct NeedsTenant: PartialEchoHandler {
            func echo(_ request: PB.EchoRequest, context: RPCContext) async throws -> PB.EchoResponse {
                _ = try context.requireTenant()
                guard !request.payload.isEmpty else { throw RPCError.invalid(field: "payload", "is required") }
                return PB.EchoResponse()
            }
        }
        try await withServer(routes: NeedsTenant().routes) { server in
            let connection = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway"), logger: logger)
            defer { connection.close() }
            let client = EchoClient(connection: connection)
            await #expect(throws: RPCError(.invalidArgument, "metadata.tenant_id is required")) {
                _ = try await client.echo(PB.EchoRequest(), options: CallOptions(timeout: .seconds(30)))
            }
            do {
                _ = try await client.echo(PB.EchoRequest(), options: CallOptions(timeout: .seconds(30), tenantID: "t_1"))
                Issue.record("expected INVALID_ARGUMENT")
            } catch let error as RPCError {
                #expect(error.code == .invalidArgument)
                #expect(error.violations == [FieldViolation(field: "payload", message: "is required")])
            }
        }
    }

    @Test("a deadline that already passed answers DEADLINE_EXCEEDED without running the handler")
    func deadlinePassed() async throws {
        try await withServer { server in
            let raw = try await RawClient(port: server.port)
            let (received, _) = try await raw.exchange(frame(envelope(timeout: -1)), limit: 1)
            let answer = try #require(try answers(in: received).first)
            #expect(answer.statusCode == StatusCode.deadlineExceeded.rawValue)
        }
    }

    @Test("a client that connects and sends nothing is closed after the idle timeout; others are served")
    func silentClient() async throws {
        // Long enough that the served client's TLS handshake fits inside it on a loaded machine.
        try await withServer(configure: { $0.idleTimeout = .seconds(2) }) { server in
            let raw = try await RawClient(port: server.port)
            try await assertServing(server)
            let started = ContinuousClock.now
            let (received, closed) = try await raw.exchange([])
            #expect(received.isEmpty)
            #expect(closed)
            #expect(ContinuousClock.now - started < .seconds(8))
        }
    }

    @Test("after many bad peers the server holds no connections and still serves")
    func noGrowth() async throws {
        try await withServer(configure: { $0.maximumFrameSize = 1024 }) { server in
            for round in 0..<100 {
                let raw = try await RawClient(port: server.port)
                switch round % 3 {
                case 0: _ = try await raw.exchange([0x7F, 0, 0, 0])
                case 1: _ = try await raw.exchange([0, 0, 0, 3, 0xFF, 0xFF, 0xFF])
                default: _ = try await raw.exchange([0, 0, 0, 9, 1], closeAfterWrite: true)
                }
            }
            try await assertServing(server)
            // Connections are released asynchronously after close; give the loop a moment.
            for _ in 0..<50 where server.openConnections > 0 { try await Task.sleep(for: .milliseconds(20)) }
            #expect(server.openConnections == 0)
            #expect(server.callsInFlight == 0)
        }
    }
}
