import Basics
import Crypto
import Foundation
import Logging
import NIOHTTP1
import ServiceKit
import ServiceLifecycle
import Wire

/// The operator's Kommo public integration and how its connections are kept up.
package struct KommoOAuthSettings: Sendable, Hashable {
    /// The integration's id, secret and redirect URI as registered with Kommo; without all three no
    /// account can be connected through OAuth (pasted tokens still work).
    package var clientID: String?
    package var clientSecret: String?
    package var redirectURI: String?
    /// How the account host Kommo names (`referer`) is reached: `https`; `http` only for a local emulator.
    package var refererScheme: String
    /// How often each connected account's catalog is read again.
    package var catalogRefreshInterval: TimeInterval
    /// An access token with less than this left is renewed.
    package var accessRenewBefore: TimeInterval
    /// A refresh token older than this is renewed even when nothing needed the access token.
    package var refreshRenewAfter: TimeInterval
    /// A failed renewal is tried again after this.
    package var renewalRetryAfter: TimeInterval
    /// How often the maintenance loop looks at the connections.
    package var checkInterval: Duration

    package init(clientID: String? = nil, clientSecret: String? = nil, redirectURI: String? = nil, refererScheme: String = "https",
                 catalogRefreshInterval: TimeInterval = 3600, accessRenewBefore: TimeInterval = 3600,
                 refreshRenewAfter: TimeInterval = 30 * 86_400, renewalRetryAfter: TimeInterval = 900,
                 checkInterval: Duration = .seconds(60)) {
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.redirectURI = redirectURI
        self.refererScheme = refererScheme
        self.catalogRefreshInterval = catalogRefreshInterval
        self.accessRenewBefore = accessRenewBefore
        self.refreshRenewAfter = refreshRenewAfter
        self.renewalRetryAfter = renewalRetryAfter
        self.checkInterval = checkInterval
    }

    /// The client, when all three parts are configured.
    var client: (id: String, secret: String, redirectURI: String)? {
        guard let clientID, !clientID.isEmpty, let clientSecret, !clientSecret.isEmpty, let redirectURI, !redirectURI.isEmpty
        else { return nil }
        return (clientID, clientSecret, redirectURI)
    }
}

