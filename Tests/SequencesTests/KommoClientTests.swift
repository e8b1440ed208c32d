import TestSupport
import AsyncHTTPClient
import Foundation
import Sequences
import Testing

/// Runs `body` with a Kommo emulator and a client pointed at it.
private func withKommo<T: Sendable>(
    configuration: KommoClient.Configuration = KommoClient.Configuration(retry: fastRetry, requestTimeout: .seconds(5)),
    rateLimit: KommoRateLimiter.Configuration = .init(),
    _ body: (KommoEmulator, KommoClient, KommoConnection) async throws -> T
) async throws -> T {
    let emulator = KommoEmulator()
    return try await withTestServer(emulator.handle) { port in
        try await withHTTPClient { http in
            let client = KommoClient(egress: http, rateLimiter: KommoRateLimiter(configuration: rateLimit),
                                     configuration: configuration)
            let account = try #require(KommoConnection(baseURL: "http://127.0.0.1:\(port)/", accessToken: emulator.token))
            return try await body(emulator, client, account)
        }
    }
}

@Suite("KommoClient against a Kommo emulator")
struct KommoClientTests {
    // MARK: - Operations

    @Test("createTask posts a task array with request_id and returns the created id")
    func createTask() async throws {
        try await withKommo { emulator, client, account in
            let task = KommoTaskDraft(text: "Call back about the quote", completeTill: 1_760_000_000, leadID: 4242,
                                      taskTypeID: 1, responsibleUserID: 77)
            let result = await client.createTask(task, idempotencyKey: "evt-1/rule-2/0", account: account, logger: quietLogger)
            #expect(result.outcome == .succeeded)
            #expect(result.httpStatus == 200)
            #expect(result.attempts == 1)
            #expect(result.target == "POST /api/v4/tasks")
            let id = try #require(result.createdID)
            #expect(id > 9_000_000)
            #expect(emulator.violations.isEmpty)
            let request = try #require(emulator.received.first)
            let body = try #require(request.json?[0])
            #expect(body["text"]?.string == "Call back about the quote")
            #expect(body["complete_till"] == .int(1_760_000_000))
            #expect(body["entity_id"] == .int(4242))
            #expect(body["entity_type"]?.string == "leads")
            #expect(body["task_type_id"] == .int(1))
            #expect(body["responsible_user_id"] == .int(77))
            #expect(body["request_id"]?.string == "evt-1/rule-2/0")
            // The token is sent, but never recorded.
            #expect(request.headers["authorization"] == "Bearer \(emulator.token)")
            #expect(!"\(result)".contains(emulator.token))
        }
    }

    @Test("completeTask patches is_completed with the result text")
    func completeTask() async throws {
        try await withKommo { emulator, client, account in
            let result = await client.completeTask(id: 555, resultText: "Talked, will buy", account: account, logger: quietLogger)
            #expect(result.outcome == .succeeded)
            #expect(result.target == "PATCH /api/v4/tasks/555")
            #expect(emulator.violations.isEmpty)
            let body = try #require(emulator.received.first?.json)
            #expect(body["is_completed"] == .bool(true))
            #expect(body["result"]?["text"]?.string == "Talked, will buy")
        }
    }

    @Test("addNote posts common and service_message notes")
    func addNote() async throws {
        try await withKommo { emulator, client, account in
            let common = await client.addNote(leadID: 31, text: "Lead asked for a discount", account: account, logger: quietLogger)
            let service = await client.addNote(leadID: 31, text: "Agent replied", kind: .serviceMessage(service: "Sales Agent"),
                                               account: account, logger: quietLogger)
            #expect(common.outcome == .succeeded)
            #expect(service.outcome == .succeeded)
            #expect(common.createdIDs.count == 1)
            #expect(emulator.violations.isEmpty)
            let requests = emulator.received
            #expect(requests.map(\.path) == ["/api/v4/leads/notes", "/api/v4/leads/notes"])
            #expect(requests[0].json?[0]?["entity_id"] == .int(31))
            #expect(requests[0].json?[0]?["note_type"]?.string == "common")
            #expect(requests[0].json?[0]?["params"]?["text"]?.string == "Lead asked for a discount")
            #expect(requests[1].json?[0]?["note_type"]?.string == "service_message")
            #expect(requests[1].json?[0]?["params"]?["service"]?.string == "Sales Agent")
        }
    }

