import Basics
import TestSupport
import Foundation
import Logging
import Synchronization
import Testing
@testable import Wire

@Suite("Codec")
struct CodecTests {
    @Test("a nested message survives encode and decode through protobuf-c")
    func eventRoundTrip() throws {
        var event = PB.Event()
        event.id = "ev_1"
        event.tenantId = "t_1"
        event.accountId = 29012345
        event.type = .stageChanged
        event.leadId = 4410021
        event.statusId = 142
        event.occurredAtMicros = 1_764_072_000_000_000
        var message = PB.MessageFields()
        message.text = "¿Hola? — ünïcode ✓"
        event.message = message
        event.fields = [PB.KeyValue(key: "name", value: "Website order #812"), PB.KeyValue(key: "price", value: "2500")]
        var field = PB.CustomField()
        field.id = "550011"
        field.name = "Budget"
        field.values = ["2500-5000", ""]
        event.customFields = [field]
        let bytes = try event.serializedBytes()
        let decoded = try PB.Event(serializedBytes: bytes)
        #expect(decoded == event)
        #expect(decoded.message?.text == "¿Hola? — ünïcode ✓")
        #expect(decoded.customFields.first?.values == ["2500-5000", ""])
    }

    @Test("an empty message encodes to no bytes and decodes to defaults")
    func emptyMessage() throws {
        let empty = PB.Event()
        #expect(try empty.serializedBytes().isEmpty)
        #expect(try PB.Event(serializedBytes: []) == empty)
    }

    @Test("bytes that are not protobuf are refused")
    func garbage() {
        #expect(throws: WireDecodingError.self) { try PB.Event(serializedBytes: [0x0F, 0xFF, 0xFF, 0xFF, 0x01]) }
    }
}

@Suite("RPC round trips")
struct RPCRoundTripTests {
    /// A deadline that a machine busy with every other test (TLS handshakes included) still meets.
    let patient = CallOptions(timeout: .seconds(30))

    let logger = Logger(label: "test")

