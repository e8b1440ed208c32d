import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

// MARK: - The floor: a bare SwiftNIO length-prefixed echo

/// Cuts a stream into frames of a 4-byte big-endian length and that many bytes.
final class LengthPrefixedFrames: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self),
              buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }
}

/// Writes each frame back with its length, on the event loop: nothing but SwiftNIO between the bytes.
final class EchoFrames: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        var out = context.channel.allocator.buffer(capacity: 4 + frame.readableBytes)
        out.writeInteger(UInt32(frame.readableBytes))
        out.writeImmutableBuffer(frame)
        context.write(wrapOutboundOut(out), promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }
}

/// Serves the bare echo on a port and prints it; `bench rpc` runs it as a separate process.
struct EchoFloorServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "echo-floor-server", abstract: "Bare SwiftNIO length-prefixed echo server (the floor of the RPC benchmark).")

    func run() async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LengthPrefixedFrames()))
                    try channel.pipeline.syncOperations.addHandler(EchoFrames())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        FileHandle.standardOutput.write(Data("\(channel.localAddress?.port ?? 0)\n".utf8))
        try await channel.closeFuture.get()
    }
}

/// The client side of the floor: round trips of one `size`-byte frame, sequentially and with `inFlight`
/// frames outstanding on one connection, from a Swift task as our RPC client calls are.
enum EchoFloorClient {
    static func measure(port: Int, size: Int, calls: Int, seconds: Double, inFlight: Int) async throws -> RPCBench.Figures {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LengthPrefixedFrames()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        var frame = ByteBuffer()
        frame.writeInteger(UInt32(size))
        frame.writeRepeatingByte(0x61, count: size)
        return try await channel.executeThenClose { inbound, outbound in
            var answers = inbound.makeAsyncIterator()
            for _ in 0..<2_000 {
                try await outbound.write(frame)
                _ = try await answers.next()
            }
            var single = Latencies()
            for _ in 0..<calls {
                let started = ContinuousClock.now
                try await outbound.write(frame)
                guard try await answers.next() != nil else { throw ValidationError("the echo server closed") }
                single.add(ContinuousClock.now - started)
            }
            // Echo keeps order: the answer that arrives is the oldest frame sent.
            var sent: [ContinuousClock.Instant] = []
            sent.reserveCapacity(1 << 20)
            var oldest = 0
            var loaded = Latencies()
            for _ in 0..<inFlight {
                sent.append(.now)
                try await outbound.write(frame)
            }
            let stop = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
            var total = 0
            while let _ = try await answers.next() {
                loaded.add(ContinuousClock.now - sent[oldest])
                oldest += 1
                total += 1
                if ContinuousClock.now < stop {
                    sent.append(.now)
                    try await outbound.write(frame)
                } else if oldest == sent.count {
                    break
                }
            }
            return RPCBench.Figures(single: single, total: total, loaded: loaded)
        }
    }
}