    @Test("lead changes patch the lead with updated_by 0")
    func leadPatches() async throws {
        try await withKommo { emulator, client, account in
            let stage = await client.changeStage(leadID: 8, statusID: 142, pipelineID: 7001, account: account, logger: quietLogger)
            let fields = await client.setCustomFields(
                leadID: 8, [KommoFieldUpdate(fieldID: 512, text: "tomorrow"), KommoFieldUpdate(fieldID: 513, values: [.enumID(9)])],
                account: account, logger: quietLogger)
            let added = await client.addTags(leadID: 8, ["hot", "ai"], account: account, logger: quietLogger)
            let removed = await client.removeTags(leadID: 8, ["cold"], account: account, logger: quietLogger)
            for result in [stage, fields, added, removed] {
                #expect(result.outcome == .succeeded, "\(result.operation): \(result.detail ?? "")")
                #expect(result.target == "PATCH /api/v4/leads")
            }
            #expect(emulator.violations.isEmpty)
            let bodies = emulator.leadChanges(8)
            #expect(bodies.count == 4)
            #expect(bodies.allSatisfy { $0["updated_by"] == .int(0) })
            #expect(bodies[0]["status_id"] == .int(142))
            #expect(bodies[0]["pipeline_id"] == .int(7001))
            #expect(bodies[1]["custom_fields_values"]?[0]?["field_id"] == .int(512))
            #expect(bodies[1]["custom_fields_values"]?[0]?["values"]?[0]?["value"]?.string == "tomorrow")
            #expect(bodies[1]["custom_fields_values"]?[1]?["values"]?[0]?["enum_id"] == .int(9))
            #expect(bodies[2]["tags_to_add"]?.array?.compactMap { $0["name"]?.string } == ["hot", "ai"])
            #expect(bodies[3]["tags_to_delete"]?.array?.compactMap { $0["name"]?.string } == ["cold"])
        }
    }

    @Test("runSalesbot posts to the v2 path and accepts 202")
    func runSalesbot() async throws {
        try await withKommo { emulator, client, account in
            let result = await client.runSalesbot(botID: 12, leadID: 34, account: account, logger: quietLogger)
            #expect(result.outcome == .succeeded)
            #expect(result.httpStatus == 202)
            #expect(emulator.violations.isEmpty)
            let body = try #require(emulator.received.first?.json?[0])
            #expect(body == .object(["bot_id": .int(12), "entity_id": .int(34), "entity_type": .int(2)]))
        }
    }

    @Test("getLead and getContact read entities; an unknown id answers 204 and yields none")
    func reads() async throws {
        try await withKommo { emulator, client, account in
            emulator.addLead(.object([
                "id": 77, "name": "Big deal", "price": 2500, "status_id": 501, "pipeline_id": 7001, "responsible_user_id": 3,
                "custom_fields_values": .array([.object([
                    "field_id": 512, "field_name": "Callback date", "values": .array([.object(["value": "Friday"])]),
                ])]),
                "_embedded": .object([
                    "tags": .array([.object(["id": 1, "name": "hot"])]),
                    "contacts": .array([.object(["id": 5, "is_main": false]), .object(["id": 6, "is_main": true])]),
                ]),
            ]))
            emulator.addContact(.object([
                "id": 6, "name": "Maria Silva", "first_name": "Maria",
                "custom_fields_values": .array([.object([
                    "field_id": 1, "field_code": "PHONE", "values": .array([.object(["value": "+5511999999999"])]),
                ])]),
                "_embedded": .object(["leads": .array([.object(["id": 77])])]),
            ]))
            let lead = await client.getLead(id: 77, account: account, logger: quietLogger)
            #expect(lead.result.outcome == .succeeded)
            #expect(lead.result.target == "GET /api/v4/leads/77?with=contacts")
            let entity = try #require(lead.entity)
            #expect(entity.name == "Big deal")
            #expect(entity.statusID == 501)
            #expect(entity.tags == ["hot"])
            #expect(entity.mainContactID == 6)
            #expect(entity.customFields.first?.values == ["Friday"])

            let contact = await client.getContact(id: 6, account: account, logger: quietLogger)
            let person = try #require(contact.entity)
            #expect(person.phone == "+5511999999999")
            #expect(person.leadIDs == [77])
            let values = entity.templateValues(contact: person)
            #expect(values.resolve("lead.cf.Callback date") == "Friday")
            #expect(values.resolve("contact.first_name") == "Maria")

            let missing = await client.getLead(id: 404, account: account, logger: quietLogger)
            #expect(missing.result.outcome == .succeeded)
            #expect(missing.result.httpStatus == 204)
            #expect(missing.entity == nil)
            #expect(emulator.violations.isEmpty)
        }
    }

