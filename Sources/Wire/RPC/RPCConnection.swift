import Basics
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

extension RetryBackoff {
    /// How a client connection reconnects after its peer went away: 50 ms doubling to at most 5 s, the last
    /// fifth of each wait random, so many clients do not reconnect in step.
    package static let reconnect = RetryBackoff(initial: .milliseconds(50), maximum: .seconds(5), multiplier: 2, jitter: 0.2)
}

/// One connection to one peer, shared by every caller: calls are multiplexed by call id and answered
/// in any order. The connection is opened on first use and re-opened after a failure, no sooner than a
/// capped exponential backoff with jitter allows. Only calls marked idempotent are retried
/// automatically; every call honours its deadline.
package final class RPCConnection: Sendable {
    package let host: String
    package let port: Int
    /// Calls made, by method and status code (retries inside one call count once).
    package let stats: RPCStats
    private let maximumFrameSize: Int
    private let backoff: RetryBackoff
    private let connectTimeout: TimeAmount
    private let group: any EventLoopGroup
    private let logger: Logger
    private let security: RPCSecurity
    /// The service the peer's certificate must name (nil: any certificate from the CA).
    package let serverName: String?
    private let state = Mutex(State())

    private struct State {
        var channel: (any Channel)?
        var connecting: EventLoopFuture<any Channel>?
        var failures = 0
        var nextAttempt = ContinuousClock.now
        var nextCallID: UInt64 = 1
        var pending: [UInt64: EventLoopPromise<PB.Envelope>] = [:]
        var closed = false
    }

    package init(
        host: String, port: Int, security: RPCSecurity, serverName: String? = nil,
        maximumFrameSize: Int = FrameDecoder.defaultMaximumFrameSize,
        backoff: RetryBackoff = .reconnect, connectTimeout: TimeAmount = .seconds(2),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, stats: RPCStats = RPCStats(), logger: Logger
    ) {
        self.stats = stats
        self.security = security
        self.serverName = serverName
        self.host = host
        self.port = port
        self.maximumFrameSize = maximumFrameSize
        self.backoff = backoff
        self.connectTimeout = connectTimeout
        self.group = eventLoopGroup
        var logger = logger
        logger[metadataKey: "peer.address"] = "\(host):\(port)"
        self.logger = logger
    }

    /// `host:port` of the peer.
    package var address: String { "\(host):\(port)" }

    /// Closes the connection; calls in flight fail with UNAVAILABLE and later calls are refused.
    package func close() {
        let (channel, pending) = state.withLock { state -> ((any Channel)?, [EventLoopPromise<PB.Envelope>]) in
            state.closed = true
            defer { state.pending.removeAll(); state.channel = nil }
            return (state.channel, Array(state.pending.values))
        }
        for promise in pending { promise.fail(RPCError(.unavailable, "connection closed")) }
        channel?.close(promise: nil)
    }

    // MARK: - Calls

    /// Sends one call and waits for its answer, retrying idempotent calls while the deadline allows.
    package func call<Request, Response>(
        _ method: RPCMethod<Request, Response>, _ request: Request, options: CallOptions = CallOptions()
    ) async throws(RPCError) -> Response {
        let started = ContinuousClock.now
        do {
            let response = try await attempt(method, request, options: options)
            stats.record(method: method.path, code: .ok, duration: ContinuousClock.now - started)
            return response
        } catch {
            stats.record(method: method.path, code: error.code, duration: ContinuousClock.now - started)
            throw error
        }
    }

    private func attempt<Request, Response>(
        _ method: RPCMethod<Request, Response>, _ request: Request, options: CallOptions
    ) async throws(RPCError) -> Response {
        let deadline = ContinuousClock.now + options.timeout
        var envelope = PB.Envelope()
        envelope.method = method.path
        do {
            envelope.payload = try request.serializedBytes()
        } catch {
            // Refused here, before anything is sent: the server could only see the string cut short.
            throw RPCError(.invalidArgument, error.description, violations: [FieldViolation(field: error.field, message: "contains a NUL byte")])
        }
        for (field, value) in [("metadata.trace_id", options.traceID), ("metadata.tenant_id", options.tenantID)] where value.utf8.contains(0) {
            throw RPCError(.invalidArgument, "\(field) contains a NUL byte", violations: [FieldViolation(field: field, message: "contains a NUL byte")])
        }
        if !options.traceID.isEmpty || !options.tenantID.isEmpty {
            var metadata = PB.Metadata()
            metadata.traceId = options.traceID
            metadata.tenantId = options.tenantID
            envelope.metadata = metadata
        }
        var attempt = 0
        while true {
            attempt += 1
            let answer: PB.Envelope
            do {
                answer = try await send(envelope, deadline: deadline)
            } catch {
                guard method.idempotent, error.code == .unavailable, !Task.isCancelled else { throw error }
                let pause = min(backoff.delay(afterAttempt: attempt), deadline - ContinuousClock.now)
                guard pause > .zero else { throw RPCError(.deadlineExceeded, "deadline exceeded after \(attempt) attempts: \(error.message)") }
                try await Self.pause(for: pause)
                continue
            }
            if answer.statusCode != 0 {
                let code = StatusCode(rawValue: answer.statusCode) ?? .unknown
                let error = RPCError(code, answer.statusMessage,
                                     violations: answer.violations.map { FieldViolation(field: $0.field, message: $0.message) })
                if method.idempotent, code == .unavailable, deadline - ContinuousClock.now > .zero {
                    try await Self.pause(for: min(backoff.delay(afterAttempt: attempt), deadline - ContinuousClock.now))
                    continue
                }
                throw error
            }
            do {
                return try Response(serializedBytes: answer.payload)
            } catch {
                throw RPCError(.internal, "answer does not decode as \(Response.protoName)")
            }
        }
    }

    /// Waits between attempts; a caller that gives up meanwhile gets CANCELLED, not another attempt.
    private static func pause(for duration: Duration) async throws(RPCError) {
        do {
            try await Task.sleep(for: duration)
        } catch {
            throw RPCError(.cancelled, "call cancelled")
        }
    }

    private func send(_ request: PB.Envelope, deadline: ContinuousClock.Instant) async throws(RPCError) -> PB.Envelope {
        let remaining = deadline - ContinuousClock.now
        guard remaining > .zero else { throw RPCError(.deadlineExceeded, "deadline exceeded") }
        let channel = try await connectedChannel(deadline: deadline)
        let promise = channel.eventLoop.makePromise(of: PB.Envelope.self)
        var request = request
        let registered = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            request.callId = state.nextCallID
            state.nextCallID &+= 1
            state.pending[request.callId] = promise
            return true
        }
        guard registered else {
            promise.fail(RPCError(.unavailable, "connection closed"))
            throw RPCError(.unavailable, "connection closed")
        }
        let callID = request.callId
        request.timeoutMicros = max(1, (deadline - ContinuousClock.now).micros)
        let timeout = channel.eventLoop.scheduleTask(in: .microseconds((deadline - ContinuousClock.now).micros)) {
            self.fail(callID, RPCError(.deadlineExceeded, "deadline exceeded"))
        }
        channel.writeAndFlush(request.frame(allocator: channel.allocator)).whenFailure { error in
            self.fail(callID, RPCError(.unavailable, "write failed: \(error)"))
        }
        defer { timeout.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await promise.futureResult.get()
            } onCancel: {
                self.fail(callID, RPCError(.cancelled, "call cancelled"))
            }
        } catch let error as RPCError {
            throw error
        } catch {
            throw RPCError(.unavailable, "\(error)")
        }
    }

    private func fail(_ callID: UInt64, _ error: RPCError) {
        let promise = state.withLock { $0.pending.removeValue(forKey: callID) }
        promise?.fail(error)
    }

    // MARK: - Connecting

    private func connectedChannel(deadline: ContinuousClock.Instant) async throws(RPCError) -> any Channel {
        enum Next { case ready(any Channel), wait(EventLoopFuture<any Channel>), backoff(Duration), closed }
        let next: Next = state.withLock { state in
            if state.closed { return .closed }
            if let channel = state.channel, channel.isActive { return .ready(channel) }
            if let connecting = state.connecting { return .wait(connecting) }
            let now = ContinuousClock.now
            if state.nextAttempt > now { return .backoff(state.nextAttempt - now) }
            let future = self.connect()
            state.connecting = future
            return .wait(future)
        }
        switch next {
        case .ready(let channel):
            return channel
        case .closed:
            throw RPCError(.unavailable, "connection closed")
        case .backoff(let wait):
            throw RPCError(.unavailable, "\(address) unavailable; next attempt in \(wait)")
        case .wait(let future):
            do {
                return try await future.get()
            } catch let error as RPCError {
                throw error
            } catch {
                throw RPCError(.unavailable, "\(address) unavailable: \(error)")
            }
        }
    }

    /// Opens the socket; called with the state lock held, so exactly one attempt runs at a time.
    private func connect() -> EventLoopFuture<any Channel> {
        let maximumFrameSize = self.maximumFrameSize
        let credentials = security.credentials
        let serverName = self.serverName
        let future = ClientBootstrap(group: group)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let credentials {
                        // The server's certificate is checked against the service name given as the TLS
                        // server name, so the dialled address (an IP or a compose name) does not matter.
                        let context = serverName == nil ? credentials.clientContext : credentials.namedClientContext
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: context, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(FrameDecoder(maximumFrameSize: maximumFrameSize),
                                             maximumBufferSize: maximumFrameSize + 4))
                    try channel.pipeline.syncOperations.addHandler(ResponseHandler(connection: self))
                }
            }
            .connect(host: host, port: port)
        future.whenComplete { result in
            self.state.withLock { state in
                state.connecting = nil
                switch result {
                case .success(let channel):
                    state.failures = 0
                    if state.closed { channel.close(promise: nil) } else { state.channel = channel }
                case .failure:
                    state.failures += 1
                    state.nextAttempt = ContinuousClock.now + self.backoff.delay(afterAttempt: state.failures)
                }
            }
        }
        return future
    }

    fileprivate func received(_ frame: ByteBuffer) {
        let envelope: PB.Envelope
        do {
            envelope = try PB.Envelope(frame: frame)
        } catch {
            // The call it answers (if any) fails at its deadline; the frame is counted and logged.
            stats.recordUndelivered(method: "")
            logger.warning("rpc.bad_answer", metadata: ["error": "\(error)"])
            return
        }
        guard envelope.isResponse else {
            stats.recordUndelivered(method: "")
            logger.warning("rpc.bad_answer", metadata: ["error": "a request frame was sent to a client"])
            return
        }
        let promise = state.withLock { $0.pending.removeValue(forKey: envelope.callId) }
        promise?.succeed(envelope)
    }

    fileprivate func lost(_ channel: any Channel, error: (any Error)?) {
        let pending = state.withLock { state -> [EventLoopPromise<PB.Envelope>] in
            guard state.channel === channel else { return [] }
            state.channel = nil
            // The peer was reachable a moment ago: try again soon, but not in a tight loop.
            state.failures += 1
            state.nextAttempt = ContinuousClock.now + self.backoff.delay(afterAttempt: 1)
            defer { state.pending.removeAll() }
            return Array(state.pending.values)
        }
        if !pending.isEmpty {
            logger.debug("rpc.connection_lost", metadata: ["rpc.calls_failed": "\(pending.count)"])
        }
        for promise in pending { promise.fail(RPCError(.unavailable, "connection to \(address) lost")) }
    }
}

/// Hands each answer frame to the connection and reports when the socket goes away.
private final class ResponseHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let connection: RPCConnection

    init(connection: RPCConnection) { self.connection = connection }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.received(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection.lost(context.channel, error: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        connection.lost(context.channel, error: error)
        context.close(promise: nil)
    }
}
