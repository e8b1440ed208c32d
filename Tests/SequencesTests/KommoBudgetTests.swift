import Basics
import Foundation
import Sequences
import TestSupport
import Testing
import Wire

/// How the Kommo budget is spent, against the emulator: batches of up to 50 with per-item results, lead
/// reads batched and cached, paused accounts, in-doubt Salesbot runs.
@Suite("Kommo budget") struct KommoBudgetTests {
    /// A window long enough that every concurrent caller of a test joins the first batch.
    static let gathering = KommoBudgetSettings(collectWindow: .milliseconds(300))

    private func withClient(_ settings: KommoBudgetSettings = gathering,
                            _ body: @Sendable (KommoEmulator, KommoClient, KommoConnection) async throws -> Void) async throws {
        let emulator = KommoEmulator()
        try await withTestServer(emulator.handle) { port in
            try await withHTTPClient { http in
                let client = KommoClient(egress: http, rateLimiter: KommoRateLimiter(configuration: .init(requestsPerWindow: 50)),
                                         configuration: .init(retry: fastRetry), budget: KommoBudget(settings: settings))
                let account = try #require(KommoConnection(baseURL: "http://127.0.0.1:\(port)", accessToken: emulator.token))
                try await body(emulator, client, account)
            }
        }
    }

    /// `count` tasks created at once, keyed `t-<index>`; `responsible` picks an index's user.
    private func createTasks(_ count: Int, client: KommoClient, account: KommoConnection,
                             responsible: @escaping @Sendable (Int) -> Int64? = { _ in nil }) async -> [String: ExecutionResult] {
        await withTaskGroup(of: (String, ExecutionResult).self) { group in
            for index in 0..<count {
                group.addTask {
                    let draft = KommoTaskDraft(text: "Call \(index)", completeTill: 1_900_000_000, leadID: Int64(1000 + index),
                                               responsibleUserID: responsible(index))
                    return ("t-\(index)", await client.createTask(draft, idempotencyKey: "t-\(index)", account: account, logger: quietLogger))
                }
            }
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
    }

    // MARK: - Batches

    @Test("51 tasks due together go out as two requests, 50 and 1, each task with its own id")
    func fiftyAndOne() async throws {
        try await withClient { emulator, client, account in
            let results = await createTasks(51, client: client, account: account)
            let allSucceeded = results.values.allSatisfy { $0.outcome == .succeeded }
            #expect(allSucceeded)
            #expect(Set(results.values.compactMap(\.createdID)).count == 51)
            let requests = emulator.requests("POST", "/api/v4/tasks")
            #expect(requests.map { $0.json?.array?.count ?? 0 }.sorted() == [1, 50])
            #expect(Set(emulator.taskRequestIDs) == Set((0..<51).map { "t-\($0)" }))
            #expect(emulator.tasksCreated == 51)
            let summary = results["t-0"]?.requestSummary ?? ""
            #expect(summary.contains("Call 0"))
            #expect(emulator.violations.isEmpty, "\(emulator.violations)")
        }
    }

    @Test("an item Kommo refuses fails alone; the rest of its batch is created")
    func perItemFailure() async throws {
        try await withClient { emulator, client, account in
            emulator.behaviour.knownUsers([7])
            let results = await createTasks(6, client: client, account: account) { $0 == 1 || $0 == 4 ? 99 : 7 }
            for key in ["t-1", "t-4"] {
                let result = try #require(results[key])
                #expect(result.outcome == .failedPermanent)
                #expect(result.httpStatus == 400)
                let detail = result.detail ?? ""
                #expect(detail.contains("User 99 not found"), "\(detail)")
            }
            for key in ["t-0", "t-2", "t-3", "t-5"] { #expect(results[key]?.succeeded == true) }
            #expect(emulator.tasksCreated == 4)
            let sizes = emulator.requests("POST", "/api/v4/tasks").map { $0.json?.array?.count ?? 0 }
            #expect(sizes == [6, 4])
        }
    }

    @Test("a 504 sends the batch again in halves; a 504 for a single item is retried later")
    func gatewayTimeoutHalves() async throws {
        try await withClient { emulator, client, account in
            emulator.behaviour.gatewayTimeout(above: 12)
            let results = await createTasks(40, client: client, account: account)
            let allSucceeded = results.values.allSatisfy { $0.outcome == .succeeded }
            #expect(allSucceeded)
            #expect(emulator.tasksCreated == 40)
            let sizes = emulator.requests("POST", "/api/v4/tasks").map { $0.json?.array?.count ?? 0 }
            #expect(Array(sizes.prefix(3)) == [40, 20, 10], "\(sizes)")
            #expect(Set(emulator.taskRequestIDs).count == 40)

            emulator.behaviour.gatewayTimeout(above: 0)
            let single = await client.createTask(KommoTaskDraft(text: "t", completeTill: 1_900_000_000, leadID: 5),
                                                 idempotencyKey: "single", account: account, logger: quietLogger)
            #expect(single.outcome == .failedRetryable)
            #expect(single.httpStatus == 504)
            #expect(emulator.taskRequestIDs.filter { $0 == "single" }.count == 1)
        }
    }

    // MARK: - Lead reads

    @Test("lead reads go out 50 ids at a time and are served from the cache until a webhook invalidates the lead")
    func leadReadsBatchedAndCached() async throws {
        try await withClient { emulator, client, account in
            for id in 1...60 { emulator.addLead(["id": .int(Int64(id)), "name": .string("Lead \(id)")]) }
            @Sendable func readAll() async -> [Int64: String] {
                await withTaskGroup(of: (Int64, String).self) { group in
                    for id in Int64(1)...60 {
                        group.addTask { (id, await client.readLead(id: id, tenantID: "acme", account: account, logger: quietLogger).entity?.name ?? "") }
                    }
                    return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
                }
            }
            let names = await readAll()
            #expect(names.count == 60 && names.allSatisfy { $0.value == "Lead \($0.key)" })
            let reads = emulator.leadReads
            #expect(reads.map { KommoEmulator.filteredLeadIDs($0).count }.sorted() == [10, 50])
            _ = await readAll()
            #expect(emulator.leadReads.count == 2, "the second round is served from the cache")

            emulator.addLead(["id": 7, "name": "Renamed"])
            #expect(await client.readLead(id: 7, tenantID: "acme", account: account, logger: quietLogger).entity?.name == "Lead 7")
            client.budget.leads.invalidate(tenantID: "acme", leadID: 7)
            #expect(await client.readLead(id: 7, tenantID: "acme", account: account, logger: quietLogger).entity?.name == "Renamed")
            #expect(emulator.leadReads.count == 3)
            let last = try #require(emulator.leadReads.last)
            #expect(KommoEmulator.filteredLeadIDs(last) == [7])
            // Another tenant has a cache of its own.
            _ = await client.readLead(id: 7, tenantID: "globex", account: account, logger: quietLogger)
            #expect(emulator.leadReads.count == 4)
            #expect(emulator.violations.isEmpty, "\(emulator.violations)")
        }
    }

    private func connect(_ tenant: TenantCalls, kommo: KommoEmulator, port: Int, rate: Int = 50) async throws {
        try await tenant.updateIntegrations("""
            {"kommo": {"base_url": "http://127.0.0.1:\(port)", "access_token": "\(kommo.token)", "rate_limit_per_second": \(rate)}}
            """)
    }

    private func event(_ id: String, lead: Int64, type: PB.EventType, entity: String = "lead", fields: [String: String] = [:]) -> PB.OnEventRequest {
        var event = PB.Event()
        event.id = id
        event.type = type
        event.entityType = entity
        event.entityId = String(lead)
        event.leadId = lead
        event.origin = .kommo
        event.fields = fields.map { PB.KeyValue(key: $0.key, value: $0.value) }
        var request = PB.OnEventRequest()
        request.event = event
        return request
    }

    private func taskTexts(_ kommo: KommoEmulator) -> [String] {
        kommo.requests("POST", "/api/v4/tasks").flatMap { ($0.json?.array ?? []).compactMap { $0["text"]?.string } }
    }

    @Test("a name the lead's webhook carried costs no read; a webhook about the lead makes the next template read it again")
    func webhooksKeepTheCacheFresh() async throws {
        let kommo = KommoEmulator()
        kommo.addLead(["id": 88, "name": "Alpha"])
        try await withTestServer(kommo.handle) { port in
            try await SequenceHarness.run { service in
                let acme = service.tenant("acme")
                try await connect(acme, kommo: kommo, port: port)
                _ = try await service.client.onEvent(event("ev-77", lead: 77, type: .leadCreated, fields: ["name": "Order 77"]), options: acme.options)
                try await acme.schedule([planned("known", #"{"type": "create_task", "text": "Call {{lead.name}}"}"#, lead: 77)])
                try await eventually("the first task") { taskTexts(kommo).count == 1 }
                #expect(taskTexts(kommo) == ["Call Order 77"])
                #expect(kommo.leadReads.isEmpty, "the webhook's name served the template")

                try await acme.schedule([planned("read-1", #"{"type": "create_task", "text": "Call {{lead.name}}"}"#, lead: 88)])
                try await eventually("the second task") { taskTexts(kommo).count == 2 }
                try await acme.schedule([planned("cached", #"{"type": "create_task", "text": "Again {{lead.name}}"}"#, lead: 88)])
                try await eventually("the third task") { taskTexts(kommo).count == 3 }
                #expect(kommo.leadReads.count == 1, "the second task on lead 88 used the cached read")

                kommo.addLead(["id": 88, "name": "Beta"])
                _ = try await service.client.onEvent(event("ev-note-88", lead: 88, type: .noteAdded, entity: "note"), options: acme.options)
                try await acme.schedule([planned("after-webhook", #"{"type": "create_task", "text": "Call {{lead.name}}"}"#, lead: 88)])
                try await eventually("the fourth task") { taskTexts(kommo).count == 4 }
                #expect(taskTexts(kommo) == ["Call Order 77", "Call Alpha", "Again Alpha", "Call Beta"])
                #expect(kommo.leadReads.count == 2)
                #expect(kommo.violations.isEmpty, "\(kommo.violations)")
            }
        }
    }

    // MARK: - Paused accounts

    static let quickProbe = KommoBudgetSettings(probeInitial: .milliseconds(300), probeMaximum: .milliseconds(600), probeJitter: 0.1)

    private func alerts(_ tenant: TenantCalls) async throws -> [JSONValue] {
        let document = try await tenant.integrations()
        return JSONValue(parsing: Array(document.json.utf8))?["alerts"]?.array ?? []
    }

    @Test("a 403 after 429s pauses the account: nothing is sent, actions wait, the alert shows; a probe resumes it when the block is lifted")
    func blockPausesTheAccount() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { port in
            try await SequenceHarness.run(budget: Self.quickProbe) { service in
                let acme = service.tenant("acme")
                try await connect(acme, kommo: kommo, port: port)
                kommo.behaviour.blockAfter(tooManyRequests: 2)
                kommo.enqueue(.tooManyRequests(retryAfter: 0), times: 2)
                try await acme.schedule([planned("blocked-1", #"{"type": "create_task", "text": "Call"}"#, lead: 1)])
                try await eventually("the pause") { try await alerts(acme).count == 1 }
                let alert = try #require(try await alerts(acme).first)
                #expect(alert["kind"]?.string == "kommo_account_paused")
                #expect(alert["http_status"]?.int64 == 403)
                #expect(alert["reason"]?.string?.contains("429") == true)
                #expect(alert["since"]?.string != nil)

                try await acme.schedule((2...4).map { planned("blocked-\($0)", #"{"type": "create_task", "text": "Call"}"#, lead: Int64($0)) })
                try await eventually("every action deferred") {
                    let deferred = try await acme.actionLog().filter { $0["outcome"]?.string == "deferred" }
                    return Set(deferred.compactMap { $0["idempotency_key"]?.string }).count == 4
                }
                // Two probes refused while blocked, and nothing but probes reached the account.
                try await eventually("two probes") { kommo.requests("GET", "/api/v4/account").count >= 2 }
                let taskRequests = kommo.requests("POST", "/api/v4/tasks").count
                #expect(taskRequests == 3, "two 429s and the 403, then nothing")
                let log = try await acme.actionLog()
                #expect(!log.contains { $0["outcome"]?.string == "failed" }, "\(log)")

                kommo.behaviour.liftBlock()
                try await eventually("the four tasks") { kommo.tasksCreated == 4 }
                try await eventually("the alert cleared") { try await alerts(acme).isEmpty }
                #expect(Set(kommo.taskRequestIDs.filter { $0.hasPrefix("blocked-") }) == Set((1...4).map { "blocked-\($0)" }))
                try await eventually("each succeeded once") {
                    try await acme.actionLog().filter { $0["outcome"]?.string == "succeeded" }.count == 4
                }
            }
        }
    }

    @Test("a 402 (unpaid) pauses the account until it is paid; the deferred action then runs once")
    func unpaidPausesTheAccount() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { port in
            try await SequenceHarness.run(budget: Self.quickProbe) { service in
                let acme = service.tenant("acme")
                try await connect(acme, kommo: kommo, port: port)
                kommo.behaviour.setUnpaid(true)
                try await acme.schedule([planned("unpaid", #"{"type": "add_note", "text": "Hello"}"#, lead: 3)])
                try await eventually("the pause") { try await alerts(acme).first?["http_status"]?.int64 == 402 }
                let reason = try await alerts(acme).first?["reason"]?.string ?? ""
                #expect(reason.contains("unpaid"))
                try await eventually("deferred") { try await acme.actionLog().contains { $0["outcome"]?.string == "deferred" } }
                kommo.behaviour.setUnpaid(false)
                // The request the unpaid account refused, then the one that created the note.
                try await eventually("the note") { kommo.notes(on: 3).count == 2 }
                try await eventually("succeeded") { try await acme.actionLog().contains { $0["outcome"]?.string == "succeeded" } }
                #expect(try await alerts(acme).isEmpty)
                try await Task.sleep(for: .milliseconds(200))
                #expect(kommo.notes(on: 3).count == 2)
                let succeeded = try await acme.actionLog().filter { $0["outcome"]?.string == "succeeded" }
                #expect(succeeded.count == 1)
            }
        }
    }

    // MARK: - In doubt

    private func command(_ service: SequenceHarness, _ tenant: String, action: Int64, _ kind: PB.ActionCommandKind) async throws -> PB.ActionCommandResponse {
        var command = PB.ActionCommand()
        command.actionId = action
        command.command = kind
        return try await service.client.commandAction(command, options: service.tenant(tenant).options)
    }

    @Test("a Salesbot run that answered 5xx is in doubt, not sent again by itself; an operator retries or dismisses it")
    func salesbotInDoubt() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { port in
            try await SequenceHarness.run { service in
                let acme = service.tenant("acme")
                try await connect(acme, kommo: kommo, port: port)
                kommo.enqueue(.status(502))
                try await acme.schedule([planned("bot-1", #"{"type": "kommo_action", "operation": "run_salesbot", "parameters": {"bot_id": "5"}}"#)])
                try await eventually("in doubt") { try await acme.actionLog().contains { $0["outcome"]?.string == "in_doubt" } }
                let entry = try #require(try await acme.actionLog().first)
                let detail = entry["detail"]?.string ?? ""
                #expect(detail.contains("may have run"), "\(detail)")
                try await Task.sleep(for: .milliseconds(300))
                #expect(kommo.requests("POST", "/api/v2/salesbot/run").count == 1, "not sent again by itself")

                let actionID = try #require(entry["action_id"]?.string.flatMap { Int64($0) })
                let retried = try await command(service, "acme", action: actionID, .retry)
                #expect(retried.status == "pending")
                try await eventually("sent again") { try await acme.actionLog().contains { $0["outcome"]?.string == "succeeded" } }
                #expect(kommo.requests("POST", "/api/v2/salesbot/run").count == 2)
                let again = await rpcFailure { try await command(service, "acme", action: actionID, .retry) }
                #expect(again?.code == .failedPrecondition)

                kommo.enqueue(.status(503))
                try await acme.schedule([planned("bot-2", #"{"type": "kommo_action", "operation": "run_salesbot", "parameters": {"bot_id": "5"}}"#, lead: 78)])
                try await eventually("the second in doubt") {
                    try await acme.actionLog(lead: 78).contains { $0["outcome"]?.string == "in_doubt" }
                }
                let second = try #require(try await acme.actionLog(lead: 78).first?["action_id"]?.string.flatMap { Int64($0) })
                let foreign = await rpcFailure { try await command(service, "globex", action: second, .dismiss) }
                #expect(foreign?.code == .notFound)
                #expect(try await command(service, "acme", action: second, .dismiss).status == "dismissed")
                try await Task.sleep(for: .milliseconds(300))
                #expect(kommo.requests("POST", "/api/v2/salesbot/run").count == 3)
                #expect(try await acme.actionLog(lead: 78).first?["outcome"]?.string == "dismissed")
            }
        }
    }

    // MARK: - Rate

    @Test("150 templated tasks at 7 requests/s: no one-second window above 7, and Kommo never answers 429")
    func neverAboveTheRate() async throws {
        let kommo = KommoEmulator()
        for id in 1...150 { kommo.addLead(["id": .int(Int64(id)), "name": .string("Lead \(id)")]) }
        kommo.behaviour.enforceRate(7)
        try await withTestServer(kommo.handle) { port in
            try await SequenceHarness.run { service in
                let acme = service.tenant("acme")
                try await connect(acme, kommo: kommo, port: port, rate: 7)
                try await acme.schedule((1...150).map { planned("rate-\($0)", #"{"type": "create_task", "text": "Call {{lead.name}}"}"#, lead: Int64($0)) })
                try await eventually(timeout: .seconds(60), "150 tasks") { kommo.tasksCreated == 150 }
            }
        }
        #expect(kommo.rateViolations(limit: 7) == 0)
        #expect(KommoEmulator.busiestSecond(kommo.received) <= 7)
        #expect(kommo.behaviour.tooManyRequestsAnswered == 0)
        let requests = kommo.received.count
        #expect(requests <= 12, "150 tasks and their lead reads took \(requests) requests")
        #expect(taskTexts(kommo).contains("Call Lead 150"))
    }
}
