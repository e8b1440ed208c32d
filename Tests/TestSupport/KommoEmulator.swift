import Basics
import Crypto
import Foundation
import Hummingbird
import Sequences
import Synchronization

/// A Kommo account on loopback: answers the REST calls executors make, checks each one against the
/// API's documented shape (KOMMO.md §2, §3), and can be told to misbehave.
///
/// A request that breaks the documented shape is answered 400 with Kommo-style `validation-errors` and
/// recorded in ``violations``, so a test sees both a failed call and the reason.
package final class KommoEmulator: Sendable {
    /// What the next request(s) get instead of the normal answer.
    package enum Misbehaviour: Sendable {
        /// 429 with `retry_after` in the body (and no header).
        case tooManyRequests(retryAfter: Int)
        /// 429 with only a `Retry-After` header.
        case tooManyRequestsHeader(retryAfter: Int)
        /// The given status with a problem document.
        case problem(status: Int, title: String, detail: String, validationErrors: [(path: String, code: String, detail: String)] = [])
        /// The given status with an empty body.
        case status(Int)
        /// 200 with an HTML page.
        case nonJSON
        /// 200 with a body of about `bytes` bytes.
        case huge(bytes: Int)
        /// Waits before answering normally.
        case stall(Duration)
    }

    /// The token the account accepts.
    package let token: String
    /// The Chats API channel secret the `amojo` route verifies signatures with.
    package let channelSecret: String
    /// Sends each stage change it accepts back as Kommo's webhook, once pointed at a URL (see ``KommoEcho``).
    package let echo = KommoEcho()
    /// OAuth install, webhook subscriptions and the account's catalog (`KommoEmulator+OAuth.swift`).
    package let oauthServer = KommoOAuthServer()
    /// The account as a whole: rate limit and block, unpaid, 504s, per-item refusals (`KommoEmulator+Batch`).
    package let behaviour = KommoAccountBehaviour()

    private struct State {
        var received: [ReceivedRequest] = []
        var violations: [String] = []
        var script: [Misbehaviour] = []
        var nextID: Int64 = 9_000_000
        var leads: [Int64: JSONValue] = [:]
        var contacts: [Int64: JSONValue] = [:]
        /// Tasks created, by the `request_id` they came with.
        var tasksByRequestID: [String: Int64] = [:]
        var tasksCreated = 0
        /// The access token accepted now, and the OAuth client and refresh token that renew it.
        var accessToken: String
        var oauth: OAuthClient?
        var refreshes = 0
        /// Tokens accepted besides the current one, whatever OAuth does (see ``keepAccepting(_:)``).
        var standing: Set<String> = []
    }

    /// An OAuth integration as Kommo knows it.
    package struct OAuthClient: Sendable {
        package var clientID: String
        package var clientSecret: String
        package var redirectURI: String
        package var refreshToken: String

        package init(clientID: String, clientSecret: String, redirectURI: String, refreshToken: String) {
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.redirectURI = redirectURI
            self.refreshToken = refreshToken
        }
    }

    private let state: Mutex<State>

    package init(token: String = "test-token-\(UUID().uuidString)", channelSecret: String = "channel-secret", oauth: OAuthClient? = nil) {
        self.token = token
        self.channelSecret = channelSecret
        self.state = Mutex(State(accessToken: token, oauth: oauth))
    }

    /// Lets the current access token expire: from now on it is refused with 401 until a refresh.
    package func expireAccessToken() {
        state.withLock { $0.accessToken = "expired-\(UUID().uuidString)" }
    }

    /// Keeps accepting `token` after an OAuth exchange or refresh issues new ones: one account serving a
    /// tenant with a pasted long-lived token and another connected through the install flow.
    package func keepAccepting(_ token: String) {
        state.withLock { _ = $0.standing.insert(token) }
    }

    /// Revokes the refresh token: the next refresh-token grant is refused (401), as after an uninstall.
    package func revokeRefreshToken() {
        state.withLock { $0.oauth?.refreshToken = "revoked-\(UUID().uuidString)" }
    }

    /// The access token accepted now, and the refresh token that renews it.
    package var currentTokens: (access: String, refresh: String?) { state.withLock { ($0.accessToken, $0.oauth?.refreshToken) } }
    /// Refresh-token grants answered with new tokens.
    package var refreshes: Int { state.withLock { $0.refreshes } }

    // MARK: - Test controls

    /// Makes the next `times` requests misbehave this way (in order, after earlier queued ones).
    package func enqueue(_ misbehaviour: Misbehaviour, times: Int = 1) {
        state.withLock { $0.script.append(contentsOf: Array(repeating: misbehaviour, count: times)) }
    }

    /// Stores a lead `GET /api/v4/leads/{id}` returns.
    package func addLead(_ json: JSONValue) {
        guard let id = json["id"]?.int64 else { return }
        state.withLock { $0.leads[id] = json }
    }

    /// Stores a contact `GET /api/v4/contacts/{id}` returns.
    package func addContact(_ json: JSONValue) {
        guard let id = json["id"]?.int64 else { return }
        state.withLock { $0.contacts[id] = json }
    }

    /// Tasks created: a repeated `request_id` returns the task it created first and creates nothing.
    package var tasksCreated: Int { state.withLock { $0.tasksCreated } }

    /// Every request received, in order of arrival.
    package var received: [ReceivedRequest] { state.withLock { $0.received } }
    /// Every departure from the documented API seen.
    package var violations: [String] { state.withLock { $0.violations } }

    // MARK: - Serving

    /// Answers one request.
    @Sendable package func handle(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let body = try await request.body.collect(upTo: 4 << 20)
        let received = ReceivedRequest(request, body: body)
        let misbehaviour: Misbehaviour? = state.withLock { state in
            state.received.append(received)
            return state.script.isEmpty ? nil : state.script.removeFirst()
        }
        if received.path.hasPrefix("/v2/origin/custom/") {
            if case .status(let status) = misbehaviour { return Reply.empty(status) }
            return chatsAPI(received)
        }
        if received.path == "/oauth" { return oauthServer.authorize(received) }
        if received.path == "/oauth2/access_token" {
            if case .status(let status) = misbehaviour { return Reply.empty(status) }
            if received.json?["grant_type"]?.string == "authorization_code" { return exchangeCode(received) }
            return refresh(received)
        }
        let authorized = state.withLock { state in
            let presented = received.headers["authorization"] ?? ""
            return presented == "Bearer \(state.accessToken)" || state.standing.contains { presented == "Bearer \($0)" }
        }
        guard authorized else {
            return Reply.json(401, #"{"title":"Unauthorized","status":401,"detail":"Invalid token"}"#,
                              contentType: "application/problem+json")
        }
        if let refusal = behaviour.gate(received) { return refusal }
        let problems = !Self.isBatchRoute(received) ? validate(received)
            : Self.batchProblems(received) + (received.path == "/api/v4/tasks" ? validate(received) : [])
        if !problems.isEmpty {
            state.withLock { $0.violations.append(contentsOf: problems.map { "\(received.method) \(received.path): \($0)" }) }
            return Self.validationFailure(problems)
        }
        switch misbehaviour {
        case .tooManyRequests(let seconds):
            behaviour.countTooManyRequests()
            return Reply.json(429, #"{"title":"Too Many Requests","status":429,"detail":"Rate limit exceeded","retry_after":\#(seconds)}"#,
                              contentType: "application/problem+json")
        case .tooManyRequestsHeader(let seconds):
            return Reply.json(429, "", headers: [("Retry-After", String(seconds))])
        case .problem(let status, let title, let detail, let errors):
            let list = errors.map { #"{"code":"\#($0.code)","path":"\#($0.path)","detail":"\#($0.detail)"}"# }
            let extra = errors.isEmpty ? "" : #","validation-errors":[{"request_id":"0","errors":[\#(list.joined(separator: ","))]}]"#
            return Reply.json(status, #"{"title":"\#(title)","status":\#(status),"detail":"\#(detail)"\#(extra)}"#,
                              contentType: "application/problem+json")
        case .status(let status):
            return Reply.empty(status)
        case .nonJSON:
            return Reply.json(200, "<html><body>Service temporarily unavailable</body></html>", contentType: "text/html")
        case .huge(let bytes):
            return Reply.bytes(200, count: bytes)
        case .stall(let duration):
            try await Task.sleep(for: duration)
            return answered(received)
        case nil:
            return answered(received)
        }
    }

    func nextEntityID() -> Int64 { nextID() }

    func leadsStored() -> [Int64: JSONValue] { state.withLock { $0.leads } }

    private func nextID() -> Int64 {
        state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
    }

    // MARK: - Normal answers

    /// The normal answer, told to the echo so that Kommo's webhook about the write follows it.
    private func answered(_ request: ReceivedRequest) -> Response {
        let response = normalAnswer(request)
        echo.answered(request, status: Int(response.status.code))
        return response
    }

    private func normalAnswer(_ request: ReceivedRequest) -> Response {
        if let answer = oauthServer.answer(request) { return answer }
        if Self.isBatchRoute(request) {
            if let timeout = gatewayTimeout(request) { return timeout }
            if let refusal = refusedItems(request) { return refusal }
            if let answer = batchAnswer(request) { return answer }
        }
        let segments = request.path.split(separator: "/").map(String.init)
        switch (request.method, segments.count) {
        case ("POST", 3) where request.path == "/api/v4/tasks":
            // A receiver that dedupes: the same request_id names the same task.
            let tasks: [JSONValue] = (request.json?.array ?? []).map { task in
                let id = state.withLock { state -> Int64 in
                    if let requestID = task["request_id"]?.string, let existing = state.tasksByRequestID[requestID] { return existing }
                    state.nextID += 1
                    state.tasksCreated += 1
                    if let requestID = task["request_id"]?.string { state.tasksByRequestID[requestID] = state.nextID }
                    return state.nextID
                }
                return .object(["id": .int(Int64(id)), "request_id": task["request_id"] ?? .null])
            }
            return Reply.json(200, .object(["_links": .object([:]), "_embedded": .object(["tasks": .array(tasks)])]),
                              contentType: "application/hal+json")
        case ("PATCH", 4) where segments[2] == "tasks", ("PATCH", 4) where segments[2] == "leads", ("PATCH", 4) where segments[2] == "contacts":
            return Reply.json(200, .object(["id": .int(Int64(segments[3]) ?? 0), "updated_at": .int(1_700_000_000)]),
                              contentType: "application/hal+json")
        case ("POST", 5) where segments[4] == "notes":
            let notes: [JSONValue] = (request.json?.array ?? []).map { _ in
                .object(["id": .int(Int64(nextID())), "entity_id": .int(Int64(segments[3]) ?? 0)])
            }
            return Reply.json(200, .object(["_embedded": .object(["notes": .array(notes)])]), contentType: "application/hal+json")
        case ("POST", _) where request.path == "/api/v2/salesbot/run":
            return Reply.json(202, #"{"success":true}"#)
        case ("GET", 3) where request.path == "/api/v4/account" && request.query == nil:
            return Reply.json(200, .object(["id": .int(29_012_345), "name": .string("Acme Sales"), "subdomain": .string("acmesales"),
                                            "currency": .string("USD"), "_links": .object(["self": .object(["href": .string("https://acmesales.kommo.com/api/v4/account")])])]),
                              contentType: "application/hal+json")
        case ("GET", 4) where segments[2] == "leads":
            guard let lead = state.withLock({ $0.leads[Int64(segments[3]) ?? -1] }) else { return Reply.empty(204) }
            return Reply.json(200, lead, contentType: "application/hal+json")
        case ("GET", 4) where segments[2] == "contacts":
            guard let contact = state.withLock({ $0.contacts[Int64(segments[3]) ?? -1] }) else { return Reply.empty(204) }
            return Reply.json(200, contact, contentType: "application/hal+json")
        default:
            if let answer = oauthServer.answer(request) { return answer }
            return Reply.json(404, #"{"title":"Not Found","status":404,"detail":"No such route"}"#, contentType: "application/problem+json")
        }
    }

    private static func validationFailure(_ problems: [String]) -> Response {
        let errors: [JSONValue] = problems.map { .object(["code": "InvalidRequest", "path": "body", "detail": .string($0)]) }
        return Reply.json(400, .object([
            "title": "Bad Request", "status": 400, "detail": "Request validation failed",
            "validation-errors": .array([.object(["request_id": "0", "errors": .array(errors)])]),
        ]), contentType: "application/problem+json")
    }

    // MARK: - Validation against KOMMO.md

    private func validate(_ request: ReceivedRequest) -> [String] {
        let segments = request.path.split(separator: "/").map(String.init)
        var problems: [String] = []
        let hasBody = !request.body.isEmpty
        if hasBody, !(request.headers["content-type"] ?? "").hasPrefix("application/json") {
            problems.append("content-type must be application/json")
        }
        let json = request.json
        if hasBody, json == nil { problems.append("body is not JSON") }

        if oauthServer.handles(request) { return problems }
        switch (request.method, request.path) {
        case ("POST", "/api/v4/tasks"):
            problems += Self.checkArray(json) { task in
                var found: [String] = []
                if (task["text"]?.string ?? "").isEmpty { found.append("text is required") }
                if task["complete_till"]?.isNumber == true {} else { found.append("complete_till (unix seconds, a number) is required") }
                if let type = task["entity_type"]?.string, !["leads", "contacts", "companies", "customers"].contains(type) {
                    found.append("entity_type \(type) is not allowed")
                }
                if task["entity_id"] != nil, task["entity_type"] == nil { found.append("entity_id without entity_type") }
                if let typeID = task["task_type_id"], typeID.int64 == nil { found.append("task_type_id must be an integer") }
                return found
            }
        case ("POST", "/api/v2/salesbot/run"):
            problems += Self.checkArray(json) { run in
                var found: [String] = []
                if run["bot_id"]?.int64 == nil { found.append("bot_id is required") }
                if run["entity_id"]?.int64 == nil { found.append("entity_id is required") }
                if run["entity_type"]?.int64 != 2 { found.append("entity_type must be 2 (lead)") }
                return found
            }
        default:
            if request.method == "PATCH", segments.count == 4, segments[2] == "tasks" {
                if json?["is_completed"]?.bool != true { problems.append("is_completed must be true") }
                if let result = json?["result"], result["text"]?.string == nil { problems.append("result.text must be a string") }
            } else if request.method == "POST", segments.count == 5, segments[2] == "leads", segments[4] == "notes" {
                problems += Self.checkArray(json) { note in
                    var found: [String] = []
                    switch note["note_type"]?.string {
                    case "common":
                        if note["params"]?["text"]?.string == nil { found.append("params.text is required") }
                    case "service_message":
                        if note["params"]?["text"]?.string == nil { found.append("params.text is required") }
                        if note["params"]?["service"]?.string == nil { found.append("params.service is required") }
                    default:
                        found.append("note_type must be common or service_message")
                    }
                    return found
                }
            } else if request.method == "PATCH", segments.count == 4, segments[2] == "leads" {
                problems += Self.checkLeadPatch(json)
            } else if request.method == "PATCH", segments.count == 4, segments[2] == "contacts" {
                problems += Self.checkContactPatch(json)
            } else if request.method == "GET", segments.count == 4, segments[2] == "leads" {
                if request.query != "with=contacts" { problems.append("expected ?with=contacts") }
            } else if request.method == "GET", segments.count == 4, segments[2] == "contacts" {
                if request.query != "with=leads" { problems.append("expected ?with=leads") }
            } else if request.method == "GET", request.path == "/api/v4/account" {
                if hasBody { problems.append("a GET has no body") }
            } else if !oauthServer.handles(request) {
                problems.append("unknown route")
            }
        }
        return problems
    }

    private static func checkArray(_ json: JSONValue?, _ check: (JSONValue) -> [String]) -> [String] {
        guard case .array(let items)? = json, !items.isEmpty else { return ["body must be a non-empty array"] }
        if items.count > 250 { return ["at most 250 entities per request"] }
        return items.flatMap(check)
    }

    private static let leadPatchKeys: Set<String> = [
        "status_id", "pipeline_id", "price", "name", "responsible_user_id", "custom_fields_values",
        "tags_to_add", "tags_to_delete", "updated_by",
    ]

    private static let contactPatchKeys: Set<String> = [
        "name", "first_name", "last_name", "responsible_user_id", "custom_fields_values", "updated_by",
    ]

    private static func checkContactPatch(_ json: JSONValue?) -> [String] {
        guard case .object(let members)? = json else { return ["body must be an object"] }
        var found: [String] = []
        for key in members.keys where !contactPatchKeys.contains(key) { found.append("unknown member \(key)") }
        if members["updated_by"]?.int64 != 0 { found.append("updated_by: 0 is expected on our contact writes") }
        if members.count <= 1 { found.append("nothing to change") }
        for key in ["name", "first_name", "last_name"] where members[key] != nil && members[key]?.string == nil {
            found.append("\(key) must be a string")
        }
        if case .int? = members["responsible_user_id"] {} else if members["responsible_user_id"] != nil {
            found.append("responsible_user_id must be an integer")
        }
        return found + checkCustomFields(members["custom_fields_values"])
    }

    static func checkLeadPatchMembers(_ json: JSONValue?) -> [String] { checkLeadPatch(json) }

    private static func checkLeadPatch(_ json: JSONValue?) -> [String] {
        guard case .object(let members)? = json else { return ["body must be an object"] }
        var found: [String] = []
        for key in members.keys where !leadPatchKeys.contains(key) { found.append("unknown member \(key)") }
        if members["updated_by"]?.int64 != 0 { found.append("updated_by: 0 is expected on our lead writes") }
        if members.count <= 1 { found.append("nothing to change") }
        for key in ["status_id", "pipeline_id", "price", "responsible_user_id"] {
            guard let value = members[key] else { continue }
            if case .int = value {} else { found.append("\(key) must be an integer") }
        }
        if let name = members["name"], name.string == nil { found.append("name must be a string") }
        found += checkCustomFields(members["custom_fields_values"])
        for key in ["tags_to_add", "tags_to_delete"] {
            guard let tags = members[key] else { continue }
            if (tags.array ?? []).isEmpty { found.append("\(key) must be a non-empty array") }
            for tag in tags.array ?? [] where tag["name"]?.string == nil && tag["id"]?.int64 == nil {
                found.append("\(key)[] needs name or id")
            }
        }
        return found
    }

    private static func checkCustomFields(_ fields: JSONValue?) -> [String] {
        var found: [String] = []
        if let fields {
            if (fields.array ?? []).isEmpty { found.append("custom_fields_values must be a non-empty array") }
            for field in fields.array ?? [] {
                if field["field_id"]?.int64 == nil { found.append("custom_fields_values[].field_id is required") }
                guard case .array(let values)? = field["values"] else {
                    found.append("custom_fields_values[].values must be an array")
                    continue
                }
                for value in values where value["value"] == nil && value["enum_id"] == nil {
                    found.append("values[] needs value or enum_id")
                }
            }
        }
        return found
    }

    // MARK: - OAuth

    /// `POST /oauth2/access_token` with the refresh-token grant: checks the client, answers new tokens,
    /// and retires the old ones (as Kommo does, a refresh token works once).
    private func refresh(_ request: ReceivedRequest) -> Response {
        let json = request.json
        return state.withLock { state in
            var problems: [String] = []
            if request.method != "POST" { problems.append("method must be POST") }
            if !(request.headers["content-type"] ?? "").hasPrefix("application/json") { problems.append("content-type must be application/json") }
            if json?["grant_type"]?.string != "refresh_token" { problems.append("grant_type must be refresh_token") }
            guard let oauth = state.oauth else { return Reply.json(400, #"{"title":"Bad Request","status":400,"detail":"no OAuth client"}"#) }
            if json?["client_id"]?.string != oauth.clientID { problems.append("client_id is wrong") }
            if json?["client_secret"]?.string != oauth.clientSecret { problems.append("client_secret is wrong") }
            if json?["redirect_uri"]?.string != oauth.redirectURI { problems.append("redirect_uri is wrong") }
            if !problems.isEmpty {
                state.violations.append(contentsOf: problems.map { "oauth: \($0)" })
                return Reply.json(400, #"{"title":"Bad Request","status":400,"detail":"invalid client"}"#, contentType: "application/problem+json")
            }
            guard json?["refresh_token"]?.string == oauth.refreshToken else {
                return Reply.json(401, #"{"title":"Unauthorized","status":401,"detail":"Refresh token has been revoked"}"#,
                                  contentType: "application/problem+json")
            }
            state.refreshes += 1
            state.accessToken = "access-\(state.refreshes)-\(UUID().uuidString)"
            state.oauth?.refreshToken = "refresh-\(state.refreshes)-\(UUID().uuidString)"
            return Reply.json(200, .object([
                "token_type": "Bearer", "expires_in": .int(86_400),
                "access_token": .string(state.accessToken), "refresh_token": .string(state.oauth!.refreshToken),
            ]))
        }
    }

    /// `POST /oauth2/access_token` with the authorization-code grant: a good code (once) gets an access
    /// token this account accepts from now on and a refresh token that renews it.
    private func exchangeCode(_ request: ReceivedRequest) -> Response {
        guard let client = oauthServer.redeem(request.json) else {
            return Reply.json(400, #"{"title":"Bad Request","status":400,"detail":"Authorization code has been revoked"}"#,
                              contentType: "application/problem+json")
        }
        return state.withLock { state in
            state.accessToken = "access-0-\(UUID().uuidString)"
            state.oauth = OAuthClient(clientID: client.id, clientSecret: client.secret, redirectURI: client.redirectURI,
                                      refreshToken: "refresh-0-\(UUID().uuidString)")
            return Reply.json(200, .object([
                "token_type": "Bearer", "expires_in": .int(86_400),
                "access_token": .string(state.accessToken), "refresh_token": .string(state.oauth!.refreshToken),
            ]))
        }
    }

    // MARK: - Chats API (amojo)

    /// Verifies a Chats API request as Kommo does: Content-MD5 of the body, X-Signature over
    /// `METHOD\nContent-MD5\nContent-Type\nDate\n/path` with the channel secret, and the message shape.
    private func chatsAPI(_ request: ReceivedRequest) -> Response {
        var problems: [String] = []
        let md5 = Insecure.MD5.hash(data: request.body).map { String(format: "%02x", $0) }.joined()
        let contentType = request.headers["content-type"] ?? ""
        let date = request.headers["date"] ?? ""
        if request.method != "POST" { problems.append("method must be POST") }
        if contentType != "application/json" { problems.append("content-type must be application/json") }
        if request.headers["content-md5"] != md5 { problems.append("content-md5 does not match the body") }
        if Self.parseRFC2822(date) == nil { problems.append("date is not an RFC 2822 date: \(date)") }
        let signed = [request.method, md5, contentType, date, request.path].joined(separator: "\n")
        let expected = HMAC<Insecure.SHA1>.authenticationCode(
            for: Data(signed.utf8), using: SymmetricKey(data: Data(channelSecret.utf8)))
            .map { String(format: "%02x", $0) }.joined()
        if request.headers["x-signature"] != expected { problems.append("x-signature does not verify") }
        let json = request.json
        if json?["event_type"]?.string != "new_message" { problems.append("event_type must be new_message") }
        let payload = json?["payload"]
        for key in ["timestamp", "msec_timestamp"] where payload?[key]?.int64 == nil { problems.append("payload.\(key) is required") }
        for key in ["msgid", "conversation_id"] where (payload?[key]?.string ?? "").isEmpty { problems.append("payload.\(key) is required") }
        if payload?["sender"]?["id"]?.string == nil { problems.append("payload.sender.id is required") }
        if payload?["receiver"]?["id"]?.string == nil { problems.append("payload.receiver.id is required") }
        if payload?["message"]?["type"]?.string != "text" { problems.append("payload.message.type must be text") }
        if (payload?["message"]?["text"]?.string ?? "").isEmpty { problems.append("payload.message.text is required") }
        if payload?["silent"]?.bool != false { problems.append("payload.silent must be false") }
        if !problems.isEmpty {
            state.withLock { $0.violations.append(contentsOf: problems.map { "chats api: \($0)" }) }
            return Reply.json(403, #"{"error":"signature or body invalid"}"#)
        }
        return Reply.json(200, .object(["new_message": .object(["msgid": payload?["msgid"] ?? .null])]))
    }

    /// Parses `Mon, 02 Jan 2006 15:04:05 +0000`.
    package static func parseRFC2822(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return formatter.date(from: text)
    }
}
