import Logging
import Synchronization
import NIOCore
import NIOPosix
import NIOSSL
import TestSupport
import Testing
@testable import Wire

/// Runs an RPC server with the given routes on a free port for the duration of `body`.
func withServer<T: Sendable>(
    routes: [RPCRoute] = EchoServer().routes,
    security: RPCSecurity = TestPKI.security("rules-service"),
    configure: (inout RPCServerConfiguration) -> Void = { _ in },
    _ body: @Sendable (RPCServer) async throws -> T
) async throws -> T {
    var configuration = RPCServerConfiguration(port: 0)
    configure(&configuration)
    let server = try await RPCServer(configuration: configuration, routes: routes, security: security, logger: quietLogger)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await server.run()
            return nil
        }
        defer { group.cancelAll() }
        let result = try await body(server)
        server.beginDrain()
        return result
    }
}

func echoRequest(_ text: String, delayMicros: Int64 = 0, failWith code: StatusCode? = nil) -> PB.EchoRequest {
    var request = PB.EchoRequest()
    request.payload = Array(text.utf8)
    request.delayMicros = delayMicros
    request.failWithCode = code?.rawValue ?? 0
    return request
}

/// A raw client for sending arbitrary bytes to a server: inside mutual TLS as `gateway` by default,
/// inside TLS with any other context given, or over bare TCP with `tls: nil`.
final class RawClient: Sendable {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

    init(port: Int, tls: NIOSSLContext? = TestPKI.security("gateway").credentials!.clientContext) async throws {
        channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: nil))
                    }
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
    }

    /// Writes the bytes, then reads until the server closes or `limit` bytes arrived.
    func exchange(_ bytes: [UInt8], closeAfterWrite: Bool = false, limit: Int = 1 << 20) async throws -> (received: [UInt8], closedByServer: Bool) {
        try await channel.executeThenClose { inbound, outbound in
            if !bytes.isEmpty {
                // A server that refuses the connection (in the TLS handshake, say) may have closed it
                // before the write: that is a close by the server too.
                do { try await outbound.write(ByteBuffer(bytes: bytes)) } catch { return ([], true) }
            }
            if closeAfterWrite { try await channel.channel.close(mode: .output) }
            var received: [UInt8] = []
            do {
                for try await chunk in inbound {
                    received += Array(chunk.readableBytesView)
                    if received.count >= limit { return (received, false) }
                }
            } catch {
                return (received, true)
            }
            return (received, true)
        }
    }
}

func frame(_ envelope: PB.Envelope) -> [UInt8] {
    Array(envelope.frame(allocator: ByteBufferAllocator()).readableBytesView)
}

/// The encoding of an echo request: bytes and numbers only, so it cannot fail.
func echoPayload(_ text: String, delayMicros: Int64 = 0) -> [UInt8] {
    do { return try echoRequest(text, delayMicros: delayMicros).serializedBytes() } catch { fatalError("\(error)") }
}

/// Parses the answer frames in a byte stream.
func answers(in bytes: [UInt8]) throws -> [PB.Envelope] {
    var result: [PB.Envelope] = []
    var index = 0
    while index + 4 <= bytes.count {
        let length = Int(bytes[index]) << 24 | Int(bytes[index + 1]) << 16 | Int(bytes[index + 2]) << 8 | Int(bytes[index + 3])
        guard index + 4 + length <= bytes.count else { break }
        result.append(try PB.Envelope(serializedBytes: Array(bytes[(index + 4)..<(index + 4 + length)])))
        index += 4 + length
    }
    return result
}
