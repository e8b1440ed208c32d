import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Sequences
import ServiceKit
import TestSupport
import Testing
import Gateway

/// Connecting a Kommo account through OAuth, with the four real processes and a Kommo emulator: the
/// install URL, Kommo's consent and redirect, the code exchange, the account bound, our webhook
/// registered, the catalog read, renewal ahead of expiry, and disconnecting.
@Suite("Kommo connect journey", .serialized)
struct KommoConnectJourneyTests {
    static let redirectURI = "http://kommo-agents.test/oauth/kommo/callback"

    /// The system set up for OAuth against the emulator on `kommoPort`.
    static func system(kommo: KommoEmulator, kommoPort: Int, clock: any WallClock = SystemClock(),
                       stateTTL: Duration = .seconds(900)) async throws -> FullSystem {
        let client = KommoOAuthServer.Client(redirectURI: redirectURI)
        kommo.oauthServer.register(client)
        kommo.oauthServer.serve(host: "127.0.0.1:\(kommoPort)")
        return try await FullSystem.make(clock: clock, tune: { configuration in
            configuration.kommoInstall = KommoInstallSettings(clientID: client.id, authorizeURL: "http://127.0.0.1:\(kommoPort)/oauth",
                                                              stateTTL: stateTTL)
        }, tuneSequences: { configuration in
            configuration.kommoOAuth = KommoOAuthSettings(clientID: client.id, clientSecret: client.secret, redirectURI: redirectURI,
                                                          refererScheme: "http", checkInterval: .milliseconds(50))
        })
    }

    /// The browser's walk: the install URL, the emulator's consent (a redirect with the code), then our
    /// callback; answers the callback's redirect target.
    static func install(_ client: HTTPTestClient, key: String) async throws -> (location: String, state: String) {
        let install = try await client.request(.POST, "/api/v1/integrations/kommo/install", token: key)
        #expect(install.status == 200, "\(install.text)")
        let authorize = try #require(install.json["authorize_url"] as? String)
        let state = try #require(install.json["state"] as? String)
        let consent = try await HTTPTestClient.get(authorize)
        #expect(consent.status == 302, "\(consent.text)")
        let back = try #require(URLComponents(string: consent.headers.first(name: "Location") ?? ""))
        let callback = try await HTTPTestClient.get(client.base + "/oauth/kommo/callback?" + (back.percentEncodedQuery ?? ""))
        #expect(callback.status == 303, "\(callback.text)")
        return (callback.headers.first(name: "Location") ?? "", state)
    }