    @Test("many concurrent calls on one connection each get their own answer")
    func manyConcurrentCalls() async throws {
        try await withServer { server in
            let connection = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway"), logger: logger)
            defer { connection.close() }
            let client = EchoClient(connection: connection)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<500 {
                    group.addTask {
                        let response = try await client.echo(echoRequest("call-\(index)", delayMicros: Int64.random(in: 0...2000)), options: patient)
                        #expect(String(decoding: response.payload, as: UTF8.self) == "call-\(index)")
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test("a fast call is answered before a slow one sent earlier")
    func outOfOrder() async throws {
        try await withServer { server in
            let connection = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway"), logger: logger)
            defer { connection.close() }
            let client = EchoClient(connection: connection)
            let order = Locked<[String]>([])
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    _ = try await client.echo(echoRequest("slow", delayMicros: 3_000_000), options: patient)
                    order.withLock { $0.append("slow") }
                }
                try await Task.sleep(for: .milliseconds(50))
                group.addTask {
                    _ = try await client.echo(echoRequest("fast"), options: patient)
                    order.withLock { $0.append("fast") }
                }
                try await group.waitForAll()
            }
            #expect(order.withLock { $0 } == ["fast", "slow"])
        }
    }

    @Test("a call past its deadline fails with DEADLINE_EXCEEDED and does not wait for the answer")
    func deadline() async throws {
        try await withServer { server in
            let connection = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway"), logger: logger)
            defer { connection.close() }
            let client = EchoClient(connection: connection)
            let started = ContinuousClock.now
            await #expect(throws: RPCError(.deadlineExceeded, "deadline exceeded")) {
                _ = try await client.echoOnce(echoRequest("slow", delayMicros: 20_000_000), options: CallOptions(timeout: .milliseconds(100)))
            }
            // Well before the answer would come, with room for a loaded machine.
            #expect(ContinuousClock.now - started < .seconds(15))
            // The connection stays usable.
            let response = try await client.echo(echoRequest("after"), options: patient)
            #expect(response.payload == Array("after".utf8))
        }
    }

    @Test("the server gives up on a handler at the deadline the caller sent")
    func serverDeadline() async throws {
        try await withServer { server in
            let raw = try await RawClient(port: server.port)
            var envelope = PB.Envelope()
            envelope.callId = 9
            envelope.method = PB.EchoService.echo.path
            envelope.timeoutMicros = 100_000
            envelope.payload = echoPayload("slow", delayMicros: 20_000_000)
            let started = ContinuousClock.now
            let (bytes, _) = try await raw.exchange(frame(envelope), limit: 1)
            let answer = try #require(try answers(in: bytes).first)
            #expect(answer.callId == 9)
            #expect(answer.statusCode == StatusCode.deadlineExceeded.rawValue)
            // Well before the handler would answer, with room for a loaded machine.
            #expect(ContinuousClock.now - started < .seconds(15))
        }
    }

    @Test("the client reconnects after its peer restarts on the same port")
    func reconnect() async throws {
        let port = try await withServer(routes: EchoServer(id: 1).routes) { server in server.port }
        let connection = RPCConnection(host: "127.0.0.1", port: port, security: TestPKI.security("gateway"), backoff: RetryBackoff(initial: .milliseconds(20), maximum: .milliseconds(200)), logger: logger)
        defer { connection.close() }
        let client = EchoClient(connection: connection)
        // The first server is gone: an idempotent call keeps trying until the second one is up.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let response = try await client.echo(echoRequest("hello"), options: CallOptions(timeout: .seconds(10)))
                #expect(response.servedBy == 2)
            }
            try await Task.sleep(for: .milliseconds(300))
            // The first listener's socket may take a moment to be released.
            var bound: RPCServer?
            for _ in 0..<100 where bound == nil {
                bound = try? await RPCServer(configuration: RPCServerConfiguration(port: port), routes: EchoServer(id: 2).routes, security: TestPKI.security("rules-service"), logger: logger)
                if bound == nil { try await Task.sleep(for: .milliseconds(50)) }
            }
            let second = try #require(bound)
            group.addTask { try await second.run() }
            // The server runs until drained, so the first task to finish is the call.
            try await group.next()
            // A later non-idempotent call goes through the new connection too.
            let again = try await client.echoOnce(echoRequest("again"), options: patient)
            #expect(again.servedBy == 2)
            second.beginDrain()
            try await group.waitForAll()
        }
    }

    @Test("UNAVAILABLE is retried for idempotent methods only")
    func retryIdempotentOnly() async throws {
        let calls = Locked<[String: Int]>([:])
        struct Flaky: EchoHandler {
            let calls: Locked<[String: Int]>
            func answer(_ name: String, _ request: PB.EchoRequest) throws -> PB.EchoResponse {
                let count = calls.withLock { $0[name, default: 0] += 1; return $0[name]! }
                if count <= 2 { throw RPCError(.unavailable, "warming up") }
                var response = PB.EchoResponse()
                response.payload = request.payload
                return response
            }
            func echo(_ request: PB.EchoRequest, context: RPCContext) async throws -> PB.EchoResponse { try answer("echo", request) }
            func echoOnce(_ request: PB.EchoRequest, context: RPCContext) async throws -> PB.EchoResponse { try answer("once", request) }
        }
        let handler = Flaky(calls: calls)
        try await withServer(routes: handler.routes) { server in
            let connection = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway"), backoff: RetryBackoff(initial: .milliseconds(5), maximum: .seconds(5)), logger: logger)
            defer { connection.close() }
            let client = EchoClient(connection: connection)
            let response = try await client.echo(echoRequest("x"), options: patient)
            #expect(response.payload == Array("x".utf8))
            #expect(calls.withLock { $0["echo"] } == 3)
            await #expect(throws: RPCError(.unavailable, "warming up")) { _ = try await client.echoOnce(echoRequest("y"), options: patient) }
            #expect(calls.withLock { $0["once"] } == 1)
        }
    }

    @Test("calls beyond the concurrency limit answer RESOURCE_EXHAUSTED")
    func concurrencyLimit() async throws {
        // Two calls hold both slots until the test lets them go, so the three calls sent while they are
        // held meet a full server however slow the machine is.
        let released = Locked(false)
        struct Held: EchoHandler {
            let released: Locked<Bool>
            func echo(_ request: PB.EchoRequest, context: RPCContext) async throws -> PB.EchoResponse { try await echoOnce(request, context: context) }
            func echoOnce(_ request: PB.EchoRequest, context: RPCContext) async throws -> PB.EchoResponse {
                while !released.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
                var response = PB.EchoResponse()
                response.payload = request.payload
                return response
            }
        }
        let handler = Held(released: released)
        try await withServer(routes: handler.routes, configure: { $0.maximumConcurrentCalls = 2 }) { server in
            let connection = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway"), logger: logger)
            defer { connection.close() }
            let client = EchoClient(connection: connection)
            let options = patient
            try await withThrowingTaskGroup(of: StatusCode.self) { held in
                for index in 0..<2 {
                    held.addTask {
                        let response = try await client.echoOnce(echoRequest("held-\(index)"), options: options)
                        return response.payload == Array("held-\(index)".utf8) ? .ok : .unknown
                    }
                }
                while server.callsInFlight < 2 { try await Task.sleep(for: .milliseconds(5)) }
                var refused: [StatusCode] = []
                for index in 0..<3 {
                    do {
                        _ = try await client.echoOnce(echoRequest("extra-\(index)"), options: options)
                        refused.append(.ok)
                    } catch let error as RPCError {
                        refused.append(error.code)
                    }
                }
                #expect(refused == [.resourceExhausted, .resourceExhausted, .resourceExhausted])
                released.withLock { $0 = true }
                var answered: [StatusCode] = []
                for try await code in held { answered.append(code) }
                #expect(answered == [.ok, .ok])
            }
        }
    }

    @Test("a draining server finishes the calls in flight and refuses new connections")
    func gracefulDrain() async throws {
        try await withServer { server in
            let connection = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway"), logger: logger)
            defer { connection.close() }
            let client = EchoClient(connection: connection)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let response = try await client.echoOnce(echoRequest("in flight", delayMicros: 500_000), options: CallOptions(timeout: .seconds(20)))
                    #expect(response.payload == Array("in flight".utf8))
                }
                // Drain only once the call is being served.
                while server.callsInFlight == 0 { try await Task.sleep(for: .milliseconds(5)) }
                server.beginDrain()
                try await group.waitForAll()
            }
            let fresh = EchoClient(connection: RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway"), logger: logger))
            await #expect(throws: RPCError.self) { _ = try await fresh.echoOnce(echoRequest("late"), options: CallOptions(timeout: .milliseconds(500))) }
        }
    }
}
