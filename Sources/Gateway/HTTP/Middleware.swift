import Basics
import Foundation
import HTTPTypes
import Hummingbird
import Logging

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
}

/// Gives every request an id (the caller's `X-Request-Id` when it is sane), answers errors as
/// problem documents, and writes one access-log line per request. Secrets never reach the log: the
/// path of inbound webhooks carries one, so it is logged by route template only.
package struct GatewayMiddleware: RouterMiddleware {
    package typealias Context = GatewayContext

    /// The largest JSON body a route decodes (`--max-body-bytes`).
    let maxBodyBytes: Int
    let metrics: HTTPMetrics
    let addresses: ClientAddressResolver

    package init(maxBodyBytes: Int = 1024 * 1024, metrics: HTTPMetrics, addresses: ClientAddressResolver = ClientAddressResolver(trustedProxies: [])) {
        self.maxBodyBytes = maxBodyBytes
        self.metrics = metrics
        self.addresses = addresses
    }

    package func handle(_ request: Request, context: GatewayContext, next: (Request, GatewayContext) async throws -> Response) async throws -> Response {
        var context = context
        context.maxUploadSize = maxBodyBytes
        let incoming = request.headers[.requestID] ?? ""
        context.requestID = Self.isSane(incoming) ? incoming : Self.newID()
        context.logger[metadataKey: "request.id"] = "\(context.requestID)"
        context.clientAddress = addresses.resolve(peer: context.peerAddress, forwardedFor: request.headers[values: .forwardedFor])
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch let throttled as Authenticator.Throttled {
            response = throttled.response(requestID: context.requestID)
        } catch {
            let (problem, logFully) = ErrorMapping.problem(for: error)
            if logFully {
                context.logger.error("http.unhandled_error", metadata: ["error": "\(String(reflecting: error))"])
            }
            response = problem.response(requestID: context.requestID)
        }
        response.headers[.requestID] = context.requestID
        // API (and webhook and metrics) answers carry keys, secrets and tenant data: no cache (browser or proxy) may keep them.
        if ["/api/", "/webhooks/", "/metrics"].contains(where: request.uri.path.hasPrefix) { response.headers[.cacheControl] = "no-store" }
        let elapsed = ContinuousClock.now - started
        let route = context.endpointPath ?? "unmatched"
        context.logger.info("http.request", metadata: [
            "http.method": "\(request.method)",
            "http.route": "\(route)",
            "http.status": "\(response.status.code)",
            "http.duration_ms": "\(String(format: "%.2f", elapsed.millis))",
            "tenant.id": "\(context.tenantID ?? "-")",
        ])
        metrics.record(method: request.method.rawValue, route: route, status: response.status.code, duration: elapsed)
        return response
    }

    static func isSane(_ id: String) -> Bool {
        !id.isEmpty && id.count <= 64 && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    }

    static func newID() -> String {
        RandomID.make("req_", hexDigits: 20)
    }
}
