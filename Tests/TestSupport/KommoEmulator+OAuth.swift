import Basics
import Crypto
import Foundation
import Hummingbird
import Synchronization

/// The parts of a Kommo account that connecting an integration through OAuth touches: the consent page
/// (`GET /oauth`), the authorization-code grant, webhook subscriptions, the account's catalog lists
/// (paginated like Kommo's: `page`, `limit` ≤ 250, `_links.next`), and the uninstall notice Kommo sends.
package final class KommoOAuthServer: Sendable {
    /// The integration registered with Kommo.
    package struct Client: Sendable {
        package var id: String
        package var secret: String
        package var redirectURI: String
        package var uuid: String

        package init(id: String = "client-\(UUID().uuidString)", secret: String = "secret-\(UUID().uuidString)",
                     redirectURI: String, uuid: String = UUID().uuidString.lowercased()) {
            self.id = id; self.secret = secret; self.redirectURI = redirectURI; self.uuid = uuid
        }
    }

    /// A webhook subscription as Kommo lists it.
    package struct Webhook: Sendable, Hashable {
        package var destination: String
        package var settings: [String]
    }

    private struct State {
        var client: Client?
        var host = ""
        var codes: [String: String] = [:]   // code → client id
        var webhooks: [Webhook] = []
        var catalog = Catalog()
        var catalogReads = 0
    }

    /// What the catalog endpoints list.
    package struct Catalog: Sendable {
        package var pipelines: [JSONValue] = [KommoOAuthServer.pipeline(id: 7_010_001, name: "Sales", isMain: true,
                                                                      stages: [(61_234_501, "New", 0), (61_234_502, "Qualified", 0)])]
        package var users: [JSONValue] = (1...3).map { .object(["id": .int(Int64(8_812_000 + $0)), "name": .string("Manager \($0)"),
                                                                 "email": .string("manager\($0)@acme.test")]) }
        package var fields: [String: [JSONValue]] = [
            "leads": [.object(["id": 512_301, "name": "Budget", "type": "numeric", "code": .null, "enums": .null]),
                      .object(["id": 512_302, "name": "Source", "type": "select", "code": .null,
                               "enums": .array([.object(["id": 99_001, "value": "Website", "sort": 1]),
                                                .object(["id": 99_002, "value": "Referral", "sort": 2])])])],
            "contacts": [.object(["id": 512_401, "name": "Phone", "type": "multitext", "code": "PHONE",
                                  "enums": .array([.object(["id": 99_101, "value": "WORK", "sort": 1])])])],
            "companies": [],
        ]
        package var tags: [String: [JSONValue]] = [
            "leads": [.object(["id": 3_001, "name": "vip", "color": .null])], "contacts": [], "companies": [],
        ]
        package var taskTypes: [JSONValue] = [.object(["id": 1, "name": "Follow-up", "code": "FOLLOW_UP"]),
                                              .object(["id": 2, "name": "Meeting", "code": "MEETING"])]

        package init() {}
    }

    /// A pipeline in Kommo's shape, with won (142) and lost (143) added.
    package static func pipeline(id: Int64, name: String, isMain: Bool, stages: [(Int64, String, Int64)]) -> JSONValue {
        var statuses: [JSONValue] = [.object(["id": .int(id * 10), "name": "Incoming leads", "sort": 10, "type": 1, "color": "#c1c1c1"])]
        for (index, stage) in stages.enumerated() {
            statuses.append(.object(["id": .int(stage.0), "name": .string(stage.1), "sort": .int(Int64(20 + index * 10)),
                                     "type": .int(stage.2), "color": "#99ccff"]))
        }
        statuses.append(.object(["id": 142, "name": "Closed - won", "sort": 10000, "type": 0, "color": "#CCFF66"]))
        statuses.append(.object(["id": 143, "name": "Closed - lost", "sort": 11000, "type": 0, "color": "#D5D8DB"]))
        return .object(["id": .int(id), "name": .string(name), "sort": 1, "is_main": .bool(isMain),
                        "_embedded": .object(["statuses": .array(statuses)])])
    }

    private let state = Mutex(State())

    package init() {}

    // MARK: - Test controls

    /// Registers the integration (its redirect URI is where consent sends the user).
    package func register(_ client: Client) {
        state.withLock { $0.client = client }
    }

    /// The account's host as the consent redirect names it (`referer`), e.g. `127.0.0.1:<port>`.
    package func serve(host: String) {
        state.withLock { $0.host = host }
    }

    /// The registered integration.
    package var client: Client? { state.withLock { $0.client } }

    /// Webhook subscriptions now.
    package var webhooks: [Webhook] { state.withLock { $0.webhooks } }

    /// Requests to catalog lists answered.
    package var catalogReads: Int { state.withLock { $0.catalogReads } }

    /// Changes what the catalog lists.
    package func editCatalog(_ change: (inout Catalog) -> Void) {
        state.withLock { change(&$0.catalog) }
    }

    /// The uninstall notice Kommo sends: the query of `GET {uninstall hook}` signed with the client secret.
    package func uninstallQuery(accountID: Int64, signedWith secret: String? = nil) -> String {
        let client = state.withLock { $0.client }
        let uuid = client?.uuid ?? ""
        let key = SymmetricKey(data: Data((secret ?? client?.secret ?? "").utf8))
        let signature = HMAC<SHA256>.authenticationCode(for: Data("\(uuid)|\(accountID)".utf8), using: key)
            .map { String(format: "%02x", $0) }.joined()
        return "client_uuid=\(uuid)&account_id=\(accountID)&signature=\(signature)"
    }

    // MARK: - Serving

    /// `GET /oauth?client_id=&state=&mode=`: the user consents at once; redirects (302) to the
    /// integration's redirect URI with `code`, `referer` (this account's host), `state`, `client_id`.
    func authorize(_ request: ReceivedRequest) -> Response {
        let items = URLComponents(string: "/?" + (request.query ?? ""))?.queryItems ?? []
        func item(_ name: String) -> String? { items.first(where: { $0.name == name })?.value }
        guard let client = state.withLock({ $0.client }), item("client_id") == client.id, let stateValue = item("state"),
              ["popup", "post_message"].contains(item("mode") ?? "")
        else { return Reply.json(400, #"{"title":"Bad Request","status":400,"detail":"unknown client_id, or no state or mode"}"#) }
        let code = "code-\(UUID().uuidString)"
        state.withLock { $0.codes[code] = client.id }
        var target = URLComponents(string: client.redirectURI)!
        target.queryItems = [URLQueryItem(name: "code", value: code), URLQueryItem(name: "referer", value: state.withLock { $0.host }),
                             URLQueryItem(name: "state", value: stateValue), URLQueryItem(name: "client_id", value: client.id)]
        return Response(status: .found, headers: [.location: target.string!])
    }

    /// Checks an authorization-code grant; the client when the code is good (a code works once).
    func redeem(_ json: JSONValue?) -> Client? {
        state.withLock { state in
            guard let client = state.client, json?["client_id"]?.string == client.id, json?["client_secret"]?.string == client.secret,
                  json?["redirect_uri"]?.string == client.redirectURI, let code = json?["code"]?.string,
                  state.codes.removeValue(forKey: code) == client.id
            else { return nil }
            return client
        }
    }

    /// Whether this part answers `request` (an authenticated API call).
    func handles(_ request: ReceivedRequest) -> Bool {
        answer(request, dryRun: true) != nil
    }

    /// The answer to an authenticated API call this part owns, or `nil`.
    func answer(_ request: ReceivedRequest, dryRun: Bool = false) -> Response? {
        let path = request.path
        let items = URLComponents(string: "/?" + (request.query ?? ""))?.queryItems ?? []
        func item(_ name: String) -> String? { items.first(where: { $0.name == name })?.value }
        switch (request.method, path) {
        case ("POST", "/api/v4/webhooks"):
            if dryRun { return Reply.empty(200) }
            guard let destination = request.json?["destination"]?.string, let settings = request.json?["settings"]?.array?.compactMap(\.string),
                  !settings.isEmpty
            else { return Reply.json(400, #"{"title":"Bad Request","status":400,"detail":"destination and settings are required"}"#) }
            state.withLock { state in
                state.webhooks.removeAll { $0.destination == destination }
                state.webhooks.append(Webhook(destination: destination, settings: settings))
            }
            return Reply.json(200, .object(["id": 1, "destination": .string(destination), "created_at": 1_700_000_000,
                                            "settings": .array(settings.map(JSONValue.string)), "sort": 1, "disabled": false]),
                              contentType: "application/hal+json")
        case ("DELETE", "/api/v4/webhooks"):
            if dryRun { return Reply.empty(204) }
            guard let destination = request.json?["destination"]?.string else {
                return Reply.json(400, #"{"title":"Bad Request","status":400,"detail":"destination is required"}"#)
            }
            let removed = state.withLock { state in
                let before = state.webhooks.count
                state.webhooks.removeAll { $0.destination == destination }
                return before != state.webhooks.count
            }
            return removed ? Reply.empty(204) : Reply.json(404, #"{"title":"Not Found","status":404,"detail":"no such webhook"}"#)
        case ("GET", "/api/v4/webhooks"):
            if dryRun { return Reply.empty(200) }
            let list: [JSONValue] = webhooks.map { .object(["destination": .string($0.destination),
                                                            "settings": .array($0.settings.map(JSONValue.string))]) }
            return Reply.json(200, .object(["_embedded": .object(["webhooks": .array(list)])]), contentType: "application/hal+json")
        case ("GET", "/api/v4/account") where item("with") == "task_types":
            if dryRun { return Reply.empty(200) }
            let types = state.withLock { $0.catalogReads += 1; return $0.catalog.taskTypes }
            return Reply.json(200, .object(["id": 29_012_345, "name": "Acme Sales", "subdomain": "acmesales",
                                            "_embedded": .object(["task_types": .array(types)])]), contentType: "application/hal+json")
        case ("GET", "/api/v4/leads/pipelines"):
            return page(request, items: { $0.pipelines }, embedded: "pipelines", dryRun: dryRun)
        case ("GET", "/api/v4/users"):
            return page(request, items: { $0.users }, embedded: "users", dryRun: dryRun)
        default:
            let segments = path.split(separator: "/").map(String.init)
            guard request.method == "GET", segments.count == 4, ["leads", "contacts", "companies"].contains(segments[2]) else { return nil }
            let entity = segments[2]
            switch segments[3] {
            case "custom_fields": return page(request, items: { $0.fields[entity] ?? [] }, embedded: "custom_fields", dryRun: dryRun)
            case "tags": return page(request, items: { $0.tags[entity] ?? [] }, embedded: "tags", dryRun: dryRun)
            default: return nil
            }
        }
    }

    /// One page of a list: `limit` above 250 is refused as Kommo does; past the end is 204.
    private func page(_ request: ReceivedRequest, items: (Catalog) -> [JSONValue], embedded: String, dryRun: Bool) -> Response {
        if dryRun { return Reply.empty(200) }
        let query = URLComponents(string: "/?" + (request.query ?? ""))?.queryItems ?? []
        let page = query.first(where: { $0.name == "page" })?.value.flatMap(Int.init) ?? 1
        let limit = query.first(where: { $0.name == "limit" })?.value.flatMap(Int.init) ?? 50
        guard limit >= 1, limit <= 250, page >= 1 else {
            return Reply.json(400, #"{"title":"Bad Request","status":400,"detail":"limit must be 1 to 250"}"#, contentType: "application/problem+json")
        }
        let all = state.withLock { $0.catalogReads += 1; return items($0.catalog) }
        let slice = Array(all.dropFirst((page - 1) * limit).prefix(limit))
        guard !slice.isEmpty else { return Reply.empty(204) }
        var links: [String: JSONValue] = ["self": .object(["href": .string("https://acmesales.kommo.com\(request.path)?page=\(page)&limit=\(limit)")])]
        if page * limit < all.count {
            links["next"] = .object(["href": .string("https://acmesales.kommo.com\(request.path)?page=\(page + 1)&limit=\(limit)")])
        }
        return Reply.json(200, .object(["_page": .int(Int64(page)), "_links": .object(links),
                                        "_embedded": .object([embedded: .array(slice)])]), contentType: "application/hal+json")
    }
}
