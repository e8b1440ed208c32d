import Foundation
import HTTPTypes
import Hummingbird
import ServiceKit
import Wire

/// Bearer tokens: the operator's admin token, and tenants' API keys. Every failure counts against the
/// client address; an address over the limit answers 429 for the rest of the window, whatever it sends.
package struct Authenticator: Sendable {
    let store: GatewayStore
    let adminToken: String
    let throttle: AuthFailureThrottle
    let clock: any WallClock

    package init(store: GatewayStore, adminToken: String, throttle: AuthFailureThrottle = AuthFailureThrottle(limit: 10, window: .seconds(60)),
                 clock: any WallClock = SystemClock()) {
        self.clock = clock
        self.store = store
        self.adminToken = adminToken
        self.throttle = throttle
    }

    static func bearer(_ request: Request) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty || token.count > 256 ? nil : token
    }

    static let unauthorized = Problem(status: .unauthorized, detail: "a valid Authorization: Bearer token is required")

    /// The 429 of a throttled address.
    struct Throttled: Error {
        let retryAfter: Int
        func response(requestID: String) -> Response {
            var response = Problem(status: .tooManyRequests,
                                   detail: "too many failed authentications from this address; retry in \(retryAfter) s")
                .response(requestID: requestID)
            response.headers[.retryAfter] = String(retryAfter)
            return response
        }
    }

    /// Throws `Throttled` when the client's address is over its failure limit.
    func checkThrottle(_ context: GatewayContext) throws {
        if let wait = throttle.blocked(context.clientAddress) { throw Throttled(retryAfter: wait) }
    }

    func requireAdmin(_ request: Request, context: GatewayContext) throws {
        try checkThrottle(context)
        guard let token = Self.bearer(request), constantTimeEquals(token, adminToken) else {
            throttle.recordFailure(context.clientAddress)
            throw Self.unauthorized
        }
    }

    /// The admin token or `extra` (the metrics token), throttled like any other authentication.
    func requireAdminOr(_ extra: String?, _ request: Request, context: GatewayContext) throws {
        try checkThrottle(context)
        guard let token = Self.bearer(request),
              constantTimeEquals(token, adminToken) || extra.map({ constantTimeEquals(token, $0) }) == true else {
            throttle.recordFailure(context.clientAddress)
            throw Self.unauthorized
        }
    }

    /// Authenticates the request's API key, sets the tenant on the context and returns the key's id.
    func requireTenant(_ request: Request, context: inout GatewayContext) async throws -> String {
        try checkThrottle(context)
        guard let token = Self.bearer(request), let found = try await store.authenticate(key: token, now: clock.now()) else {
            throttle.recordFailure(context.clientAddress)
            throw Self.unauthorized
        }
        context.tenantID = found.tenant.id
        context.logger[metadataKey: "tenant.id"] = "\(found.tenant.id)"
        return found.key.id
    }
}

/// Runs tenant authentication, then the per-key and per-tenant rate limits, before every route of a group.
package struct TenantAuthMiddleware: RouterMiddleware {
    package typealias Context = GatewayContext
    let authenticator: Authenticator
    let limiter: KeyRateLimiter
    /// Buckets by tenant id: a tenant's keys share it, so creating keys does not multiply its rate.
    let tenantLimiter: KeyRateLimiter

    package func handle(_ request: Request, context: GatewayContext, next: (Request, GatewayContext) async throws -> Response) async throws -> Response {
        var context = context
        let keyID: String
        do {
            keyID = try await authenticator.requireTenant(request, context: &context)
        } catch let throttled as Authenticator.Throttled {
            return throttled.response(requestID: context.requestID)
        }
        let tenantID = try context.tenant
        let wait = limiter.take(keyID).map { ("this API key", $0) } ?? tenantLimiter.take(tenantID).map { ("this tenant", $0) }
        if let (what, wait) = wait {
            var response = Problem(status: .tooManyRequests, detail: "rate limit of \(what) exceeded; retry in \(wait) s")
                .response(requestID: context.requestID)
            response.headers[.retryAfter] = String(wait)
            return response
        }
        return try await next(request, context)
    }
}

extension GatewayContext {
    /// The authenticated tenant; routes behind `TenantAuthMiddleware` always have one.
    package var tenant: String {
        get throws {
            guard let tenantID else { throw Authenticator.unauthorized }
            return tenantID
        }
    }
}
