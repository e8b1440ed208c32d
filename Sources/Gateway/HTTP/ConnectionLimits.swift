import Foundation
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTPTypes
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Closes a connection whose request head or body arrives too slowly. Hummingbird's idle timeout covers
/// the gap between requests on a kept-alive connection; this handler adds the two deadlines a slow
/// client could otherwise stretch forever: the first request head must be complete within
/// `headerTimeout` of the connection opening (slowloris), and each request's body within `bodyTimeout`
/// of its head. It sits after the HTTP decoder, so it sees whole parts, not bytes.
final class RequestReadDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    let headerTimeout: TimeAmount
    let bodyTimeout: TimeAmount
    private var scheduled: Scheduled<Void>?

    init(headerTimeout: TimeAmount, bodyTimeout: TimeAmount) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        arm(context, headerTimeout)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        scheduled?.cancel()
        scheduled = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        scheduled?.cancel()
        scheduled = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: arm(context, bodyTimeout)
        case .body: break
        case .end:
            scheduled?.cancel()
            scheduled = nil
        }
        context.fireChannelRead(data)
    }

    private func arm(_ context: ChannelHandlerContext, _ timeout: TimeAmount) {
        scheduled?.cancel()
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        scheduled = context.eventLoop.scheduleTask(in: timeout) {
            loopBound.value.close(promise: nil)
        }
    }
}

/// The gateway's connection bounds, resolved from its settings.
package struct ConnectionLimits: Sendable {
    /// Most connections open at once; beyond it new ones wait in the listen backlog until one closes.
    package var maxConnections: Int = 4096
    /// A kept-alive connection with no request in flight is closed after this.
    package var idleTimeout: Duration = .seconds(60)
    /// The first request head must be complete this long after the connection opened.
    package var headerTimeout: Duration = .seconds(10)
    /// A request body must be complete this long after its head.
    package var bodyTimeout: Duration = .seconds(30)

    package init(maxConnections: Int = 4096, idleTimeout: Duration = .seconds(60), headerTimeout: Duration = .seconds(10),
                 bodyTimeout: Duration = .seconds(30)) {
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
    }

    var server: HTTPServerBuilder {
        let header = TimeAmount(headerTimeout)
        let body = TimeAmount(bodyTimeout)
        return .http1(configuration: .init(
            additionalChannelHandlers: [RequestReadDeadlineHandler(headerTimeout: header, bodyTimeout: body)],
            idleTimeout: TimeAmount(idleTimeout)))
    }

    /// Raises the soft open-file limit to the hard one when it is below what the connection cap needs
    /// (each connection is a descriptor), so the cap, not EMFILE, decides when connections wait.
    static func raiseFileLimit(for connections: Int) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        let wanted = rlim_t(connections + 1024)
        guard limit.rlim_cur < wanted else { return }
        limit.rlim_cur = min(wanted, limit.rlim_max)
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}