    @Test("without credentials nothing is sent and the action is skipped")
    func noCredentials() async throws {
        try await withKommo { emulator, client, _ in
            let result = await client.addTags(leadID: 1, ["x"], account: nil, logger: quietLogger)
            #expect(result.outcome == .skipped)
            #expect(result.detail == SkipReason.noKommoCredentials)
            #expect(result.attempts == 0)
            #expect(emulator.received.isEmpty)
        }
    }

    // MARK: - Errors and retries

    @Test("429 with retry_after is waited out and retried")
    func tooManyRequests() async throws {
        try await withKommo { emulator, client, account in
            emulator.enqueue(.tooManyRequests(retryAfter: 1))
            let result = await client.changeStage(leadID: 8, statusID: 143, account: account, logger: quietLogger)
            #expect(result.outcome == .succeeded)
            #expect(result.attempts == 2)
            let arrivals = emulator.received.map(\.at)
            #expect(arrivals.count == 2)
            #expect(arrivals[1] - arrivals[0] >= .milliseconds(950), "the retry must wait retry_after")
        }
    }

    @Test("429 with only a Retry-After header is honoured, capped by maxRetryAfter")
    func tooManyRequestsHeaderCapped() async throws {
        let retry = RetryPolicy(maxAttempts: 3, initialBackoff: .milliseconds(10), maxBackoff: .milliseconds(20),
                                jitter: 0, maxRetryAfter: .milliseconds(300))
        try await withKommo(configuration: .init(retry: retry, requestTimeout: .seconds(5))) { emulator, client, account in
            emulator.enqueue(.tooManyRequestsHeader(retryAfter: 60))
            let result = await client.addTags(leadID: 8, ["a"], account: account, logger: quietLogger)
            #expect(result.outcome == .succeeded)
            #expect(result.attempts == 2)
            let arrivals = emulator.received.map(\.at)
            #expect(arrivals[1] - arrivals[0] >= .milliseconds(290))
            #expect(arrivals[1] - arrivals[0] < .seconds(5), "a 60 s ask must be cut to the cap")
        }
    }

    @Test("429 on every attempt ends failed_retryable with the requested wait")
    func tooManyRequestsExhausted() async throws {
        let retry = RetryPolicy(maxAttempts: 2, initialBackoff: .milliseconds(10), maxRetryAfter: .milliseconds(100))
        try await withKommo(configuration: .init(retry: retry)) { emulator, client, account in
            emulator.enqueue(.tooManyRequests(retryAfter: 300), times: 2)
            let result = await client.addNote(leadID: 1, text: "n", account: account, logger: quietLogger)
            #expect(result.outcome == .failedRetryable)
            #expect(result.attempts == 2)
            #expect(result.httpStatus == 429)
            #expect(result.retryAfter == .seconds(300))
            #expect(result.problem?.title == "Too Many Requests")
        }
    }

    @Test("5xx is retried with backoff until it succeeds")
    func serverErrors() async throws {
        try await withKommo { emulator, client, account in
            emulator.enqueue(.status(503))
            emulator.enqueue(.status(500))
            let result = await client.createTask(KommoTaskDraft(text: "t", completeTill: 1, leadID: 2),
                                                 idempotencyKey: "k", account: account, logger: quietLogger)
            #expect(result.outcome == .succeeded)
            #expect(result.attempts == 3)
            #expect(result.createdID != nil)
            #expect(emulator.received.count == 3)
            #expect(Set(emulator.received.compactMap { $0.json?[0]?["request_id"]?.string }) == ["k"])
        }
    }

    @Test("5xx on every attempt ends failed_retryable after the configured attempts")
    func serverErrorsExhausted() async throws {
        try await withKommo { emulator, client, account in
            emulator.enqueue(.status(502), times: 10)
            let result = await client.completeTask(id: 2, resultText: nil, account: account, logger: quietLogger)
            #expect(result.outcome == .failedRetryable)
            #expect(result.attempts == fastRetry.maxAttempts)
            #expect(emulator.received.count == fastRetry.maxAttempts)
            #expect(result.httpStatus == 502)
        }
    }

    @Test("a timeout is retried")
    func timeoutRetried() async throws {
        // Generous enough that the healthy second attempt never times out on a loaded machine.
        let configuration = KommoClient.Configuration(retry: fastRetry, requestTimeout: .seconds(3))
        try await withKommo(configuration: configuration) { emulator, client, account in
            emulator.enqueue(.stall(.seconds(12)))
            let result = await client.addTags(leadID: 3, ["t"], account: account, logger: quietLogger)
            #expect(result.outcome == .succeeded)
            #expect(result.attempts == 2)
        }
    }

