import NIOCore
import NIOPosix
import NIOSSL
import Synchronization
import TestSupport
import Testing
@testable import Wire

/// What a server does at a call's deadline: the caller hears DEADLINE_EXCEEDED once, the handler's
/// task is cancelled, and the connection goes on serving with every answer whole.
@Suite("RPC deadlines")
struct RPCDeadlineTests {
    /// An echo handler that records how each of its sleeps ended.
    struct Sleeper: EchoHandler {
        let cancelled = Locked<[String]>([])
        let overslept = Locked<[String]>([])

        func echo(_ request: PB.EchoRequest, context: RPCContext) async throws -> PB.EchoResponse {
            let name = String(decoding: request.payload, as: UTF8.self)
            if request.delayMicros > 0 {
                do {
                    try await Task.sleep(for: .microseconds(request.delayMicros))
                } catch {
                    #expect(error is CancellationError)
                    #expect(Task.isCancelled)
                    cancelled.withLock { $0.append(name) }
                    throw error
                }
                overslept.withLock { $0.append(name) }
            }
            var response = PB.EchoResponse()
            response.payload = request.payload
            return response
        }

        func echoOnce(_ request: PB.EchoRequest, context: RPCContext) async throws -> PB.EchoResponse {
            try await echo(request, context: context)
        }
    }

    func call(_ id: UInt64, _ text: String, delayMicros: Int64 = 0, timeoutMicros: Int64) throws -> PB.Envelope {
        var envelope = PB.Envelope()
        envelope.callId = id
        envelope.method = PB.EchoService.echo.path
        envelope.timeoutMicros = timeoutMicros
        envelope.payload = try echoRequest(text, delayMicros: delayMicros).serializedBytes()
        return envelope
    }

