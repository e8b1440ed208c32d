import Logging
import NIOCore

/// One RPC: its path on the wire and whether a client may retry it automatically.
package struct RPCMethod<Request: WireMessage, Response: WireMessage>: Sendable {
    /// `/agents.v1.<Service>/<Method>`.
    package let path: String
    /// Marked `IDEMPOTENT` or `NO_SIDE_EFFECTS` in `proto/`: safe to send again after a failure.
    package let idempotent: Bool

    package init(path: String, idempotent: Bool) {
        self.path = path
        self.idempotent = idempotent
    }
}

/// What a handler knows about the call it serves.
package struct RPCContext: Sendable {
    package var method: String
    package var traceID: String
    /// The tenant the caller acts for; empty for calls that are not tenant-scoped.
    package var tenantID: String
    /// When the caller stops waiting, if it set a deadline.
    package var deadline: ContinuousClock.Instant?
    package var peer: String
    /// The caller's service name from its verified client certificate; empty on a plaintext listener.
    package var caller: String
    package var logger: Logger

    package init(
        method: String, traceID: String = "", tenantID: String = "", deadline: ContinuousClock.Instant? = nil,
        peer: String = "", caller: String = "", logger: Logger
    ) {
        self.caller = caller
        self.method = method
        self.traceID = traceID
        self.tenantID = tenantID
        self.deadline = deadline
        self.peer = peer
        self.logger = logger
    }

    /// The tenant id, or `INVALID_ARGUMENT` when the call carries none.
    package func requireTenant() throws(RPCError) -> String {
        guard !tenantID.isEmpty else { throw RPCError(.invalidArgument, "metadata.tenant_id is required") }
        return tenantID
    }
}

/// A type-erased server route: decodes the request, runs the handler, encodes the response.
package struct RPCRoute: Sendable {
    package let path: String
    package let handle: @Sendable ([UInt8], RPCContext) async throws -> [UInt8]

    package init<Request, Response>(
        _ method: RPCMethod<Request, Response>,
        handler: @escaping @Sendable (Request, RPCContext) async throws -> Response
    ) {
        self.path = method.path
        self.handle = { payload, context in
            let request: Request
            do {
                request = try Request(serializedBytes: payload)
            } catch {
                throw RPCError(.invalidArgument, "payload does not decode as \(Request.protoName)")
            }
            let response = try await handler(request, context)
            do {
                return try response.serializedBytes()
            } catch {
                // The handler's answer cannot travel as it is; the caller gets INTERNAL, the log the field.
                context.logger.error("rpc.response_unencodable", metadata: ["error": "\(error)"])
                throw RPCError(.internal, "internal error")
            }
        }
    }
}

/// Per-call settings of a client call.
package struct CallOptions: Sendable {
    /// How long the caller waits, retries included.
    package var timeout: Duration
    package var traceID: String
    package var tenantID: String

    package init(timeout: Duration = .seconds(5), traceID: String = "", tenantID: String = "") {
        self.timeout = timeout
        self.traceID = traceID
        self.tenantID = tenantID
    }
}