    @Test("a 400 is permanent and records Kommo's problem details and validation errors")
    func validationError() async throws {
        try await withKommo { emulator, client, account in
            emulator.enqueue(.problem(status: 400, title: "Bad Request", detail: "Request validation failed",
                                      validationErrors: [(path: "complete_till", code: "NotSupportedChoice", detail: "The value is in the past")]))
            let result = await client.createTask(KommoTaskDraft(text: "t", completeTill: 1, leadID: 2),
                                                 idempotencyKey: "k", account: account, logger: quietLogger)
            #expect(result.outcome == .failedPermanent)
            #expect(result.attempts == 1)
            #expect(result.httpStatus == 400)
            let problem = try #require(result.problem)
            #expect(problem.title == "Bad Request")
            #expect(problem.detail == "Request validation failed")
            #expect(problem.validationErrors == ["complete_till: The value is in the past (NotSupportedChoice)"])
            #expect(result.detail?.contains("complete_till") == true)
            #expect(result.createdIDs.isEmpty)
        }
    }

    @Test("401 is a permanent bad token; 402 (unpaid) pauses the account and defers the call")
    func authAndPayment() async throws {
        try await withKommo { emulator, client, account in
            let wrong = try #require(KommoConnection(baseURL: account.baseURL, accessToken: "not-the-token"))
            let unauthorized = await client.addTags(leadID: 1, ["a"], account: wrong, logger: quietLogger)
            #expect(unauthorized.outcome == .failedPermanent)
            #expect(unauthorized.httpStatus == 401)
            #expect(unauthorized.attempts == 1)
            #expect(unauthorized.detail?.hasPrefix("bad token") == true)

            emulator.enqueue(.problem(status: 402, title: "Payment Required", detail: "Account is not paid"))
            let unpaid = await client.addTags(leadID: 1, ["a"], account: account, logger: quietLogger)
            #expect(unpaid.outcome == .deferred)
            #expect(unpaid.httpStatus == 402)
            #expect(unpaid.detail?.contains("account unpaid") == true)
            #expect(unpaid.problem?.detail == "Account is not paid")
            // Paused: the next call is not sent at all.
            let before = emulator.received.count
            let next = await client.addTags(leadID: 2, ["b"], account: account, logger: quietLogger)
            #expect(next.outcome == .deferred)
            #expect(emulator.received.count == before)
        }
    }

    @Test("a non-JSON or huge answer is bounded and recorded, not crashed on")
    func unreadableAnswers() async throws {
        let configuration = KommoClient.Configuration(retry: fastRetry, maxResponseBytes: 64 * 1024)
        try await withKommo(configuration: configuration) { emulator, client, account in
            emulator.addLead(.object(["id": 1, "name": "x"]))
            emulator.enqueue(.nonJSON)
            let html = await client.getLead(id: 1, account: account, logger: quietLogger)
            #expect(html.result.outcome == .failedPermanent)
            #expect(html.entity == nil)
            #expect(html.result.detail?.contains("not JSON") == true)

            emulator.enqueue(.huge(bytes: 8 << 20))
            let huge = await client.getLead(id: 1, account: account, logger: quietLogger)
            #expect(huge.result.outcome == .failedPermanent)
            #expect(huge.result.detail?.contains("larger than 65536 bytes") == true)

            // A write that Kommo applied stays a success even when its answer is unreadable: retrying
            // it would create a second task.
            emulator.enqueue(.huge(bytes: 8 << 20))
            let task = await client.createTask(KommoTaskDraft(text: "t", completeTill: 1), idempotencyKey: "k",
                                               account: account, logger: quietLogger)
            #expect(task.outcome == .succeeded)
            #expect(task.createdIDs.isEmpty)
            #expect(task.detail?.contains("larger than") == true)

            let after = await client.getLead(id: 1, account: account, logger: quietLogger)
            #expect(after.entity?.name == "x", "the client keeps working after an oversized answer")
        }
    }

    @Test("an unreachable account ends failed_retryable after retries")
    func unreachable() async throws {
        try await withHTTPClient { http in
            let client = KommoClient(egress: http, rateLimiter: KommoRateLimiter(),
                                     configuration: .init(retry: RetryPolicy(maxAttempts: 2, initialBackoff: .milliseconds(5)),
                                                          requestTimeout: .milliseconds(300)))
            // Port 1 on loopback: nothing listens there, the connection is refused at once.
            let account = try #require(KommoConnection(baseURL: "http://127.0.0.1:1", accessToken: "t"))
            let result = await client.addNote(leadID: 1, text: "x", account: account, logger: quietLogger)
            #expect(result.outcome == .failedRetryable)
            #expect(result.attempts == 2)
            #expect(result.httpStatus == nil)
            #expect(result.detail != nil)
        }
    }
}
