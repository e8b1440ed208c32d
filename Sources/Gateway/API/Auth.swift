import Foundation
import HTTPTypes
import Hummingbird
import ServiceKit
import Wire

/// Bearer tokens: the operator's admin token, and tenants' API keys.
package struct Authenticator: Sendable {
    let store: GatewayStore
    let adminToken: String

    static func bearer(_ request: Request) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        return token.isEmpty || token.count > 256 ? nil : token
    }

    static let unauthorized = Problem(status: .unauthorized, detail: "a valid Authorization: Bearer token is required")

    func requireAdmin(_ request: Request) throws {
        guard let token = Self.bearer(request), constantTimeEquals(token, adminToken) else { throw Self.unauthorized }
    }

    /// Authenticates the request's API key, sets the tenant on the context and returns the key's id.
    func requireTenant(_ request: Request, context: inout GatewayContext) async throws -> String {
        guard let token = Self.bearer(request), let found = try await store.authenticate(key: token, now: Date()) else {
            throw Self.unauthorized
        }
        context.tenantID = found.tenant.id
        context.logger[metadataKey: "tenant.id"] = "\(found.tenant.id)"
        return found.key.id
    }
}

/// Runs tenant authentication, then the per-key rate limit, before every route of a group.
package struct TenantAuthMiddleware: RouterMiddleware {
    package typealias Context = GatewayContext
    let authenticator: Authenticator
    let limiter: KeyRateLimiter

    package func handle(_ request: Request, context: GatewayContext, next: (Request, GatewayContext) async throws -> Response) async throws -> Response {
        var context = context
        let keyID = try await authenticator.requireTenant(request, context: &context)
        if let wait = limiter.take(keyID) {
            var response = Problem(status: .tooManyRequests, detail: "rate limit of this API key exceeded; retry in \(wait) s")
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
