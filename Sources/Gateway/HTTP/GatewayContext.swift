import Hummingbird
import Logging

/// What the gateway knows about a request as it passes the middleware.
package struct GatewayContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    /// From `X-Request-Id` when the caller sent a sane one, otherwise generated.
    package var requestID: String = ""
    /// Set by authentication for tenant-scoped routes.
    package var tenantID: String?
    /// Largest body a route decodes; routes with other limits check their own.
    package var maxUploadSize: Int
    /// The socket peer's address (no port); empty when unknown.
    package var peerAddress: String
    /// The client's address: the peer, or from `X-Forwarded-For` when the peer is a trusted proxy. Set by
    /// `GatewayMiddleware`; used for throttling and stored as a delivery's origin address.
    package var clientAddress: String = ""

    package init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.maxUploadSize = 1024 * 1024
        self.peerAddress = source.channel.remoteAddress?.ipAddress ?? ""
    }
}
