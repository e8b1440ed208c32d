import Basics
import Foundation
import Logging
import NIOHTTP1
import ServiceKit

/// Renews a Kommo access token that Kommo refused.
package protocol KommoTokenRenewer: Sendable {
    /// The account with a renewed token after `stale` got a 401, or `nil` when it cannot be renewed (no
    /// refresh token stored, or Kommo refused the refresh).
    func renew(_ stale: KommoConnection, logger: Logger) async -> KommoConnection?
}

/// Renews tenants' Kommo tokens with the OAuth refresh-token grant (KOMMO.md §2): `POST
/// {base}/oauth2/access_token` with `client_id`, `client_secret`, `grant_type=refresh_token`,
/// `refresh_token` and `redirect_uri`. Kommo answers with a new access token *and* a new refresh token
/// (the old one stops working), so both are stored at once, sealed like every secret.
///
/// One renewal per tenant at a time: calls that hit the 401 while a renewal runs wait for its result, so
/// a burst of actions spends one refresh token once. A call whose stale token is no longer the stored
/// one (another process or an operator changed it) takes the stored one without asking Kommo.
package actor KommoTokenRenewal: KommoTokenRenewer {
    private let integrations: Integrations
    private let egress: EgressGate
    private let clock: any WallClock
    private let timeout: Duration
    private var waiting: [String: [CheckedContinuation<KommoConnection?, Never>]] = [:]
    /// Where renewals of OAuth-connected accounts record their times and failures (alerts).
    private let store: SequenceStore?

    package init(integrations: Integrations, egress: EgressGate, clock: any WallClock, timeout: Duration = .seconds(15),
                 store: SequenceStore? = nil) {
        self.integrations = integrations
        self.egress = egress
        self.clock = clock
        self.timeout = timeout
        self.store = store
    }

    /// Renews the tenant's tokens now, ahead of expiry (the maintenance loop), sharing the flight of a
    /// renewal a 401 started meanwhile. Whether the tenant has renewed tokens afterwards.
    package func renewAhead(tenantID: String, logger: Logger) async -> Bool {
        guard let state = try? await integrations.state(tenantID: tenantID),
              let current = Self.account(state.document, tenantID: tenantID), current.renewableTenant != nil
        else { return false }
        return await renew(current, logger: logger, ahead: true) != nil
    }

    private func recordFailure(_ tenantID: String, _ reason: String, logger: Logger) async {
        guard let store else { return }
        do {
            try await store.kommoRenewalFailed(tenantID: tenantID, at: clock.now().unixMicros, reason: reason)
        } catch {
            logger.error("kommo.token_renewal_alert_not_stored", metadata: ["error": "\(error)"])
        }
    }

    package func renew(_ stale: KommoConnection, logger: Logger) async -> KommoConnection? {
        await renew(stale, logger: logger, ahead: false)
    }

    private func renew(_ stale: KommoConnection, logger: Logger, ahead: Bool) async -> KommoConnection? {
        guard let tenantID = stale.renewableTenant else { return nil }
        if waiting[tenantID] != nil {
            return await withCheckedContinuation { waiting[tenantID, default: []].append($0) }
        }
        waiting[tenantID] = []
        let fresh = await refresh(tenantID: tenantID, stale: stale, ahead: ahead, logger: logger)
        for continuation in waiting.removeValue(forKey: tenantID) ?? [] { continuation.resume(returning: fresh) }
        return fresh
    }

    private func refresh(tenantID: String, stale: KommoConnection, ahead: Bool, logger: Logger) async -> KommoConnection? {
        var logger = logger
        logger[metadataKey: "tenant.id"] = "\(tenantID)"
        let state: IntegrationState
        do {
            state = try await integrations.state(tenantID: tenantID)
        } catch {
            logger.error("kommo.token_renewal_unreadable", metadata: ["error": "\(error)"])
            return nil
        }
        let document = state.document
        if !ahead, let current = Self.account(document, tenantID: tenantID), current.accessToken != stale.accessToken {
            return current
        }
        guard let refreshToken = document.string("kommo", "refresh_token"), let clientID = document.string("kommo", "client_id"),
              let clientSecret = document.string("kommo", "client_secret"), let redirectURI = document.string("kommo", "redirect_uri")
        else { return nil }

        if let problem = egress.policy.kommoBaseURLProblem(stale.baseURL) {
            // The refresh token and client secret go nowhere but Kommo.
            logger.warning("kommo.token_renewal_refused_target", metadata: ["reason": "kommo.base_url \(problem)"])
            return nil
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Accept", value: "application/json")
        let body: [String: String] = [
            "client_id": clientID, "client_secret": clientSecret, "grant_type": "refresh_token",
            "refresh_token": refreshToken, "redirect_uri": redirectURI,
        ]
        let request = OutboundRequest(method: .POST, url: stale.baseURL + "/oauth2/access_token", headers: headers,
                                      body: Array((try? JSONEncoder().encode(body)) ?? Data()))
        let answer: JSONValue?
        let status: Int
        do {
            let response = try await egress.send(request, timeout: timeout, maxResponseBytes: 64 * 1024, logger: logger)
            status = response.status
            answer = response.json
        } catch {
            logger.warning("kommo.token_renewal_failed", metadata: ["error": "\(error)"])
            await recordFailure(tenantID, "Kommo could not be reached to renew the token: \(error)", logger: logger)
            return nil
        }
        guard status == 200, let access = answer?["access_token"]?.string, !access.isEmpty else {
            // A refresh token Kommo no longer accepts needs the tenant to connect again; the 401 stands.
            logger.warning("kommo.token_renewal_refused", metadata: ["http.status": "\(status)"])
            let detail = answer.flatMap { ProblemDetails(json: $0)?.summary } ?? ""
            await recordFailure(tenantID, "Kommo refused to renew the token (\(status))" + (detail.isEmpty ? "" : ": \(detail)")
                                + "; connect the account again", logger: logger)
            return nil
        }
        var kommo: [String: JSONValue] = ["access_token": .string(access)]
        if let renewed = answer?["refresh_token"]?.string, !renewed.isEmpty { kommo["refresh_token"] = .string(renewed) }
        let patch = JSONValue.object(["kommo": .object(kommo)]).text()
        do {
            let saved = try await integrations.update(tenantID: tenantID, patchJSON: patch, ifVersion: state.version,
                                                      now: clock.now().unixMicros)
            logger.notice("kommo.token_renewed", metadata: ["integrations.version": "\(saved.version)"])
            if let store {
                let now = clock.now()
                let expiresIn = TimeInterval(max(60, min(answer?["expires_in"]?.int64 ?? 86_400, 400 * 86_400)))
                do {
                    try await store.kommoTokensRenewed(tenantID: tenantID, accessExpiresAt: now.addingTimeInterval(expiresIn).unixMicros,
                                                       refreshIssuedAt: now.unixMicros)
                } catch {
                    logger.error("kommo.token_renewal_times_not_stored", metadata: ["error": "\(error)"])
                }
            }
            return Self.account(saved.document, tenantID: tenantID)
        } catch {
            // Changed meanwhile (an operator saved new credentials): the stored ones win.
            logger.warning("kommo.token_renewal_not_stored", metadata: ["error": "\(error)"])
            return (try? await integrations.state(tenantID: tenantID)).flatMap { Self.account($0.document, tenantID: tenantID) }
        }
    }

    private static func account(_ document: IntegrationDocument, tenantID: String) -> KommoConnection? {
        var account = TenantIntegrations(document).kommo
        if document.string("kommo", "refresh_token") != nil { account?.renewableTenant = tenantID }
        account?.tenantID = tenantID
        return account
    }
}
