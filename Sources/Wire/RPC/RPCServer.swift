import Basics
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import ServiceLifecycle
import Synchronization

/// Settings of an RPC listener.
package struct RPCServerConfiguration: Sendable {
    package var host: String
    /// 0 picks a free port (tests).
    package var port: Int
    package var maximumFrameSize: Int
    /// Calls served at once across all connections; beyond it calls answer RESOURCE_EXHAUSTED.
    package var maximumConcurrentCalls: Int
    /// A connection that sends no frame for this long is closed.
    package var idleTimeout: TimeAmount
    /// Calls that carry no deadline get this one.
    package var defaultTimeout: Duration
    /// A frame (and the TLS handshake) must be whole within this time of its first byte.
    package var frameDeadline: TimeAmount
    /// Connections open at once; one more is closed as soon as it is accepted.
    package var maximumConnections: Int
    /// Bytes held in partial frames across all connections; see `PartialFrameBudget`.
    package var maximumPartialFrameBytes: Int
    /// Who may call what (only enforced under mutual TLS, where callers have an identity).
    package var access: RPCAccessPolicy

    package init(
        host: String = "127.0.0.1", port: Int, maximumFrameSize: Int = FrameDecoder.defaultMaximumFrameSize,
        maximumConcurrentCalls: Int = 1024, idleTimeout: TimeAmount = .minutes(5), defaultTimeout: Duration = .seconds(30),
        frameDeadline: TimeAmount = .seconds(10), maximumConnections: Int = 1024,
        maximumPartialFrameBytes: Int = 64 * 1024 * 1024, access: RPCAccessPolicy = .generated
    ) {
        self.frameDeadline = frameDeadline
        self.maximumConnections = maximumConnections
        self.maximumPartialFrameBytes = maximumPartialFrameBytes
        self.access = access
        self.host = host
        self.port = port
        self.maximumFrameSize = maximumFrameSize
        self.maximumConcurrentCalls = maximumConcurrentCalls
        self.idleTimeout = idleTimeout
        self.defaultTimeout = defaultTimeout
    }
}