/// Connects tenants' Kommo accounts through OAuth and keeps them connected: exchanges the install code,
/// stores the tokens sealed, binds the account, registers our webhook, reads and refreshes the account's
/// catalog, renews tokens ahead of expiry, and forgets it all on disconnect or Kommo's uninstall notice.
package final class KommoConnector: Sendable {
    /// Every event family ingest parses, as Kommo's webhook `settings` name them.
    package static let webhookSettings = [
        "add_lead", "update_lead", "delete_lead", "restore_lead", "status_lead", "responsible_lead", "note_lead",
        "add_contact", "update_contact", "delete_contact", "restore_contact", "responsible_contact", "note_contact",
        "add_company", "update_company", "delete_company", "restore_company", "responsible_company", "note_company",
        "add_customer", "update_customer", "delete_customer", "note_customer",
        "add_task", "update_task", "delete_task", "responsible_task",
        "add_message", "add_outgoing_message", "add_talk", "update_talk",
        "add_unsorted", "update_unsorted", "delete_unsorted",
        "add_catalog", "update_catalog", "delete_catalog",
    ]

    private let store: SequenceStore
    private let integrations: Integrations
    private let box: SecretBox
    private let egress: EgressGate
    private let clients: KommoClients
    private let renewal: KommoTokenRenewal
    private let clock: any WallClock
    package let settings: KommoOAuthSettings

    package init(store: SequenceStore, integrations: Integrations, box: SecretBox, egress: EgressGate, clients: KommoClients,
                 renewal: KommoTokenRenewal, clock: any WallClock, settings: KommoOAuthSettings) {
        self.store = store
        self.integrations = integrations
        self.box = box
        self.egress = egress
        self.clients = clients
        self.renewal = renewal
        self.clock = clock
        self.settings = settings
    }

    // MARK: - Connect

    /// The account host `referer` as a base URL, or why it cannot be one.
    func baseURL(referer: String) throws -> String {
        let host = referer.trimmingCharacters(in: .whitespaces).lowercased()
        guard !host.isEmpty, host.count <= 253,
              host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "." || $0 == ":") })
        else { throw RPCError.invalid(field: "referer", "must be the Kommo account's host, such as acme.kommo.com") }
        let base = "\(settings.refererScheme)://\(host)"
        if let problem = egress.policy.kommoBaseURLProblem(base) {
            throw RPCError.invalid(field: "referer", "is not a Kommo account host: \(problem)")
        }
        return base
    }

    /// Exchanges `code` at the account `referer`, stores the tokens, reads the account, registers
    /// `webhookURL` and reads the catalog. Nothing is stored unless the exchange and the account read
    /// succeed; a webhook or catalog that fails is a warning in the answer.
    package func connect(tenantID: String, code: String, referer: String, webhookURL: String, logger: Logger) async throws -> JSONValue {
        guard let client = settings.client else {
            throw RPCError(.failedPrecondition, "no Kommo OAuth client is configured (KOMMO_CLIENT_ID, KOMMO_CLIENT_SECRET, KOMMO_REDIRECT_URI)")
        }
        guard !code.isEmpty, code.utf8.count <= 4096 else { throw RPCError.invalid(field: "code", "is required") }
        let base = try baseURL(referer: referer)
        var logger = logger
        logger[metadataKey: "tenant.id"] = "\(tenantID)"

        let tokens = try await exchange(base: base, body: [
            "client_id": client.id, "client_secret": client.secret, "grant_type": "authorization_code",
            "code": code, "redirect_uri": client.redirectURI,
        ], logger: logger)
        guard let connection = KommoConnection(baseURL: base, accessToken: tokens.access) else {
            throw RPCError(.unavailable, "Kommo answered an unusable access token")
        }
        let rate = Int(try await integrations.state(tenantID: tenantID).document.integer("kommo", "rate_limit_per_second")
            ?? Int64(IntegrationDocument.defaultKommoRate))
        let kommo = clients.client(rate: rate)
        let read = await kommo.getAccount(account: connection, logger: logger)
        guard let account = read.entity else {
            throw RPCError(.unavailable, "Kommo did not show the account: " + KommoClient.reason(read.result))
        }

        let patch: JSONValue = .object(["kommo": .object([
            "base_url": .string(base), "subdomain": .null, "access_token": .string(tokens.access),
            "refresh_token": .string(tokens.refresh), "client_id": .string(client.id), "client_secret": .string(client.secret),
            "redirect_uri": .string(client.redirectURI),
        ])])
        let now = clock.now()
        _ = try await integrations.update(tenantID: tenantID, patchJSON: patch.text(), ifVersion: 0, now: now.unixMicros)

        var warnings: [JSONValue] = []
        var registered = false
        if !webhookURL.isEmpty {
            let (result, _) = await kommo.send(operation: "kommo.webhook_subscribe", account: connection, method: .POST,
                                               path: "/api/v4/webhooks",
                                               body: .object(["destination": .string(webhookURL),
                                                              "settings": .array(Self.webhookSettings.map(JSONValue.string))]),
                                               logger: logger)
            registered = result.outcome == .succeeded
            if !registered {
                warnings.append(.string("the webhook could not be registered (\(KommoClient.reason(result))); paste the webhook URL into Kommo instead"))
            }
        }
        let record = KommoConnectionRecord(
            tenantID: tenantID, accountID: account.id, subdomain: account.subdomain, name: account.name, baseURL: base,
            connectedAt: now.unixMicros, accessExpiresAt: now.addingTimeInterval(tokens.expiresIn).unixMicros,
            refreshIssuedAt: now.unixMicros,
            webhookSealed: registered ? try box.seal(Array(webhookURL.utf8), context: Self.webhookContext(tenantID)) : nil)
        var catalog: String?
        var catalogError: String?
        do {
            catalog = try await kommo.readCatalog(account: connection, logger: logger).json.text()
        } catch {
            catalogError = error.description
            warnings.append(.string("the account's catalog could not be read: \(error.description)"))
        }
        try await store.saveKommoConnection(record, catalog: catalog, catalogError: catalogError)
        logger.notice("kommo.connected", metadata: ["kommo.account_id": "\(account.id)", "kommo.webhook_registered": "\(registered)"])
        return .object([
            "account": .object(["id": .int(account.id), "subdomain": .string(account.subdomain), "name": .string(account.name)]),
            "base_url": .string(base), "webhook_registered": .bool(registered), "catalog_read": .bool(catalog != nil),
            "warnings": .array(warnings),
        ])
    }

    private static func webhookContext(_ tenantID: String) -> String { "kommo_webhook:" + tenantID }

    private struct Tokens {
        var access: String
        var refresh: String
        var expiresIn: TimeInterval
    }

    /// `POST {base}/oauth2/access_token` through the egress gate.
    private func exchange(base: String, body: [String: String], logger: Logger) async throws -> Tokens {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Accept", value: "application/json")
        let request = OutboundRequest(method: .POST, url: base + "/oauth2/access_token", headers: headers,
                                      body: Array(try JSONEncoder().encode(body)))
        let response: OutboundResponse
        do {
            response = try await egress.send(request, timeout: .seconds(15), maxResponseBytes: 64 * 1024, logger: logger)
        } catch {
            logger.warning("kommo.oauth_exchange_failed", metadata: ["error": "\(error)"])
            throw RPCError(.unavailable, "Kommo could not be reached to exchange the code: \(error)")
        }
        guard response.status == 200, let json = response.json, let access = json["access_token"]?.string, !access.isEmpty,
              let refresh = json["refresh_token"]?.string, !refresh.isEmpty
        else {
            let detail = response.json.flatMap { ProblemDetails(json: $0)?.summary } ?? ""
            logger.warning("kommo.oauth_exchange_refused", metadata: ["http.status": "\(response.status)"])
            throw RPCError(.unavailable, "Kommo refused the code (\(response.status))" + (detail.isEmpty ? "" : ": \(detail)"))
        }
        let expiresIn = json["expires_in"]?.int64.map(TimeInterval.init) ?? 86_400
        return Tokens(access: access, refresh: refresh, expiresIn: max(60, min(expiresIn, 400 * 86_400)))
    }

    // MARK: - Disconnect

    /// Removes our webhook at Kommo (best effort: the account may be gone) and forgets tokens,
    /// connection and catalog. Pasted credentials are forgotten too: the tenant asked to disconnect.
    package func disconnect(tenantID: String, logger: Logger) async throws -> JSONValue {
        var logger = logger
        logger[metadataKey: "tenant.id"] = "\(tenantID)"
        let record = try await store.kommoConnection(tenantID: tenantID)
        var removed = false
        var detail: String?
        if let record, let sealed = record.webhookSealed {
            let destination = String(decoding: try box.unseal(sealed, context: Self.webhookContext(tenantID)), as: UTF8.self)
            let runtime = try await integrations.runtime(tenantID: tenantID)
            if let connection = runtime.kommo {
                let (result, _) = await clients.client(rate: runtime.kommoRatePerSecond).send(
                    operation: "kommo.webhook_unsubscribe", account: connection, method: .DELETE, path: "/api/v4/webhooks",
                    body: .object(["destination": .string(destination)]), logger: logger)
                removed = result.outcome == .succeeded
                if !removed { detail = "the webhook could not be removed at Kommo: " + KommoClient.reason(result) }
            }
        }
        let patch: JSONValue = .object(["kommo": .object([
            "base_url": .null, "subdomain": .null, "access_token": .null, "refresh_token": .null, "client_id": .null,
            "client_secret": .null, "redirect_uri": .null,
        ])])
        _ = try await integrations.update(tenantID: tenantID, patchJSON: patch.text(), ifVersion: 0, now: clock.now().unixMicros)
        let had = try await store.deleteKommoConnection(tenantID: tenantID)
        logger.notice("kommo.disconnected", metadata: ["kommo.webhook_removed": "\(removed)", "kommo.was_connected": "\(had)"])
        var answer: [String: JSONValue] = ["disconnected": .bool(true), "webhook_removed": .bool(removed)]
        if let record { answer["account_id"] = .int(record.accountID) }
        if let detail { answer["detail"] = .string(detail) }
        return .object(answer)
    }

    /// Kommo's uninstall notice: `signature` must be the hex HMAC-SHA256 of `client_uuid|account_id` with
    /// the client secret. Disconnects every tenant bound to the account; answers their ids.
    package func uninstall(accountID: Int64, clientUUID: String, signature: String, logger: Logger) async throws -> [String] {
        guard let client = settings.client else { throw RPCError(.failedPrecondition, "no Kommo OAuth client is configured") }
        guard accountID > 0, !clientUUID.isEmpty, clientUUID.utf8.count <= 128, signature.utf8.count <= 256 else {
            throw RPCError(.permissionDenied, "the uninstall notice is not signed by Kommo")
        }
        let code = HMAC<SHA256>.authenticationCode(for: Data("\(clientUUID)|\(accountID)".utf8),
                                                   using: SymmetricKey(data: Data(client.secret.utf8)))
        let expected = code.map { String(format: "%02x", $0) }.joined()
        guard constantTimeEquals(expected, signature.lowercased()) else {
            logger.warning("kommo.uninstall_bad_signature", metadata: ["kommo.account_id": "\(accountID)"])
            throw RPCError(.permissionDenied, "the uninstall notice is not signed by Kommo")
        }
        let bound = try await store.kommoConnections(accountID: accountID)
        guard !bound.isEmpty else { throw RPCError(.notFound, "no tenant is connected to that Kommo account") }
        for record in bound { _ = try await disconnect(tenantID: record.tenantID, logger: logger) }
        return bound.map(\.tenantID)
    }

    // MARK: - Catalog

    /// The catalog in the REST contract's shape: `connected` when the tenant works with a Kommo account
    /// (through OAuth, with its `account`, or by a pasted token); empty lists when not, or not read yet.
    package func catalog(tenantID: String) async throws -> JSONValue {
        let record = try await store.kommoConnection(tenantID: tenantID)
        var connected = record != nil
        if !connected { connected = try await integrations.runtime(tenantID: tenantID).kommo != nil }
        guard connected else { return Self.catalogAnswer(connected: false, record: nil, stored: nil) }
        return Self.catalogAnswer(connected: true, record: record, stored: try await store.kommoCatalog(tenantID: tenantID))
    }

    static func catalogAnswer(connected: Bool, record: KommoConnectionRecord?, stored: KommoCatalogRecord?) -> JSONValue {
        let catalog = stored?.json.flatMap { JSONValue(parsing: $0) }.map(KommoCatalog.init(json:)) ?? .empty
        var answer: [String: JSONValue] = [
            "connected": .bool(connected),
            "account": record.map { .object(["id": .int($0.accountID), "subdomain": .string($0.subdomain), "name": .string($0.name)]) } ?? .null,
            "refreshed_at": stored?.refreshedAt.map { .string(Date(unixMicros: $0).iso8601) } ?? .null,
        ]
        if case .object(let parts) = catalog.json { answer.merge(parts) { current, _ in current } }
        return .object(answer)
    }

    /// Reads the catalog from Kommo now and stores it, for an OAuth connection or pasted credentials alike.
    package func refreshCatalog(tenantID: String, logger: Logger) async throws -> JSONValue {
        let runtime = try await integrations.runtime(tenantID: tenantID)
        guard let connection = runtime.kommo else { throw RPCError(.failedPrecondition, "Kommo is not connected") }
        do {
            let catalog = try await clients.client(rate: runtime.kommoRatePerSecond).readCatalog(account: connection, logger: logger)
            try await store.kommoCatalogRead(tenantID: tenantID, json: catalog.json.text(), at: clock.now().unixMicros, error: nil)
        } catch let error as KommoCatalogError {
            try await store.kommoCatalogRead(tenantID: tenantID, json: nil, at: clock.now().unixMicros, error: error.description)
            throw RPCError(.unavailable, "the catalog could not be read: \(error.description)")
        }
        return try await catalog(tenantID: tenantID)
    }

    // MARK: - Integrations view

    /// What `GET /api/v1/integrations` shows of the OAuth connection: the account, when the tokens
    /// expire, the catalog's counts and time, and an alert when renewal failed.
    package func connectionView(tenantID: String) async throws -> JSONValue? {
        guard let record = try await store.kommoConnection(tenantID: tenantID) else { return nil }
        let stored = try await store.kommoCatalog(tenantID: tenantID)
        let catalog = stored?.json.flatMap { JSONValue(parsing: $0) }.map(KommoCatalog.init(json:)) ?? .empty
        var view: [String: JSONValue] = [
            "method": "oauth",
            "account": .object(["id": .int(record.accountID), "subdomain": .string(record.subdomain), "name": .string(record.name)]),
            "connected_at": .string(Date(unixMicros: record.connectedAt).iso8601),
            "access_token_expires_at": .string(Date(unixMicros: record.accessExpiresAt).iso8601),
            "refresh_token_issued_at": .string(Date(unixMicros: record.refreshIssuedAt).iso8601),
            "webhook_registered": .bool(record.webhookSealed != nil),
            "catalog": .object(["counts": catalog.counts,
                                "refreshed_at": stored?.refreshedAt.map { .string(Date(unixMicros: $0).iso8601) } ?? .null,
                                "error": stored?.error.map(JSONValue.string) ?? .null]),
        ]
        if let failed = record.renewalFailedAt {
            view["alert"] = .object([
                "kind": "token_renewal_failed", "at": .string(Date(unixMicros: failed).iso8601),
                "reason": .string(record.renewalError ?? "Kommo refused the renewal"),
                "action": "reconnect",
            ])
        }
        return .object(view)
    }

    // MARK: - Maintenance

    /// One look at every connection: tokens near expiry (or a refresh token getting old) are renewed,
    /// catalogs older than the interval are read again — also those of tenants with a pasted token.
    package func maintain(logger: Logger) async {
        await maintainConnections(logger: logger)
        await maintainPastedCatalogs(logger: logger)
    }

    private func maintainPastedCatalogs(logger: Logger) async {
        let tenants: [(tenantID: String, lastTried: Int64?)]
        do {
            tenants = try await store.pastedKommoTenants()
        } catch {
            logger.error("kommo.maintenance_unreadable", metadata: ["error": "\(error)"])
            return
        }
        for tenant in tenants {
            let age = tenant.lastTried.map { clock.now().timeIntervalSince(Date(unixMicros: $0)) } ?? .infinity
            guard age > settings.catalogRefreshInterval else { continue }
            do {
                _ = try await refreshCatalog(tenantID: tenant.tenantID, logger: logger)
            } catch {
                logger.warning("kommo.catalog_refresh_failed", metadata: ["tenant.id": "\(tenant.tenantID)", "error": "\(error)"])
            }
        }
    }

    private func maintainConnections(logger: Logger) async {
        let connections: [KommoConnectionRecord]
        do {
            connections = try await store.kommoConnections()
        } catch {
            logger.error("kommo.maintenance_unreadable", metadata: ["error": "\(error)"])
            return
        }
        for record in connections {
            let now = clock.now()
            let retryFrom = record.renewalFailedAt.map { Date(unixMicros: $0).addingTimeInterval(settings.renewalRetryAfter) }
            let accessDue = Date(unixMicros: record.accessExpiresAt).timeIntervalSince(now) < settings.accessRenewBefore
            let refreshDue = now.timeIntervalSince(Date(unixMicros: record.refreshIssuedAt)) > settings.refreshRenewAfter
            if accessDue || refreshDue, retryFrom.map({ now >= $0 }) ?? true {
                _ = await renewal.renewAhead(tenantID: record.tenantID, logger: logger)
            }
            let stored = try? await store.kommoCatalog(tenantID: record.tenantID)
            let lastTried = max(stored?.refreshedAt ?? 0, stored?.errorAt ?? 0)
            let catalogAge = lastTried == 0 ? .infinity : now.timeIntervalSince(Date(unixMicros: lastTried))
            if catalogAge > settings.catalogRefreshInterval {
                do {
                    _ = try await refreshCatalog(tenantID: record.tenantID, logger: logger)
                } catch {
                    logger.warning("kommo.catalog_refresh_failed", metadata: ["tenant.id": "\(record.tenantID)", "error": "\(error)"])
                }
            }
        }
    }
}

/// Runs ``KommoConnector/maintain(logger:)`` every check interval until shutdown.
package struct KommoMaintenance: Service {
    let connector: KommoConnector
    let logger: Logger

    package init(connector: KommoConnector, logger: Logger) {
        self.connector = connector
        self.logger = logger
    }

    package func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await connector.maintain(logger: logger)
            // Shutdown cuts the wait short; the loop condition then ends the service.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: connector.settings.checkInterval) }
        }
    }
}

private extension Date {
    /// RFC 3339 in UTC, as the REST API writes times.
    var iso8601: String { formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)) }
}
