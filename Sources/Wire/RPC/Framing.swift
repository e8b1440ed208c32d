import NIOCore
import Synchronization

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
    /// A frame whose first byte arrived must be whole within this time, however steadily it trickles.
    private let frameDeadline: TimeAmount?
    /// Bytes held in partial frames across every connection of a listener.
    private let budget: PartialFrameBudget?
    private var deadline: Scheduled<Void>?
    private var held = 0

    package init(maximumFrameSize: Int = FrameDecoder.defaultMaximumFrameSize,
                 frameDeadline: TimeAmount? = nil, budget: PartialFrameBudget? = nil) {
        self.maximumFrameSize = maximumFrameSize
        self.frameDeadline = frameDeadline
        self.budget = budget
    }

    package mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else {
            try partial(context: context, bytes: buffer.readableBytes)
            return .needMoreData
        }
        guard Int(length) <= maximumFrameSize else {
            throw FrameTooLargeError(length: Int(length), maximum: maximumFrameSize)
        }
        guard buffer.readableBytes >= 4 + Int(length) else {
            try partial(context: context, bytes: buffer.readableBytes)
            return .needMoreData
        }
        buffer.moveReaderIndex(forwardBy: 4)
        let frame = buffer.readSlice(length: Int(length))!
        settle()
        context.fireChannelRead(wrapInboundOut(frame))
        return .continue
    }

    /// A frame is under way: its deadline starts with its first byte, and its bytes count against the budget.
    private mutating func partial(context: ChannelHandlerContext, bytes: Int) throws {
        guard bytes > 0 else { return settle() }
        if deadline == nil, let frameDeadline {
            let channel = context.channel
            deadline = context.eventLoop.scheduleTask(in: frameDeadline) { channel.close(promise: nil) }
        }
        if let budget, bytes > held {
            guard budget.reserve(bytes - held, total: bytes) else {
                throw PartialFrameBudgetExceeded(limit: budget.limit)
            }
            held = bytes
        }
    }

    /// No partial frame is held any more: stop its timer and give its bytes back.
    private mutating func settle() {
        deadline?.cancel()
        deadline = nil
        if held > 0 { budget?.release(held) }
        held = 0
    }

    package mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A truncated frame at close is dropped: the peer is gone and there is nobody to answer.
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.clear()
        settle()
        return .needMoreData
    }

    package mutating func decoderRemoved(context: ChannelHandlerContext) {
        settle()
    }
}

/// Bytes held in partial frames across all connections of one listener. Small partial frames (the tail
/// of ordinary traffic) are always allowed; a partial frame beyond `exempt` bytes that would take the total
/// past `limit` closes its connection, so slow big uploads cannot pile up memory.
package final class PartialFrameBudget: Sendable {
    package let limit: Int
    package let exempt: Int
    private let used = Atomic<Int>(0)

    package init(limit: Int, exempt: Int = 64 * 1024) {
        self.limit = limit
        self.exempt = exempt
    }

    /// Bytes held in partial frames right now.
    package var inUse: Int { used.load(ordering: .relaxed) }

    func reserve(_ bytes: Int, total: Int) -> Bool {
        let now = used.wrappingAdd(bytes, ordering: .relaxed).newValue
        if now > limit && total > exempt {
            used.wrappingSubtract(bytes, ordering: .relaxed)
            return false
        }
        return true
    }

    func release(_ bytes: Int) {
        used.wrappingSubtract(bytes, ordering: .relaxed)
    }
}

/// The listener's budget for partial frames is spent; the connection that asked for more is closed.
package struct PartialFrameBudgetExceeded: Error, Sendable, CustomStringConvertible {
    package var limit: Int
    package var description: String { "partial frames across connections exceed \(limit) bytes" }
}

extension PB.Envelope {
    /// The envelope as one frame: length prefix and encoding.
    ///
    /// Only diagnostic text can hold a NUL byte here (a client refuses NUL metadata before a call leaves,
    /// methods are generated constants, payloads are bytes), so instead of failing the frame the status
    /// message and violations are sent with each NUL written as `\0`: shown, not cut.
    package func frame(allocator: ByteBufferAllocator) -> ByteBuffer {
        let bytes: [UInt8]
        do {
            bytes = try serializedBytes()
        } catch {
            do {
                bytes = try withNULsEscaped().serializedBytes()
            } catch {
                preconditionFailure("an envelope without NUL bytes always encodes: \(error)")
            }
        }
        var buffer = allocator.buffer(capacity: 4 + bytes.count)
        buffer.writeInteger(UInt32(bytes.count))
        buffer.writeBytes(bytes)
        return buffer
    }

    private func withNULsEscaped() -> PB.Envelope {
        func escaped(_ text: String) -> String { String(text.flatMap { $0 == "\u{0}" ? ["\\", "0"] : [$0] }) }
        var envelope = self
        envelope.method = escaped(method)
        envelope.statusMessage = escaped(statusMessage)
        envelope.violations = violations.map { violation in
            var violation = violation
            violation.field = escaped(violation.field)
            violation.message = escaped(violation.message)
            return violation
        }
        if var metadata = envelope.metadata {
            metadata.traceId = escaped(metadata.traceId)
            metadata.tenantId = escaped(metadata.tenantId)
            envelope.metadata = metadata
        }
        return envelope
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
