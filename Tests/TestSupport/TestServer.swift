import AsyncHTTPClient
import Basics
import Foundation
import HTTPTypes
import Hummingbird
import ServiceLifecycle
import Logging
import NIOCore
import Sequences
import Synchronization

/// A request as a test server received it.
package struct ReceivedRequest: Sendable {
    package var method: String
    package var path: String
    package var query: String?
    /// Header names lowercased; the last value of a repeated header wins.
    package var headers: [String: String]
    package var body: [UInt8]
    package var at: ContinuousClock.Instant

    package var json: JSONValue? { JSONValue(parsing: body) }
    package var text: String { String(decoding: body, as: UTF8.self) }

    package init(_ request: Request, body: ByteBuffer) {
        method = request.method.rawValue
        path = request.uri.path
        query = request.uri.query
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName.lowercased()] = field.value }
        self.headers = headers
        self.body = Array(body.readableBytesView)
        at = ContinuousClock().now
    }
}

/// Builds responses in test servers.
package enum Reply {
    package static func json(_ status: Int, _ text: String, contentType: String = "application/json",
                     headers: [(String, String)] = []) -> Response {
        var fields = HTTPFields()
        fields[.contentType] = contentType
        for (name, value) in headers { fields[HTTPField.Name(name)!] = value }
        return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    package static func json(_ status: Int, _ value: JSONValue, contentType: String = "application/json",
                     headers: [(String, String)] = []) -> Response {
        let data = (try? JSONEncoder().encode(value)) ?? Data()
        return json(status, String(decoding: data, as: UTF8.self), contentType: contentType, headers: headers)
    }

    package static func empty(_ status: Int) -> Response {
        Response(status: .init(code: status))
    }

    package static func bytes(_ status: Int, count: Int) -> Response {
        var fields = HTTPFields()
        fields[.contentType] = "application/json"
        // A long run of a JSON-looking prefix, so that a client which read it all would try to parse it.
        var buffer = ByteBuffer(string: "{\"filler\":\"")
        buffer.writeRepeatingByte(UInt8(ascii: "x"), count: count)
        buffer.writeString("\"}")
        return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: buffer))
    }
}

/// Runs a Hummingbird application answering with `handler` on 127.0.0.1 and a free port, calls `body`
/// with the port, and stops the server afterwards.
package func withTestServer<T: Sendable>(
    _ handler: @escaping @Sendable (Request, BasicRequestContext) async throws -> Response,
    _ body: (Int) async throws -> T
) async throws -> T {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let app = Application(
        responder: CallbackResponder(callback: handler),
        configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0), serverName: "test"),
        onServerRunning: { channel in
            continuation.yield(channel.localAddress?.port ?? 0)
            continuation.finish()
        },
        logger: quietLogger)
    // Stopped by a graceful shutdown, not by cancelling `run()`: cancelling a server while an accepted
    // connection is still queued traps in NIO ("Deinited NIOAsyncWriter without calling finish()").
    // A handler still busy after two seconds (one that hangs on purpose) is cancelled then.
    let group = ServiceGroup(services: [app], logger: quietLogger)
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        func stop() async {
            await group.triggerGracefulShutdown()
            tasks.addTask {
                try await Task.sleep(for: .seconds(2))
                throw CancellationError()
            }
            while true {
                do {
                    guard try await tasks.next() != nil else { return }
                    // The server stopped; the timer is all that is left.
                    tasks.cancelAll()
                } catch {
                    tasks.cancelAll()
                }
            }
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            await stop()
            throw TestServerError.didNotStart
        }
        do {
            let value = try await body(port)
            await stop()
            return value
        } catch {
            await stop()
            throw error
        }
    }
}

package enum TestServerError: Error {
    case didNotStart
}

/// Runs `body` with the egress gate executors use, under the policy tests run with (loopback emulators
/// reachable).
package func withHTTPClient<T: Sendable>(_ body: (EgressGate) async throws -> T) async throws -> T {
    try await body(EgressGate(policy: .loopbackTesting))
}

/// Retries fast, so tests exercise retries without waiting.
package let fastRetry = RetryPolicy(maxAttempts: 4, initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(50),
                            jitter: 0.5, maxRetryAfter: .seconds(2))

/// The most requests whose arrival falls in any span shorter than `window`.
package func maxInAnyWindow(_ instants: [ContinuousClock.Instant], window: Duration) -> Int {
    let sorted = instants.sorted()
    var best = 0
    var start = 0
    for end in sorted.indices {
        while sorted[end] - sorted[start] >= window { start += 1 }
        best = max(best, end - start + 1)
    }
    return best
}