/// A length-prefixed protobuf RPC listener: dispatches each call by method name to its route, answers
/// out of order, enforces deadlines and a concurrency limit, and drains in-flight calls on shutdown.
/// One misbehaving peer only ever closes its own connection.
package final class RPCServer: Service, Sendable {
    package let configuration: RPCServerConfiguration
    private let routes: [String: RPCRoute]
    private let logger: Logger
    private let serverChannel: NIOAsyncChannel<(NIOAsyncChannel<ByteBuffer, ByteBuffer>, PeerIdentity), Never>
    private let security: RPCSecurity
    /// Bytes held in partial frames across all connections.
    package let partialFrames: PartialFrameBudget
    private let inFlight = Atomic<Int>(0)
    private let draining = Atomic<Bool>(false)
    private let connections = Mutex<[ObjectIdentifier: (any Channel, ConnectionCalls)]>([:])
    /// Calls served, by method and status code.
    package let stats: RPCStats

    /// The address the listener is bound to (its port when 0 was asked for).
    package let localAddress: SocketAddress

    /// Binds the listener. Calls are served once `run()` is called.
    package init(
        configuration: RPCServerConfiguration, routes: [RPCRoute], security: RPCSecurity, logger: Logger,
        stats: RPCStats = RPCStats(), eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws {
        self.configuration = configuration
        self.security = security
        let budget = PartialFrameBudget(limit: configuration.maximumPartialFrameBytes)
        self.partialFrames = budget
        let tls = security.credentials?.serverContext
        let frameDeadline = configuration.frameDeadline
        if tls == nil {
            logger.warning("rpc.insecure_plaintext", metadata: ["detail": "RPC listener without TLS: any process that reaches the port is trusted; development only"])
        }
        self.stats = stats
        self.routes = Dictionary(routes.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        self.logger = logger
        let maximumFrameSize = configuration.maximumFrameSize
        let idleTimeout = configuration.idleTimeout
        self.serverChannel = try await ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let peer = PeerIdentity()
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                    try channel.pipeline.syncOperations.addHandler(CloseOnIdleHandler())
                    if let tls {
                        // The handshake verifies the client's certificate against the CA: a peer without
                        // one is refused here, before any frame is decoded.
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                        try channel.pipeline.syncOperations.addHandler(HandshakeHandler(deadline: frameDeadline, peer: peer))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(FrameDecoder(maximumFrameSize: maximumFrameSize, frameDeadline: frameDeadline,
                                                          budget: budget),
                                             maximumBufferSize: maximumFrameSize + 4))
                    return (try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel), peer)
                }
            }
        guard let address = serverChannel.channel.localAddress else {
            throw RPCError(.internal, "listener has no local address")
        }
        self.localAddress = address
    }

    /// The bound port.
    package var port: Int { localAddress.port ?? configuration.port }

    /// Connections open right now.
    package var openConnections: Int { connections.withLock { $0.count } }

    /// Calls being served right now.
    package var callsInFlight: Int { inFlight.load(ordering: .relaxed) }

    /// Serves connections until the listener closes. On graceful shutdown it stops accepting, answers
    /// new calls UNAVAILABLE, lets in-flight calls finish and then closes each connection.
    package func run() async throws {
        await withGracefulShutdownHandler {
            // An error of the listener must not cancel the connections still finishing their calls.
            await withDiscardingTaskGroup { group in
                do {
                    try await serverChannel.executeThenClose { inbound in
                        for try await (connection, identity) in inbound {
                            group.addTask { await self.serve(connection, identity: identity) }
                        }
                    }
                } catch {
                    logger.debug("rpc.listener_closed", metadata: ["error": "\(error)"])
                }
            }
        } onGracefulShutdown: {
            self.beginDrain()
        }
    }

    /// Stops accepting connections and starts draining the open ones.
    package func beginDrain() {
        draining.store(true, ordering: .relaxed)
        serverChannel.channel.close(promise: nil)
        // Connections with nothing in flight close now; the others close after their last answer.
        for (channel, calls) in connections.withLock({ Array($0.values) }) where calls.count == 0 {
            channel.close(promise: nil)
        }
    }

    // MARK: - Connections

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>, identity: PeerIdentity) async {
        let peer = connection.channel.remoteAddress?.description ?? "unknown"
        let logger: Logger = {
            var logger = self.logger
            logger[metadataKey: "peer.address"] = "\(peer)"
            return logger
        }()
        let channel = connection.channel
        let open = ConnectionCalls()
        let key = ObjectIdentifier(open)
        let admitted = connections.withLock { connections -> Bool in
            guard connections.count < configuration.maximumConnections else { return false }
            connections[key] = (channel, open)
            return true
        }
        guard admitted else {
            logger.warning("rpc.connection_refused", metadata: ["reason": "connection limit \(configuration.maximumConnections) reached"])
            // Closing a connection that is refused anyway: if the close fails, the socket is gone already.
            try? await connection.executeThenClose { _, _ in }
            return
        }
        defer { _ = connections.withLock { $0.removeValue(forKey: key) } }
        if draining.load(ordering: .relaxed) { channel.close(promise: nil) }
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await frame in inbound {
                        let envelope: PB.Envelope
                        do {
                            envelope = try PB.Envelope(frame: frame)
                        } catch {
                            // Not our protocol: nothing sensible can be answered on this connection.
                            logger.warning("rpc.bad_envelope", metadata: ["error": "\(error)"])
                            throw error
                        }
                        guard !envelope.isResponse else {
                            throw RPCError(.invalidArgument, "a response frame was sent to a server")
                        }
                        if draining.load(ordering: .relaxed) {
                            let answer = Self.failure(envelope, RPCError(.unavailable, "server is shutting down"))
                            try await outbound.write(answer.frame(allocator: channel.allocator))
                            if open.count == 0 { break }
                            continue
                        }
                        guard acquire() else {
                            let answer = Self.failure(envelope, RPCError(.resourceExhausted, "too many calls in flight"))
                            try await outbound.write(answer.frame(allocator: channel.allocator))
                            continue
                        }
                        open.started()
                        group.addTask {
                            await self.serve(call: envelope, peer: peer, caller: identity.names, logger: logger,
                                             outbound: outbound, allocator: channel.allocator)
                            self.release()
                            if open.finished() == 0 && self.draining.load(ordering: .relaxed) {
                                channel.close(mode: .all, promise: nil)
                            }
                        }
                    }
                }
            }
        } catch {
            logger.debug("rpc.connection_closed", metadata: ["error": "\(error)"])
        }
    }

    private func acquire() -> Bool {
        let now = inFlight.wrappingAdd(1, ordering: .relaxed).newValue
        if now > configuration.maximumConcurrentCalls {
            inFlight.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    private func release() {
        inFlight.wrappingSubtract(1, ordering: .relaxed)
    }

    // MARK: - Calls

    /// Serves one call and writes its one answer through the connection's outbound writer, the only
    /// path to the socket, so answers never interleave. At the call's deadline the caller is answered
    /// DEADLINE_EXCEEDED at once and the handler's task is cancelled; the call keeps its concurrency slot
    /// until the handler has returned, so a handler that ignores cancellation still counts as in flight.
    private func serve(
        call request: PB.Envelope, peer: String, caller: [String], logger: Logger,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, allocator: ByteBufferAllocator
    ) async {
        let started = ContinuousClock.now
        guard let timeout = timeout(of: request) else {
            let answer = Self.failure(request, RPCError(.deadlineExceeded, "deadline passed before the call arrived"))
            await send(answer, for: request, started: started, logger: logger, outbound: outbound, allocator: allocator)
            return
        }
        let deadline = started + .microseconds(timeout)
        enum Outcome: Sendable { case answered(PB.Envelope), deadlineReached, timerCancelled }
        await withTaskGroup(of: Outcome.self) { race in
            race.addTask { .answered(await self.dispatch(request, deadline: deadline, peer: peer, caller: caller, logger: logger)) }
            race.addTask {
                do {
                    try await Task.sleep(until: deadline, clock: .continuous)
                    return .deadlineReached
                } catch {
                    // Only cancellation ends the sleep early: the connection is closing, and the handler,
                    // cancelled with it, answers CANCELLED.
                    return .timerCancelled
                }
            }
            while let outcome = await race.next() {
                let answer: PB.Envelope
                switch outcome {
                case .answered(let envelope): answer = envelope
                case .deadlineReached: answer = Self.failure(request, RPCError(.deadlineExceeded, "deadline exceeded"))
                case .timerCancelled: continue
                }
                race.cancelAll()
                await send(answer, for: request, started: started, logger: logger, outbound: outbound, allocator: allocator)
                // Leaving the group waits for the handler, which sees its task cancelled.
                return
            }
        }
    }

    private func send(
        _ answer: PB.Envelope, for request: PB.Envelope, started: ContinuousClock.Instant, logger: Logger,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, allocator: ByteBufferAllocator
    ) async {
        let code = StatusCode(rawValue: answer.statusCode) ?? .unknown
        stats.record(method: request.method, code: code, duration: ContinuousClock.now - started)
        do {
            try await outbound.write(answer.frame(allocator: allocator))
        } catch {
            // The caller hung up (or the connection is closing): the answer has nowhere to go.
            stats.recordUndelivered(method: request.method)
            logger.debug("rpc.answer_undelivered", metadata: ["rpc.method": "\(request.method)", "rpc.code": "\(code)",
                                                              "error": "\(error)"])
        }
    }

    private func dispatch(_ request: PB.Envelope, deadline: ContinuousClock.Instant, peer: String, caller: [String],
                          logger connectionLogger: Logger) async -> PB.Envelope {
        var callLogger = connectionLogger
        callLogger[metadataKey: "rpc.method"] = "\(request.method)"
        if let trace = request.metadata?.traceId, !trace.isEmpty { callLogger[metadataKey: "trace.id"] = "\(trace)" }
        if let tenant = request.metadata?.tenantId, !tenant.isEmpty { callLogger[metadataKey: "tenant.id"] = "\(tenant)" }
        let logger = callLogger

        guard let route = routes[request.method] else {
            return Self.failure(request, RPCError(.unimplemented, "unknown method \(request.method)"))
        }
        if security.credentials != nil {
            // Under TLS every call is checked against the table; no identity (it cannot happen after a
            // verified handshake) is denied like any other stranger.
            if let refusal = configuration.access.refusal(method: request.method, caller: caller,
                                                          tenantID: request.metadata?.tenantId ?? "") {
                logger.warning("rpc.permission_denied", metadata: ["rpc.caller": "\(caller.joined(separator: ","))"])
                return Self.failure(request, refusal)
            }
        }
        let context = RPCContext(
            method: request.method, traceID: request.metadata?.traceId ?? "",
            tenantID: request.metadata?.tenantId ?? "", deadline: deadline, peer: peer, caller: caller.first ?? "", logger: logger)
        let payload = request.payload

        let result: Result<[UInt8], RPCError>
        do {
            result = .success(try await route.handle(payload, context))
        } catch let error as RPCError {
            result = .failure(error)
        } catch is CancellationError {
            result = .failure(RPCError(.cancelled, "call cancelled"))
        } catch {
            logger.error("rpc.handler_failed", metadata: ["error": "\(String(reflecting: error))"])
            result = .failure(RPCError(.internal, "internal error"))
        }
        switch result {
        case .success(let bytes):
            var answer = PB.Envelope()
            answer.callId = request.callId
            answer.isResponse = true
            answer.payload = bytes
            return answer
        case .failure(let error):
            if error.code == .internal || error.code == .deadlineExceeded {
                logger.debug("rpc.call_failed", metadata: ["rpc.code": "\(error.code)", "error": "\(error.message)"])
            }
            return Self.failure(request, error)
        }
    }

    /// Microseconds the call may take; nil when its deadline already passed.
    private func timeout(of request: PB.Envelope) -> Int64? {
        switch request.timeoutMicros {
        case ..<0: return nil
        case 0: return configuration.defaultTimeout.micros
        default: return request.timeoutMicros
        }
    }

    static func failure(_ request: PB.Envelope, _ error: RPCError) -> PB.Envelope {
        var answer = PB.Envelope()
        answer.callId = request.callId
        answer.isResponse = true
        answer.statusCode = error.code.rawValue
        answer.statusMessage = error.message
        answer.violations = error.violations.map {
            var violation = PB.FieldViolation()
            violation.field = $0.field
            violation.message = $0.message
            return violation
        }
        return answer
    }
}

/// Counts the calls open on one connection, so a draining server knows when to close it.
private final class ConnectionCalls: Sendable {
    private let value = Atomic<Int>(0)
    var count: Int { value.load(ordering: .relaxed) }
    func started() { value.wrappingAdd(1, ordering: .relaxed) }
    func finished() -> Int { value.wrappingSubtract(1, ordering: .relaxed).newValue }
}

/// Closes a connection that stayed silent past the idle timeout.
private final class CloseOnIdleHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

/// The service name of a connection's verified client certificate, known once the handshake completes.
final class PeerIdentity: Sendable {
    private let value = Mutex<[String]>([])
    var names: [String] { value.withLock { $0 } }
    func set(_ names: [String]) { value.withLock { $0 = names } }
}

/// Bounds the TLS handshake by the frame deadline and records the peer's identity when it completes.
private final class HandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let deadline: TimeAmount
    private let peer: PeerIdentity
    private var timer: Scheduled<Void>?

    init(deadline: TimeAmount, peer: PeerIdentity) {
        self.deadline = deadline
        self.peer = peer
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: deadline) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            timer?.cancel()
            timer = nil
            // No readable certificate means no identity: every call on this connection is then refused as
            // a stranger's (PERMISSION_DENIED, logged), so nothing is lost quietly.
            let certificate = (try? context.pipeline.syncOperations.nioSSL_peerCertificate()) ?? nil
            peer.set(certificate.map(RPCCredentials.names(of:)) ?? [])
        }
        context.fireUserInboundEventTriggered(event)
    }
}
