import Basics
import Foundation
import Hummingbird
import Sequences
import Synchronization

/// The account-wide behaviour of the emulated Kommo account besides single answers: its rate limit with
/// the block that follows repeated 429s, an unpaid account, 504s for large batches, per-item validation of
/// batch requests, and a log for checking the request rate.
package final class KommoAccountBehaviour: Sendable {
    private struct State {
        /// Requests per second above which the account answers 429 (`nil`: no limit enforced).
        var rateLimit: Int?
        /// After this many 429s the account answers 403 to everything until lifted (`nil`: never).
        var blockAfter429s: Int?
        var tooManyRequests = 0
        var blocked = false
        var unpaid = false
        /// Batches with more items than this answer 504 (`nil`: none).
        var gatewayTimeoutAbove: Int?
        /// Users the account knows; a task for anyone else is refused (`nil`: everyone).
        var users: Set<Int64>?
        var admitted: [ContinuousClock.Instant] = []
    }

    private let state = Mutex(State())

    package init() {}

    /// Enforces Kommo's rate: more than `perSecond` requests in a second answer 429.
    package func enforceRate(_ perSecond: Int?) { state.withLock { $0.rateLimit = perSecond } }
    /// After `count` 429s in all, every request answers 403 until ``liftBlock()``.
    package func blockAfter(tooManyRequests count: Int?) { state.withLock { $0.blockAfter429s = count } }
    /// Blocks the account now (as after repeated 429s).
    package func block() { state.withLock { $0.blocked = true } }
    /// Lifts the block, as Kommo's support does.
    package func liftBlock() {
        state.withLock { state in
            state.blocked = false
            state.tooManyRequests = 0
        }
    }
    /// Makes the account unpaid (402 on every request) or paid again.
    package func setUnpaid(_ unpaid: Bool) { state.withLock { $0.unpaid = unpaid } }
    /// Batches of more than `count` items answer 504 (`nil`: none).
    package func gatewayTimeout(above count: Int?) { state.withLock { $0.gatewayTimeoutAbove = count } }
    /// The account's users: a task assigned to anyone else is refused per item.
    package func knownUsers(_ users: Set<Int64>?) { state.withLock { $0.users = users } }

    package var isBlocked: Bool { state.withLock { $0.blocked } }
    /// 429s answered.
    package var tooManyRequestsAnswered: Int { state.withLock { $0.tooManyRequests } }

    /// The answer that replaces the normal one, when the account as a whole refuses the request.
    func gate(_ request: ReceivedRequest) -> Response? {
        state.withLock { state in
            if state.unpaid {
                return Reply.json(402, #"{"title":"Payment Required","status":402,"detail":"Account is not paid"}"#,
                                  contentType: "application/problem+json")
            }
            if state.blocked {
                return Reply.json(403, #"{"title":"Forbidden","status":403,"detail":"Access denied"}"#, contentType: "application/problem+json")
            }
            if let limit = state.rateLimit {
                let now = ContinuousClock.now
                state.admitted.removeAll { now - $0 >= .seconds(1) }
                if state.admitted.count >= limit {
                    state.tooManyRequests += 1
                    if let after = state.blockAfter429s, state.tooManyRequests >= after { state.blocked = true }
                    return Reply.json(429, #"{"title":"Too Many Requests","status":429,"detail":"Rate limit exceeded","retry_after":1}"#,
                                      contentType: "application/problem+json")
                }
                state.admitted.append(now)
            }
            return nil
        }
    }

    /// Counts a 429 the test script made the emulator answer, towards the block.
    func countTooManyRequests() {
        state.withLock { state in
            state.tooManyRequests += 1
            if let after = state.blockAfter429s, state.tooManyRequests >= after { state.blocked = true }
        }
    }

    func gatewayTimeoutLimit() -> Int? { state.withLock { $0.gatewayTimeoutAbove } }
    func users() -> Set<Int64>? { state.withLock { $0.users } }
}

extension KommoEmulator {
    /// Largest number of batch items Kommo takes in one request as this emulator enforces it (Kommo's
    /// documentation recommends 50; more is answered 400).
    package static let maxBatchItems = 50

    /// The routes of batch requests.
    static func isBatchRoute(_ request: ReceivedRequest) -> Bool {
        switch (request.method, request.path) {
        case ("POST", "/api/v4/tasks"), ("PATCH", "/api/v4/leads"), ("POST", "/api/v4/leads/notes"): true
        case ("GET", "/api/v4/leads"): true
        default: false
        }
    }

    /// The lead ids of `GET /api/v4/leads?filter[id][]=…` (brackets raw or percent-encoded).
    package static func filteredLeadIDs(_ request: ReceivedRequest) -> [Int64] {
        let query = (request.query ?? "").removingPercentEncoding ?? ""
        return query.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0] == "filter[id][]" || parts[0] == "filter[id]" else { return nil }
            return Int64(parts[1])
        }
    }

    /// Shape checks of batch requests (a failure is our bug, recorded as a violation).
    static func batchProblems(_ request: ReceivedRequest) -> [String] {
        if request.method == "GET" {
            let ids = filteredLeadIDs(request)
            var problems: [String] = []
            if ids.isEmpty { problems.append("expected filter[id][]=… with at least one id") }
            if ids.count > maxBatchItems { problems.append("at most \(maxBatchItems) ids per filter") }
            if !((request.query ?? "").removingPercentEncoding ?? "").contains("with=contacts") { problems.append("expected with=contacts") }
            return problems
        }
        guard case .array(let items)? = request.json, !items.isEmpty else { return ["body must be a non-empty array"] }
        if items.count > maxBatchItems { return ["at most \(maxBatchItems) entities per request, got \(items.count)"] }
        switch request.path {
        case "/api/v4/leads":
            return items.flatMap { item -> [String] in
                guard case .object(var members) = item else { return ["each element must be an object"] }
                guard members.removeValue(forKey: "id")?.int64 != nil else { return ["each element needs the lead id"] }
                return checkLeadPatchMembers(.object(members))
            }
        case "/api/v4/leads/notes":
            return items.flatMap { note -> [String] in
                var found: [String] = []
                if note["entity_id"]?.int64 == nil { found.append("entity_id is required") }
                switch note["note_type"]?.string {
                case "common": if note["params"]?["text"]?.string == nil { found.append("params.text is required") }
                case "service_message":
                    if note["params"]?["text"]?.string == nil { found.append("params.text is required") }
                    if note["params"]?["service"]?.string == nil { found.append("params.service is required") }
                default: found.append("note_type must be common or service_message")
                }
                return found
            }
        default:
            return []
        }
    }

    /// Kommo's per-item refusal of a batch: 400 naming each refused element by its `request_id` (or its
    /// index when it has none), with nothing applied; `nil` when every item is acceptable.
    func refusedItems(_ request: ReceivedRequest) -> Response? {
        guard request.method == "POST", request.path == "/api/v4/tasks", let users = behaviour.users(),
              let items = request.json?.array else { return nil }
        var errors: [JSONValue] = []
        for (index, task) in items.enumerated() {
            guard let user = task["responsible_user_id"]?.int64, !users.contains(user) else { continue }
            errors.append(.object([
                "request_id": task["request_id"] ?? .string(String(index)),
                "errors": .array([.object(["code": "NotFound", "path": "responsible_user_id",
                                           "detail": .string("User \(user) not found")])]),
            ]))
        }
        guard !errors.isEmpty else { return nil }
        return Reply.json(400, .object(["title": "Bad Request", "type": "https://httpstatus.es/400", "status": 400,
                                        "detail": "Request validation failed", "validation-errors": .array(errors)]),
                          contentType: "application/problem+json")
    }

    /// A 504 for a batch larger than the account takes now.
    func gatewayTimeout(_ request: ReceivedRequest) -> Response? {
        guard let limit = behaviour.gatewayTimeoutLimit() else { return nil }
        let count = request.method == "GET" ? Self.filteredLeadIDs(request).count : (request.json?.array?.count ?? 0)
        guard count > limit else { return nil }
        return Reply.json(504, "<html><body>504 Gateway Time-out</body></html>", contentType: "text/html")
    }

    /// The answers of the batch routes besides tasks.
    func batchAnswer(_ request: ReceivedRequest) -> Response? {
        switch (request.method, request.path) {
        case ("GET", "/api/v4/leads"):
            let leads = Self.filteredLeadIDs(request).compactMap { id in leadsStored()[id] }
            guard !leads.isEmpty else { return Reply.empty(204) }
            return Reply.json(200, .object(["_page": 1, "_links": .object([:]), "_embedded": .object(["leads": .array(leads)])]),
                              contentType: "application/hal+json")
        case ("PATCH", "/api/v4/leads"):
            let leads: [JSONValue] = (request.json?.array ?? []).map { item in
                var entry: [String: JSONValue] = ["id": item["id"] ?? .null, "updated_at": .int(1_700_000_000)]
                if let requestID = item["request_id"] { entry["request_id"] = requestID }
                return .object(entry)
            }
            return Reply.json(200, .object(["_links": .object([:]), "_embedded": .object(["leads": .array(leads)])]),
                              contentType: "application/hal+json")
        case ("POST", "/api/v4/leads/notes"):
            let notes: [JSONValue] = (request.json?.array ?? []).map { note in
                .object(["id": .int(nextEntityID()), "entity_id": note["entity_id"] ?? .null, "request_id": note["request_id"] ?? .null])
            }
            return Reply.json(200, .object(["_links": .object([:]), "_embedded": .object(["notes": .array(notes)])]),
                              contentType: "application/hal+json")
        default:
            return nil
        }
    }

    // MARK: - What tests read

    /// Requests to `path` (any query), in order of arrival.
    package func requests(_ method: String, _ path: String) -> [ReceivedRequest] {
        received.filter { $0.method == method && $0.path == path }
    }

    /// The `request_id`s of every task element received, repeats included.
    package var taskRequestIDs: [String] {
        requests("POST", "/api/v4/tasks").flatMap { ($0.json?.array ?? []).compactMap { $0["request_id"]?.string } }
    }

    /// Every change of `lead` received, whether as `PATCH /api/v4/leads/{id}` or as an element of
    /// `PATCH /api/v4/leads`.
    package func leadChanges(_ lead: Int64) -> [JSONValue] {
        received.filter { $0.method == "PATCH" }.flatMap { request -> [JSONValue] in
            if request.path == "/api/v4/leads/\(lead)" { return request.json.map { [$0] } ?? [] }
            guard request.path == "/api/v4/leads" else { return [] }
            return (request.json?.array ?? []).filter { $0["id"]?.int64 == lead }
        }
    }

    /// Every note element received for `lead`, from either note route.
    package func notes(on lead: Int64) -> [JSONValue] {
        received.filter { $0.method == "POST" }.flatMap { request -> [JSONValue] in
            if request.path == "/api/v4/leads/\(lead)/notes" { return request.json?.array ?? [] }
            guard request.path == "/api/v4/leads/notes" else { return [] }
            return (request.json?.array ?? []).filter { $0["entity_id"]?.int64 == lead }
        }
    }

    /// Lead reads received (single and filtered).
    package var leadReads: [ReceivedRequest] {
        received.filter { $0.method == "GET" && ($0.path == "/api/v4/leads" || ($0.path.hasPrefix("/api/v4/leads/") && !$0.path.hasSuffix("/pipelines"))) }
    }

    /// The most requests that arrived within any one second (a sliding window), over `requests`.
    package static func busiestSecond(_ requests: [ReceivedRequest]) -> Int {
        let times = requests.map(\.at).sorted()
        var best = 0
        var start = 0
        for end in times.indices {
            while times[end] - times[start] >= .seconds(1) { start += 1 }
            best = max(best, end - start + 1)
        }
        return best
    }

    /// One-second windows that held more than `limit` requests (Kommo's 7 by default): the start of each
    /// such window.
    package func rateViolations(limit: Int = 7) -> Int {
        let times = received.filter { $0.path.hasPrefix("/api/") }.map(\.at).sorted()
        var violations = 0
        var start = 0
        for end in times.indices {
            while times[end] - times[start] >= .seconds(1) { start += 1 }
            if end - start + 1 > limit { violations += 1 }
        }
        return violations
    }
}
