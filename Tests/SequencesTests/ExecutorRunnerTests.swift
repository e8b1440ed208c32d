import GRDB
import TestSupport
import Foundation
import MetricsTestKit
import Sequences
import ServiceKit
import Testing
import Wire

/// Scheduled actions carried out by the real sequence-service against the Kommo emulator, a webhook
/// receiver and a stand-in rules-service, all over loopback.
@Suite struct ExecutorRunnerTests {
    private func connect(_ tenant: TenantCalls, kommo: KommoEmulator, port: Int, extra: String = "") async throws {
        try await tenant.updateIntegrations("""
            {"kommo": {"base_url": "http://127.0.0.1:\(port)", "access_token": "\(kommo.token)", "rate_limit_per_second": 50}\(extra)}
            """)
    }

    private func tasks(_ kommo: KommoEmulator) -> [ReceivedRequest] {
        kommo.received.filter { $0.method == "POST" && $0.path == "/api/v4/tasks" }
    }

    @Test func createTaskReachesKommoOnceWithTheKeyAsRequestID() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { port in
            try await SequenceHarness.run { service in
                let acme = service.tenant("acme")
                try await connect(acme, kommo: kommo, port: port)
                let key = "ev-1:rule-1:0"
                let before = Int64(Date().timeIntervalSince1970)
                let answer = try await acme.schedule([planned(key, #"{"type": "create_task", "text": "Call the lead", "due_in_seconds": 3600, "task_type": 1}"#)])
                #expect(answer.accepted == 1)
                try await eventually("the task") { !self.tasks(kommo).isEmpty }
                try await eventually("the log entry") { try await acme.actionLog().count == 1 }
                let task = try #require(tasks(kommo).first?.json?[0])
                #expect(task["request_id"]?.string == key)
                #expect(task["text"]?.string == "Call the lead")
                #expect(task["entity_id"]?.int64 == 77)
                #expect(task["entity_type"]?.string == "leads")
                let due = try #require(task["complete_till"]?.int64)
                #expect(due >= before + 3600 && due <= before + 3600 + 30)

                let log = try await acme.actionLog()
                let entry = try #require(log.first)
                #expect(entry["outcome"]?.string == "succeeded")
                #expect(entry["operation"]?.string == "kommo.create_task")
                #expect(entry["target"]?.string == "POST /api/v4/tasks")
                #expect(entry["http_status"]?.int64 == 200)
                #expect(entry["idempotency_key"]?.string == key)
                #expect(entry["detail"]?.string?.hasPrefix("created task ") == true)

                // The same key again is a duplicate: no second task.
                let again = try await acme.schedule([planned(key, #"{"type": "create_task", "text": "Call the lead"}"#)])
                #expect(again.duplicates == 1)
                try await Task.sleep(for: .milliseconds(300))
                #expect(tasks(kommo).count == 1)
                #expect(kommo.violations.isEmpty, "\(kommo.violations)")
            }
        }
    }

    @Test func withoutCredentialsKommoActionsAreSkipped() async throws {
        try await SequenceHarness.run { service in
            let acme = service.tenant("acme")
            try await acme.schedule([
                planned("k1", #"{"type": "create_task", "text": "Call"}"#),
                planned("k2", #"{"type": "change_stage", "stage_id": 142}"#),
            ])
            try await eventually("two log entries") { try await acme.actionLog().count == 2 }
            for entry in try await acme.actionLog() {
                #expect(entry["outcome"]?.string == "skipped")
                #expect(entry["detail"]?.string == "skipped (no Kommo credentials)")
            }
            #expect(service.rules.ownWrites.isEmpty)
        }
    }

    @Test func rateLimitedCallIsRetriedByTheScheduler() async throws {
        let kommo = KommoEmulator()
        kommo.enqueue(.tooManyRequests(retryAfter: 1))
        var executor = SequenceHarness.fastExecutor
        // One attempt per run: the 429 goes back to the scheduler, which honours retry_after.
        executor.kommoRetry = .once
        try await withTestServer(kommo.handle) { port in
            try await SequenceHarness.run(executor: executor) { service in
                let acme = service.tenant("acme")
                try await connect(acme, kommo: kommo, port: port)
                try await acme.schedule([planned("k-429", #"{"type": "create_task", "text": "Call"}"#)])
                try await eventually(timeout: .seconds(60), "success after the retry") {
                    try await acme.actionLog().contains { $0["outcome"]?.string == "succeeded" }
                }
                let log = try await acme.actionLog()
                #expect(log.map { $0["outcome"]?.string } == ["succeeded", "retry"])
                #expect(log.last?["http_status"]?.int64 == 429)
                let sent = tasks(kommo)
                #expect(sent.count == 2)
                #expect(Set(sent.compactMap { $0.json?[0]?["request_id"]?.string }) == ["k-429"])
                #expect(sent[1].at - sent[0].at >= .milliseconds(900))
            }
        }
    }

    @Test func webhookIsSignedWithTheTenantSecret() async throws {
        let receiver = SigningReceiver()
        let kommo = KommoEmulator()
        kommo.addLead(["id": 77, "name": #"Big "quoted" deal"#, "price": 2500])
        try await withTestServer(kommo.handle) { kommoPort in
            try await withTestServer(receiver.handle) { port in
                try await SequenceHarness.run { service in
                    let acme = service.tenant("acme")
                    let first = try await acme.updateIntegrations(
                        #"{"kommo": {"base_url": "http://127.0.0.1:\#(kommoPort)", "access_token": "\#(kommo.token)"}}"#)
                    receiver.use(secret: try #require(first.object["webhooks"]?["generated_secret"]?.string))
                    let template = #"{\"lead\": \"{{lead.id}}\", \"name\": \"{{lead.name}}\", \"price\": \"{{lead.price}}\"}"#
                    try await acme.schedule([planned("hook-1", #"{"type": "webhook", "url": "http://127.0.0.1:\#(port)/hook", "payload_template": "\#(template)"}"#)])
                    try await eventually("the delivery") { !receiver.received.isEmpty }
                    try await eventually("the log entry") { try await acme.actionLog().count == 1 }
                    #expect(receiver.verified == [true])
                    let delivery = try #require(receiver.received.first)
                    #expect(delivery.headers["webhook-id"] == "hook-1")
                    let body = try #require(delivery.json)
                    #expect(body["lead"]?.string == "77")
                    #expect(body["name"]?.string == #"Big "quoted" deal"#)
                    #expect(body["price"]?.string == "2500")
                    let log = try await acme.actionLog()
                    #expect(log.first?["outcome"]?.string == "succeeded")
                }
            }
        }
    }

    @Test func privateWebhookTargetsAreRefusedByDefault() async throws {
        let receiver = SigningReceiver()
        try await withTestServer(receiver.handle) { port in
            try await SequenceHarness.run(egress: EgressPolicy()) { service in
                let acme = service.tenant("acme")
                try await acme.updateIntegrations("{}")
                try await acme.schedule([planned("hook-private", #"{"type": "webhook", "url": "http://127.0.0.1:\#(port)/hook"}"#)])
                try await eventually("the log entry") { try await acme.actionLog().count == 1 }
                let log = try await acme.actionLog()
                let entry = try #require(log.first)
                #expect(entry["outcome"]?.string == "failed")
                #expect(entry["detail"]?.string?.contains("private targets are not allowed") == true)
                #expect(receiver.received.isEmpty)
            }
        }
    }

    @Test func sendMessageGoesThroughFieldAndSalesbotAndIsRecorded() async throws {
        let kommo = KommoEmulator()
        kommo.addLead(["id": 77, "name": "Order 77", "_embedded": ["contacts": [["id": 501, "is_main": true]]]])
        kommo.addContact(["id": 501, "name": "Maria Silva"])
        try await withTestServer(kommo.handle) { port in
            try await SequenceHarness.run { service in
                let acme = service.tenant("acme")
                try await connect(acme, kommo: kommo, port: port,
                                  extra: #", "messages": {"mode": "salesbot_field", "field_id": 880011, "bot_id": 42}"#)
                try await acme.schedule([planned("msg-1", #"{"type": "send_message", "text": "Hi {{contact.first_name|there}}, about {{lead.name}}"}"#)])
                try await eventually("the log entry") { try await acme.actionLog().count == 1 }
                let log = try await acme.actionLog()
                let entry = try #require(log.first)
                #expect(entry["outcome"]?.string == "succeeded", "\(entry)")
                let patch = try #require(kommo.leadChanges(77).first)
                #expect(patch["custom_fields_values"]?[0]?["values"]?[0]?["value"]?.string == "Hi Maria, about Order 77")
                let run = try #require(kommo.received.first { $0.path == "/api/v2/salesbot/run" })
                #expect(run.json?[0]?["bot_id"]?.int64 == 42)

                let timeline = try await acme.timeline(lead: 77)
                let kinds = timeline.items.map { $0.object["kind"]?.string }
                #expect(kinds.contains("message") && kinds.contains("action"))
                let message = try #require(timeline.items.first { $0.object["kind"]?.string == "message" })
                #expect(message.object["text"]?.string == "Hi Maria, about Order 77")
                #expect(message.object["direction"]?.string == "outgoing")
                try await eventually("the own write") { service.rules.ownWrites.contains { $0.kind == .message } }
                #expect(kommo.violations.isEmpty, "\(kommo.violations)")
            }
        }
    }

    @Test func aiResponseFollowsTheAgentScriptAndReportsItsUse() async throws {
        let kommo = KommoEmulator()
        kommo.addLead(["id": 77, "name": "Order 77", "_embedded": ["contacts": [["id": 501, "is_main": true]]]])
        kommo.addContact(["id": 501, "name": "Maria Silva"])
        try await withTestServer(kommo.handle) { port in
            try await SequenceHarness.run { service in
                let acme = service.tenant("acme")
                try await connect(acme, kommo: kommo, port: port,
                                  extra: #", "messages": {"mode": "salesbot_field", "field_id": 880011, "bot_id": 42}"#)
                try await acme.schedule([planned("ai-1", #"{"type": "ai_response"}"#)])
                try await eventually("the log entry") { try await acme.actionLog().count == 1 }
                let log = try await acme.actionLog()
                let entry = try #require(log.first)
                #expect(entry["outcome"]?.string == "succeeded", "\(entry)")
                let patch = try #require(kommo.leadChanges(77).first)
                #expect(patch["custom_fields_values"]?[0]?["values"]?[0]?["value"]?.string
                        == "Hi Maria, I'm Sofia. How can I help?")
                try await eventually("the script use") { !service.rules.scriptUses.isEmpty }
                let use = try #require(service.rules.scriptUses.first)
                #expect(use.scriptId == "greet" && use.version == 3 && use.actionKey == "ai-1" && use.leadId == 77)
            }
        }
    }

    @Test func stageChangesAndNotesAreReportedAsOwnWrites() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { port in
            try await SequenceHarness.run { service in
                let acme = service.tenant("acme")
                try await connect(acme, kommo: kommo, port: port)
                try await acme.schedule([
                    planned("stage-1", #"{"type": "change_stage", "stage_id": 61234502, "pipeline_id": 7100001}"#),
                    planned("note-1", #"{"type": "add_note", "text": "Moved by the agent"}"#),
                ])
                try await eventually("both own writes") { service.rules.ownWrites.count == 2 }
                let writes = service.rules.ownWrites
                #expect(writes.contains { $0.kind == .stageChange && $0.value == "61234502" && $0.leadId == 77 && $0.ruleId == "rule-1" })
                #expect(writes.contains { $0.kind == .note && $0.value == "Moved by the agent" })
                let stage = try #require(kommo.leadChanges(77).first)
                #expect(stage["status_id"]?.int64 == 61234502)
                #expect(kommo.violations.isEmpty, "\(kommo.violations)")
            }
        }
    }

    @Test func runsAreCountedByExecutorAndOutcome() async throws {
        let kommo = KommoEmulator()
        let metrics = TestMetrics()
        try await withTestServer(kommo.handle) { port in
            try await SequenceHarness.run(metrics: metrics) { service in
                let acme = service.tenant("acme")
                try await connect(acme, kommo: kommo, port: port)
                try await acme.schedule([
                    planned("count-task", #"{"type": "create_task", "text": "Call"}"#),
                    planned("count-hook", #"{"type": "webhook"}"#),
                ])
                try await eventually("two log entries") { try await acme.actionLog().count == 2 }
                let succeeded = try metrics.expectCounter(ExecutorMetrics.runs, [("executor", "KommoTaskExecutor"), ("outcome", "succeeded")])
                #expect(succeeded.totalValue == 1)
                let refused = try metrics.expectCounter(ExecutorMetrics.runs, [("executor", "WebhookExecutor"), ("outcome", "failed_permanent")])
                #expect(refused.totalValue == 1)
                let log = try await acme.actionLog()
                let hook = try #require(log.first { $0["idempotency_key"]?.string == "count-hook" })
                #expect(hook["outcome"]?.string == "failed")
                #expect(hook["operation"]?.string == "webhook")
                #expect(hook["detail"]?.string == "webhook needs url")
            }
        }
    }

    @Test func anActionThatDoesNotDecodeFailsOnceAndIsCounted() async throws {
        let metrics = TestMetrics()
        try await SequenceHarness.run(metrics: metrics) { service in
            let acme = service.tenant("acme")
            // The wire carries typed actions, so only a stored document can be malformed: a row an
            // earlier version wrote, as the migration copied it.
            let db = try StoreFactory.open(folder: service.dataDir, migrator: SequenceStore.migrator)
            try await db.write { db in
                try db.execute(sql: """
                    INSERT INTO action (tenant_id, idempotency_key, kind, action_type, action, lead_id, rule_id, agent_id, event_id, due_at, created_at)
                    VALUES ('acme', 'bad-1', 'action', 'create_task', ?, 77, 'rule-1', 'agent-1', 'ev-bad-1', 0, 0)
                    """, arguments: [#"{"type": "create_task", "due_in_seconds": "soon"}"#])
            }
            try await eventually("the log entry") { try await acme.actionLog().count == 1 }
            let entry = try #require(try await acme.actionLog().first)
            #expect(entry["outcome"]?.string == "failed")
            #expect(entry["operation"]?.string == "create_task")
            let detail = try #require(entry["detail"]?.string)
            #expect(detail.hasPrefix("the action does not decode"))
            #expect(detail.contains("due_in_seconds"), "\(detail)")
            #expect(try metrics.expectCounter(ExecutorMetrics.stepFailures, [("step", "decode")]).totalValue == 1)
            #expect(metrics.counters(label: ExecutorMetrics.runs).isEmpty)
        }
    }

    /// Rows written before actions were typed could lack `type` (the row's `action_type` stood in); the
    /// migration puts it into the stored document (ActionDocumentMigrationTests). Such a row runs.
    @Test func aRowWhoseDocumentLackedItsTypeRuns() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { port in
            try await SequenceHarness.run { service in
                let acme = service.tenant("acme")
                try await connect(acme, kommo: kommo, port: port)
                let db = try StoreFactory.open(folder: service.dataDir, migrator: SequenceStore.migrator)
                try await db.write { db in
                    // What the migration leaves of a typeless row: its document with the row's type inside.
                    try db.execute(sql: """
                        INSERT INTO action (tenant_id, idempotency_key, kind, action_type, action, lead_id, rule_id, agent_id, event_id, due_at, created_at)
                        VALUES ('acme', 'typeless-note', 'action', 'add_note', json_set(?, '$.type', 'add_note'), 77, 'rule-1', 'agent-1', 'ev-1', 0, 0),
                               ('acme', 'typeless-stop', 'action', 'stop_sequence', json_set(?, '$.type', 'stop_sequence'), 77, 'rule-1', 'agent-1', 'ev-1', 0, 0)
                        """, arguments: [#"{"text": "Written without a type"}"#, " { } "])
                }
                try await eventually("two log entries") { try await acme.actionLog().count == 2 }
                let log = try await acme.actionLog()
                #expect(log.allSatisfy { $0["outcome"]?.string == "succeeded" }, "\(log)")
                #expect(Set(log.compactMap { $0["operation"]?.string }) == ["kommo.add_note", "sequence.stop"])
                let sent = try #require(kommo.notes(on: 77).first)
                #expect(sent["params"]?["text"]?.string == "Written without a type")
            }
        }
    }
}
