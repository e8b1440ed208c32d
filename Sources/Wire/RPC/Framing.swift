import NIOCore

/// The frame is longer than the configured maximum; the connection is closed before reading it.
package struct FrameTooLargeError: Error, Sendable, CustomStringConvertible {
    package var length: Int
    package var maximum: Int
    package var description: String { "frame of \(length) bytes exceeds the maximum of \(maximum)" }
}

/// Cuts the byte stream into frames: a 4-byte big-endian length, then that many bytes.
/// The length is checked against the maximum before the body is awaited, so an oversized frame never
/// makes us allocate; decoding the protobuf inside happens elsewhere, in async code.
package struct FrameDecoder: ByteToMessageDecoder {
    package typealias InboundOut = ByteBuffer
    package static let defaultMaximumFrameSize = 4 * 1024 * 1024

    package let maximumFrameSize: Int

    package init(maximumFrameSize: Int = FrameDecoder.defaultMaximumFrameSize) {
        self.maximumFrameSize = maximumFrameSize
    }

    package mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard Int(length) <= maximumFrameSize else {
            throw FrameTooLargeError(length: Int(length), maximum: maximumFrameSize)
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        let frame = buffer.readSlice(length: Int(length))!
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    package mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A truncated frame at close is dropped: the peer is gone and there is nobody to answer.
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.clear()
        return .needMoreData
    }
}

extension PB.Envelope {
    /// The envelope as one frame: length prefix and encoding.
    package func frame(allocator: ByteBufferAllocator) -> ByteBuffer {
        let bytes = serializedBytes()
        var buffer = allocator.buffer(capacity: 4 + bytes.count)
        buffer.writeInteger(UInt32(bytes.count))
        buffer.writeBytes(bytes)
        return buffer
    }

    /// Decodes an envelope from one frame's bytes.
    package init(frame: ByteBuffer) throws(WireDecodingError) {
        self = try PB.Envelope(buffer: frame)
    }
}

extension WireMessage {
    /// Decodes a message from the readable bytes of a buffer, without copying them.
    package init(buffer: ByteBuffer) throws(WireDecodingError) {
        let result: Result<Self, WireDecodingError> = buffer.withUnsafeReadableBytes { raw in
            Result { () throws(WireDecodingError) in try Self(serializedBytes: raw) }
        }
        self = try result.get()
    }
}