    @Test("install walk: authorize → consent → callback; tokens sealed, account bound, webhook registered, catalog read; webhooks flow; disconnect removes it all")
    func installWalk() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await Self.system(kommo: kommo, kommoPort: kommoPort)
            try await system.run { client in
                let tenant = try await client.createTenant(admin: system.adminToken)
                let before = try await client.request(.GET, "/api/v1/kommo/catalog", token: tenant.key)
                #expect(before.status == 200)
                #expect(before.json["connected"] as? Bool == false)
                #expect((before.json["pipelines"] as? [Any])?.isEmpty == true)

                let (location, _) = try await Self.install(client, key: tenant.key)
                #expect(location == "http://kommo-agents.test/admin/#/integrations?kommo=connected")

                // The tokens: what Kommo issued is in use, and never shown.
                let integrations = try await client.request(.GET, "/api/v1/integrations", token: tenant.key)
                let kommoSettings = integrations.json["kommo"] as? [String: Any] ?? [:]
                #expect(kommoSettings["access_token_set"] as? Bool == true)
                #expect(kommoSettings["refresh_token_set"] as? Bool == true)
                #expect(kommoSettings["base_url"] as? String == "http://127.0.0.1:\(kommoPort)")
                #expect(!integrations.text.contains(kommo.currentTokens.access))
                let connection = integrations.json["kommo_connection"] as? [String: Any] ?? [:]
                let account = connection["account"] as? [String: Any] ?? [:]
                #expect(account["id"] as? Int == 29_012_345)
                #expect(account["subdomain"] as? String == "acmesales")
                #expect(connection["webhook_registered"] as? Bool == true)
                #expect(connection["alert"] == nil)

                // Our webhook at Kommo: our URL with the tenant's secret, every family ingest parses.
                let webhooks = kommo.oauthServer.webhooks
                #expect(webhooks.count == 1)
                #expect(webhooks.first?.destination == "http://kommo-agents.test/webhooks/kommo/\(tenant.secret)")
                for family in ["add_lead", "status_lead", "add_outgoing_message", "add_talk", "add_unsorted", "note_lead", "add_task",
                               "add_contact", "add_company"] {
                    #expect(webhooks.first?.settings.contains(family) == true, "\(family)")
                }

                // The catalog, read at once.
                let catalog = try await client.request(.GET, "/api/v1/kommo/catalog", token: tenant.key)
                #expect(catalog.json["connected"] as? Bool == true)
                let pipelines = catalog.json["pipelines"] as? [[String: Any]] ?? []
                let stages = pipelines.first?["stages"] as? [[String: Any]] ?? []
                #expect(stages.contains { $0["id"] as? Int == 61_234_502 && $0["name"] as? String == "Qualified" && $0["kind"] as? String == "open" })
                #expect(stages.contains { $0["id"] as? Int == 142 && $0["kind"] as? String == "won" })
                #expect(stages.contains { $0["id"] as? Int == 143 && $0["kind"] as? String == "lost" })
                #expect(stages.first?["kind"] as? String == "unsorted")
                #expect((catalog.json["users"] as? [Any])?.count == 3)
                let leadFields = (catalog.json["custom_fields"] as? [String: Any])?["leads"] as? [[String: Any]] ?? []
                let source = leadFields.first { $0["id"] as? Int == 512_302 }
                #expect((source?["enums"] as? [[String: Any]])?.map { $0["value"] as? String } == ["Website", "Referral"])
                #expect(((catalog.json["tags"] as? [String: Any])?["leads"] as? [[String: Any]])?.first?["name"] as? String == "vip")
                #expect((catalog.json["task_types"] as? [[String: Any]])?.count == 2)
                let users = try await client.request(.GET, "/api/v1/kommo/catalog/users", token: tenant.key)
                #expect((users.json["users"] as? [Any])?.count == 3 && users.json["pipelines"] == nil, "\(users.text)")

                // A webhook from the account flows into history; one from another account is refused.
                let ours = kommo.echo.managerMoves(lead: 4_410_077, to: 61_234_502)
                let accepted = try await client.postWebhook(secret: tenant.secret, body: ours)
                #expect(accepted.status == 200, "\(accepted.text)")
                let foreign = Data(String(decoding: ours, as: UTF8.self).replacingOccurrences(of: "29012345", with: "31000001").utf8)
                let refused = try await client.postWebhook(secret: tenant.secret, body: foreign)
                #expect(refused.status == 403, "\(refused.text)")
                let history = try await client.request(.GET, "/api/v1/webhooks/events?lead_id=4410077", token: tenant.key)
                #expect((history.json["items"] as? [Any])?.count == 1, "\(history.text)")

                // Disconnect: the webhook goes at Kommo, the tokens and the catalog here.
                let gone = try await client.request(.DELETE, "/api/v1/integrations/kommo", token: tenant.key)
                #expect(gone.status == 200, "\(gone.text)")
                #expect(gone.json["webhook_removed"] as? Bool == true)
                #expect(kommo.oauthServer.webhooks.isEmpty)
                let after = try await client.request(.GET, "/api/v1/integrations", token: tenant.key)
                #expect((after.json["kommo"] as? [String: Any])?["access_token_set"] as? Bool == false, "\(after.text)")
                #expect(after.json["kommo_connection"] == nil)
                let emptied = try await client.request(.GET, "/api/v1/kommo/catalog", token: tenant.key)
                #expect(emptied.json["connected"] as? Bool == false)
                #expect(kommo.violations.isEmpty, "\(kommo.violations)")
            }
        }
    }

    @Test("Kommo's uninstall notice, signed with the client secret, disconnects the bound tenant; a bad signature changes nothing")
    func uninstallNotice() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await Self.system(kommo: kommo, kommoPort: kommoPort)
            try await system.run { client in
                let tenant = try await client.createTenant(admin: system.adminToken)
                _ = try await Self.install(client, key: tenant.key)
                #expect(kommo.oauthServer.webhooks.count == 1)
                let forged = try await client.request(.GET, "/oauth/kommo/uninstall?" + kommo.oauthServer.uninstallQuery(accountID: 29_012_345, signedWith: "not-the-secret"))
                #expect(forged.status == 403, "\(forged.text)")
                let still = try await client.request(.GET, "/api/v1/kommo/catalog", token: tenant.key)
                #expect(still.json["connected"] as? Bool == true)

                let notice = try await client.request(.GET, "/oauth/kommo/uninstall?" + kommo.oauthServer.uninstallQuery(accountID: 29_012_345))
                #expect(notice.status == 200, "\(notice.text)")
                let after = try await client.request(.GET, "/api/v1/integrations", token: tenant.key)
                #expect((after.json["kommo"] as? [String: Any])?["access_token_set"] as? Bool == false, "\(after.text)")
                #expect(kommo.oauthServer.webhooks.isEmpty)
                let unknown = try await client.request(.GET, "/oauth/kommo/uninstall?" + kommo.oauthServer.uninstallQuery(accountID: 29_012_345))
                #expect(unknown.status == 404, "\(unknown.text)")
            }
        }
    }

    @Test("a replayed state and an expired state are refused with a clear outcome, and nothing is stored")
    func replayedAndExpiredState() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { kommoPort in
            // States live 2 seconds here, so that one can expire within the test.
            let system = try await Self.system(kommo: kommo, kommoPort: kommoPort, stateTTL: .seconds(2))
            try await system.run { client in
                let tenant = try await client.createTenant(admin: system.adminToken)
                // Replayed: the same callback a second time.
                let install = try await client.request(.POST, "/api/v1/integrations/kommo/install", token: tenant.key)
                let consent = try await HTTPTestClient.get(install.json["authorize_url"] as? String ?? "")
                let query = URLComponents(string: consent.headers.first(name: "Location") ?? "")?.percentEncodedQuery ?? ""
                let first = try await HTTPTestClient.get(client.base + "/oauth/kommo/callback?" + query)
                #expect(first.headers.first(name: "Location")?.hasSuffix("kommo=connected") == true)
                let replay = try await HTTPTestClient.get(client.base + "/oauth/kommo/callback?" + query)
                #expect(replay.status == 303)
                #expect(replay.headers.first(name: "Location")?.hasSuffix("?kommo=error&reason=state_used") == true)
                _ = try await client.request(.DELETE, "/api/v1/integrations/kommo", token: tenant.key)

                // Expired: consent given after the state's time.
                let late = try await client.request(.POST, "/api/v1/integrations/kommo/install", token: tenant.key)
                let lateConsent = try await HTTPTestClient.get(late.json["authorize_url"] as? String ?? "")
                try await Task.sleep(for: .milliseconds(3100))
                let lateQuery = URLComponents(string: lateConsent.headers.first(name: "Location") ?? "")?.percentEncodedQuery ?? ""
                let expired = try await HTTPTestClient.get(client.base + "/oauth/kommo/callback?" + lateQuery)
                #expect(expired.headers.first(name: "Location")?.hasSuffix("?kommo=error&reason=state_expired") == true)
                // A state we never issued.
                let forged = try await HTTPTestClient.get(client.base + "/oauth/kommo/callback?code=x&referer=127.0.0.1:\(kommoPort)&state=tn_x.abc.9999999999.sig")
                #expect(forged.headers.first(name: "Location")?.hasSuffix("?kommo=error&reason=state_invalid") == true)
                let after = try await client.request(.GET, "/api/v1/integrations", token: tenant.key)
                #expect((after.json["kommo"] as? [String: Any])?["access_token_set"] as? Bool == false, "\(after.text)")
                #expect(kommo.oauthServer.webhooks.isEmpty)
            }
        }
    }

    @Test("tokens are renewed ahead of expiry as the clock advances, rotating the refresh token; a refused renewal is an alert")
    func renewalAheadOfExpiry() async throws {
        let kommo = KommoEmulator()
        let clock = ManualClock(Date())
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await Self.system(kommo: kommo, kommoPort: kommoPort, clock: clock)
            try await system.run { client in
                let tenant = try await client.createTenant(admin: system.adminToken)
                _ = try await Self.install(client, key: tenant.key)
                let issued = kommo.currentTokens
                try await Task.sleep(for: .milliseconds(300))
                #expect(kommo.refreshes == 0, "nothing is renewed while the token has most of its day left")

                // 23.5 hours later: less than an hour left, renewed without any 401.
                clock.advance(by: 23.5 * 3600)
                #expect(try await eventually(timeout: .seconds(10)) { kommo.refreshes == 1 })
                let renewed = kommo.currentTokens
                #expect(renewed.access != issued.access && renewed.refresh != issued.refresh)
                let test = try await client.request(.POST, "/api/v1/integrations/kommo/test", token: tenant.key)
                #expect(test.json["ok"] as? Bool == true, "the renewed token is the one in use: \(test.text)")
                let view = try await client.request(.GET, "/api/v1/integrations", token: tenant.key)
                let expires = (view.json["kommo_connection"] as? [String: Any])?["access_token_expires_at"] as? String ?? ""
                let expiry = try #require(RFC3339.parse(expires))
                #expect(expiry.timeIntervalSince(clock.now()) > 23 * 3600, "\(expires)")

                // Kommo revokes the refresh token: the next renewal fails and shows as an alert.
                kommo.revokeRefreshToken()
                clock.advance(by: 23.5 * 3600)
                let alerted = try await eventually(timeout: .seconds(10)) {
                    let answer = try await client.request(.GET, "/api/v1/integrations", token: tenant.key)
                    return (answer.json["kommo_connection"] as? [String: Any])?["alert"] != nil
                }
                #expect(alerted)
                let answer = try await client.request(.GET, "/api/v1/integrations", token: tenant.key)
                let alert = (answer.json["kommo_connection"] as? [String: Any])?["alert"] as? [String: Any] ?? [:]
                #expect(alert["kind"] as? String == "token_renewal_failed")
                #expect(alert["action"] as? String == "reconnect")
                #expect((alert["reason"] as? String)?.contains("401") == true, "\(alert)")
            }
        }
    }

    @Test("the catalog is refreshed on request and on schedule, each list paginated at 250")
    func catalogRefresh() async throws {
        let kommo = KommoEmulator()
        let clock = ManualClock(Date())
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await Self.system(kommo: kommo, kommoPort: kommoPort, clock: clock)
            try await system.run { client in
                let tenant = try await client.createTenant(admin: system.adminToken)
                _ = try await Self.install(client, key: tenant.key)
                kommo.oauthServer.editCatalog { catalog in
                    catalog.users = (1...300).map { .object(["id": .int(Int64(9_000_000 + $0)), "name": .string("User \($0)"), "email": .null]) }
                }
                let refreshed = try await client.request(.POST, "/api/v1/kommo/catalog/refresh", token: tenant.key)
                #expect(refreshed.status == 200, "\(refreshed.text)")
                #expect((refreshed.json["users"] as? [Any])?.count == 300)
                let pages = kommo.received.filter { $0.path == "/api/v4/users" }.suffix(2).map { $0.query ?? "" }
                #expect(pages == ["page=1&limit=250", "page=2&limit=250"])

                // An hour later the schedule reads it again.
                kommo.oauthServer.editCatalog { catalog in
                    catalog.pipelines.append(KommoOAuthServer.pipeline(id: 7_010_002, name: "Partners", isMain: false, stages: [(61_300_001, "Intro", 0)]))
                }
                clock.advance(by: 3601)
                let scheduled = try await eventually(timeout: .seconds(10)) {
                    let catalog = try await client.request(.GET, "/api/v1/kommo/catalog/pipelines", token: tenant.key)
                    return (catalog.json["pipelines"] as? [Any])?.count == 2
                }
                #expect(scheduled)
            }
        }
    }
}

extension HTTPTestClient {
    /// A client that shows redirects instead of following them, as a test of where a browser is sent.
    static let unredirected = HTTPClient(eventLoopGroupProvider: .singleton,
                                         configuration: HTTPClient.Configuration(redirectConfiguration: .disallow))

    /// A GET to any URL (the emulator's consent page, our callback), without following redirects.
    static func get(_ url: String) async throws -> Answer {
        let request = HTTPClientRequest(url: url)
        let response = try await unredirected.execute(request, timeout: .seconds(60))
        let buffer = try await response.body.collect(upTo: 1 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers, body: Data(buffer.readableBytesView))
    }
}