    /// Waits, bounded, until `condition` holds.
    func eventually(_ condition: () -> Bool) async throws -> Bool {
        let giveUp = ContinuousClock.now + .seconds(20)
        while !condition() {
            if ContinuousClock.now > giveUp { return false }
            try await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    @Test("a handler sleeping past its deadline is cancelled, the caller hears DEADLINE_EXCEEDED once, and the connection serves on")
    func handlerCancelledAtDeadline() async throws {
        let sleeper = Sleeper()
        try await withServer(routes: sleeper.routes) { server in
            let raw = try await RawClient(port: server.port)
            try await raw.channel.executeThenClose { inbound, outbound in
                var reader = AnswerReader(inbound.makeAsyncIterator())
                let started = ContinuousClock.now
                try await outbound.write(ByteBuffer(bytes: frame(call(1, "slow", delayMicros: 60_000_000, timeoutMicros: 200_000))))
                let late = try #require(try await reader.next())
                #expect(late.callId == 1)
                #expect(late.statusCode == StatusCode.deadlineExceeded.rawValue)
                #expect(ContinuousClock.now - started < .seconds(10))

                // The handler stops: its sleep ends in cancellation, and the call no longer holds a slot.
                #expect(try await eventually { sleeper.cancelled.withLock { $0 } == ["slow"] })
                #expect(try await eventually { server.callsInFlight == 0 })
                #expect(sleeper.overslept.withLock { $0 }.isEmpty)

                // The next answer on the connection is the next call's: nothing more came for call 1.
                try await outbound.write(ByteBuffer(bytes: frame(call(2, "after", timeoutMicros: 30_000_000))))
                let next = try #require(try await reader.next())
                #expect(next.callId == 2)
                #expect(next.statusCode == 0)
                #expect(try PB.EchoResponse(serializedBytes: next.payload).payload == Array("after".utf8))
            }
        }
    }

    @Test("a typed client's call past the server's deadline fails once and the connection serves the next call")
    func clientSeesDeadlineOnce() async throws {
        let sleeper = Sleeper()
        try await withServer(routes: sleeper.routes) { server in
            let connection = RPCConnection(host: "127.0.0.1", port: server.port, security: TestPKI.security("gateway"),
                                           logger: quietLogger)
            defer { connection.close() }
            let client = EchoClient(connection: connection)
            await #expect(throws: RPCError(.deadlineExceeded, "deadline exceeded")) {
                _ = try await client.echoOnce(echoRequest("slow", delayMicros: 60_000_000), options: CallOptions(timeout: .milliseconds(200)))
            }
            #expect(try await eventually { sleeper.cancelled.withLock { $0 } == ["slow"] })
            let response = try await client.echo(echoRequest("after"), options: CallOptions(timeout: .seconds(30)))
            #expect(response.payload == Array("after".utf8))
            let failed = connection.stats.snapshot.filter { $0.code == .deadlineExceeded }.map(\.calls).reduce(0, +)
            #expect(failed == 1)
        }
    }

    @Test("deadlines firing while other answers are written leave every answer whole and each call answered once")
    func deadlinesAmongAnswers() async throws {
        let sleeper = Sleeper()
        try await withServer(routes: sleeper.routes) { server in
            let raw = try await RawClient(port: server.port)
            let count: UInt64 = 400
            // Even calls answer within 0–100 ms; odd ones sleep a minute and time out within 1–100 ms, so
            // deadline answers and handler answers leave at the same moments.
            let calls = try (1...count).map { id in
                try id % 2 == 0
                    ? call(id, "call-\(id)-" + String(repeating: "x", count: Int(id) * 37 % 3000),
                           delayMicros: Int64.random(in: 0...100_000), timeoutMicros: 30_000_000)
                    : call(id, "call-\(id)", delayMicros: 60_000_000, timeoutMicros: Int64.random(in: 1_000...100_000))
            }
            try await raw.channel.executeThenClose { inbound, outbound in
                var reader = AnswerReader(inbound.makeAsyncIterator())
                var bytes: [UInt8] = []
                for call in calls { bytes += frame(call) }
                try await outbound.write(ByteBuffer(bytes: bytes))
                var answered: [UInt64: PB.Envelope] = [:]
                var duplicates = 0
                while answered.count < Int(count), let answer = try await reader.next() {
                    if answered.updateValue(answer, forKey: answer.callId) != nil { duplicates += 1 }
                }
                #expect(duplicates == 0)
                #expect(answered.count == Int(count))
                for call in calls {
                    let answer = try #require(answered[call.callId])
                    if call.callId % 2 == 0 {
                        #expect(answer.statusCode == 0)
                        let request = try PB.EchoRequest(serializedBytes: call.payload)
                        #expect(try PB.EchoResponse(serializedBytes: answer.payload).payload == request.payload)
                    } else {
                        #expect(answer.statusCode == StatusCode.deadlineExceeded.rawValue)
                    }
                }
                // Every timed-out handler was cancelled and none slept on.
                #expect(try await eventually { sleeper.cancelled.withLock { $0.count } == Int(count) / 2 })
                #expect(try await eventually { server.callsInFlight == 0 })
                // Nothing else arrives for the calls already answered: the next frame answers the next call.
                try await outbound.write(ByteBuffer(bytes: frame(call(count + 1, "probe", timeoutMicros: 30_000_000))))
                let probe = try #require(try await reader.next())
                #expect(probe.callId == count + 1)
                #expect(probe.statusCode == 0)
            }
        }
    }
}

/// Cuts a byte stream into answer envelopes; a frame that does not parse fails the test.
struct AnswerReader {
    var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    var buffer: [UInt8] = []

    init(_ inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) { self.inbound = inbound }

    /// The next answer, or nil when the server closed the connection.
    mutating func next() async throws -> PB.Envelope? {
        while true {
            if buffer.count >= 4 {
                let length = Int(buffer[0]) << 24 | Int(buffer[1]) << 16 | Int(buffer[2]) << 8 | Int(buffer[3])
                if buffer.count >= 4 + length {
                    let envelope = try PB.Envelope(serializedBytes: Array(buffer[4..<(4 + length)]))
                    buffer.removeFirst(4 + length)
                    #expect(envelope.isResponse)
                    return envelope
                }
            }
            guard let chunk = try await inbound.next() else { return nil }
            buffer += Array(chunk.readableBytesView)
        }
    }
}
