import Basics
import Foundation
import HTTPTypes
import Hummingbird
import ServiceKit
import Wire

/// `POST /integrations/kommo/install` body: how Kommo's consent page opens.
struct KommoInstallBody: RequestBody {
    static let fields: Set<String> = ["mode"]
    var mode: String?
}

extension GatewayApp {
    /// Connecting a Kommo account through OAuth: the install URL with a signed single-use state, Kommo's
    /// redirect back with the code, disconnecting, Kommo's uninstall notice, and the account's catalog.
    static func addKommoConnectRoutes(to router: Router<GatewayContext>, tenantAPI: RouterGroup<GatewayContext>, store: GatewayStore,
                                      peers: Peers, configuration: GatewayConfiguration, clock: any WallClock) {
        let install = configuration.kommoInstall
        // The exchange, the account read, the webhook and a first catalog read all happen in this call.
        let connectTimeout = max(configuration.rpcTimeout, .seconds(60))

        tenantAPI.post("/integrations/kommo/install") { request, context -> Response in
            let tenantID = try context.tenant
            let body = request.headers[.contentLength] == "0" || request.headers[.contentType] == nil
                ? KommoInstallBody(mode: nil) : try await request.decodeBody(KommoInstallBody.self, context: context)
            let mode = body.mode ?? "post_message"
            guard ["post_message", "popup"].contains(mode) else { throw Problem.field("mode", "must be post_message or popup") }
            guard let clientID = install.clientID else {
                throw Problem(status: .preconditionFailed,
                              detail: "installing through Kommo is not configured (KOMMO_CLIENT_ID); paste a long-lived token instead")
            }
            let now = clock.now()
            let expires = now.addingTimeInterval(TimeInterval(install.stateTTL.components.seconds))
            let state = try await store.issueOAuthState(tenantID: tenantID, now: now.unixMicros, expiresAt: expires.unixMicros)
            var url = URLComponents(string: install.authorizeURL)!
            url.queryItems = [URLQueryItem(name: "client_id", value: clientID), URLQueryItem(name: "state", value: state),
                              URLQueryItem(name: "mode", value: mode)]
            let answer: [String: JSONValue] = [
                "authorize_url": JSONValue.string(url.string ?? install.authorizeURL), "state": JSONValue.string(state),
                "expires_at": JSONValue.string(RFC3339.string(expires)),
            ]
            return try jsonResponse(JSONValue.object(answer))
        }

        router.get("/oauth/kommo/callback") { request, context -> Response in
            let query = QueryReader(request)
            func outcome(_ reason: String?) -> Response {
                let base: String = configuration.publicBaseURL.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
                var location = "\(base)/admin/#/integrations?kommo=connected"
                if let reason { location = "\(base)/admin/#/integrations?kommo=error&reason=\(reason)" }
                // The callback URL carries the code: no caching, and no referrer to the admin page.
                var headers = HTTPFields()
                headers[.location] = location
                headers[.cacheControl] = "no-store"
                headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
                return Response(status: .seeOther, headers: headers)
            }
            let state = (try? query.string("state", maxLength: 512)) ?? ""
            let tenantID: String
            switch try await store.consumeOAuthState(state, now: clock.now().unixMicros) {
            case .success(let tenant): tenantID = tenant
            case .failure(let refusal):
                context.logger.warning("kommo.oauth_state_refused", metadata: ["reason": "\(refusal.rawValue)"])
                return outcome(refusal.rawValue)
            }
            if !((try? query.string("error", maxLength: 200)) ?? "").isEmpty { return outcome("denied") }
            let code = (try? query.string("code", maxLength: 4096)) ?? ""
            let referer = (try? query.string("referer", maxLength: 253)) ?? ""
            guard !code.isEmpty, !referer.isEmpty else { return outcome("missing_code") }
            let options = CallOptions(timeout: connectTimeout, traceID: context.requestID, tenantID: tenantID)
            do throws(RPCError) {
                var tenantRequest = PB.TenantRequest()
                tenantRequest.tenantId = tenantID
                let source = try await peers.ingest.ensureWebhookSource(tenantRequest, options: options)
                var connect = PB.KommoConnectRequest()
                connect.tenantId = tenantID
                connect.code = code
                connect.referer = referer
                connect.webhookUrl = webhookURL(configuration, secret: source.secret)
                let connected = try await peers.sequences.connectKommo(connect, options: options)
                let answer: JSONValue = JSONValue(parsing: connected.json) ?? .null
                var bind = PB.KommoAccountBinding()
                bind.tenantId = tenantID
                bind.accountId = answer["account"]?["id"]?.int64 ?? 0
                bind.subdomain = answer["account"]?["subdomain"]?.string ?? ""
                bind.baseUrl = answer["base_url"]?.string ?? ""
                _ = try await peers.ingest.bindKommoAccount(bind, options: options)
                return outcome(nil)
            } catch {
                context.logger.warning("kommo.oauth_connect_failed", metadata: ["tenant.id": "\(tenantID)", "error": "\(error)"])
                let reason: String
                switch error.code {
                case .invalidArgument: reason = "bad_referer"
                case .failedPrecondition: reason = "not_configured"
                default: reason = "exchange_failed"
                }
                return outcome(reason)
            }
        }

        router.get("/oauth/kommo/uninstall") { request, context -> Response in
            let query = QueryReader(request)
            var notice = PB.KommoDisconnectRequest()
            notice.clientUuid = try query.string("client_uuid", maxLength: 128)
            notice.accountId = try query.int("account_id", range: 1...Int64.max) ?? 0
            notice.signature = try query.string("signature", maxLength: 256)
            guard notice.accountId > 0, !notice.clientUuid.isEmpty, !notice.signature.isEmpty else {
                throw Problem(status: .badRequest, detail: "client_uuid, account_id and signature are required")
            }
            let options = CallOptions(timeout: connectTimeout, traceID: context.requestID)
            let answer = try await peers.sequences.disconnectKommo(notice, options: options)
            for tenantID in answer.id.split(separator: ",").map(String.init) {
                try await unbind(tenantID: tenantID, peers: peers, requestID: context.requestID)
            }
            return try jsonResponse(JSONValue(parsing: answer.json) ?? .object([:]))
        }

        tenantAPI.delete("/integrations/kommo") { _, context -> Response in
            var disconnect = PB.KommoDisconnectRequest()
            disconnect.tenantId = try context.tenant
            let options = CallOptions(timeout: connectTimeout, traceID: context.requestID, tenantID: disconnect.tenantId)
            let answer = try await peers.sequences.disconnectKommo(disconnect, options: options)
            try await unbind(tenantID: disconnect.tenantId, peers: peers, requestID: context.requestID)
            return try jsonResponse(JSONValue(parsing: answer.json) ?? .object([:]))
        }

        tenantAPI.get("/kommo/catalog") { _, context -> Response in
            var ref = PB.DocumentRef()
            ref.id = try context.tenant
            let answer = try await peers.sequences.kommoCatalog(ref, options: peers.options(context))
            return try jsonResponse(JSONValue(parsing: answer.json) ?? .object([:]))
        }
        tenantAPI.get("/kommo/catalog/{kind}") { _, context -> Response in
            let kind = context.parameters.get("kind") ?? ""
            guard ["pipelines", "users", "custom_fields", "tags", "task_types"].contains(kind) else {
                throw Problem(status: .notFound, detail: "no catalog part \(kind); known: pipelines, users, custom_fields, tags, task_types")
            }
            var ref = PB.DocumentRef()
            ref.id = try context.tenant
            let document = try await peers.sequences.kommoCatalog(ref, options: peers.options(context))
            let answer: JSONValue = JSONValue(parsing: document.json) ?? .null
            var part: [String: JSONValue] = [:]
            part["connected"] = answer["connected"] ?? JSONValue.bool(false)
            part["refreshed_at"] = answer["refreshed_at"] ?? JSONValue.null
            part[kind] = answer[kind] ?? JSONValue.null
            return try jsonResponse(JSONValue.object(part))
        }
        tenantAPI.post("/kommo/catalog/refresh") { _, context -> Response in
            var ref = PB.DocumentRef()
            ref.id = try context.tenant
            let options = CallOptions(timeout: connectTimeout, traceID: context.requestID, tenantID: try context.tenant)
            let answer = try await peers.sequences.refreshKommoCatalog(ref, options: options)
            return try jsonResponse(JSONValue(parsing: answer.json) ?? .object([:]))
        }
    }

    /// Webhooks of the tenant are no longer tied to an account: the next one's account is learnt again.
    private static func unbind(tenantID: String, peers: Peers, requestID: String) async throws {
        var bind = PB.KommoAccountBinding()
        bind.tenantId = tenantID
        do throws(RPCError) {
            _ = try await peers.ingest.bindKommoAccount(bind, options: peers.options(tenant: tenantID, requestID: requestID))
        } catch {
            // The tenant never had a webhook source: nothing is bound.
            guard error.code == .notFound else { throw error }
        }
    }
}
