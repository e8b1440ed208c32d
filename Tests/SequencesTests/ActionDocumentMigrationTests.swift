import Domain
import Foundation
import GRDB
import Sequences
import ServiceKit
import TestSupport
import Testing

/// Rows the previous schema wrote (`action_type` + a JSON text whose `type` could be missing) read back
/// as the domain actions they stood for once the store is opened by this version.
@Suite struct ActionDocumentMigrationTests {
    @Test func rowsOfThePreviousSchemaReadBackAsDomainActions() async throws {
        let folder = temporaryFolder("action-document")
        do {
            let previous = try StoreFactory.open(folder: folder, migrator: DatabaseMigrator())
            try SequenceStore.migrator.migrate(previous, upTo: "v6-suspended-tenants")
            try await previous.write { db in
                let insert = """
                    INSERT INTO action (tenant_id, idempotency_key, kind, action_type, action_json, lead_id, rule_id, agent_id, event_id, due_at, created_at)
                    VALUES ('acme', ?, ?, ?, ?, 77, 'rule-1', 'agent-1', 'ev-1', 10, 10)
                    """
                // As rules-service planned it: the action's document, its type inside.
                try db.execute(sql: insert, arguments: ["ev-1:rule-1:0", "action", "create_task",
                                                        #"{"type":"create_task","text":"Call {{lead.name}}","due_in_seconds":3600,"responsible_user_id":9007199254740993}"#])
                // Without `type`: the row's action_type stood in.
                try db.execute(sql: insert, arguments: ["ev-1:rule-1:1", "action", "kommo_action",
                                                        #"{"operation":"change_stage","parameters":{"status_id":"142"}}"#])
                // A sequence step as the client wrote it, a number where a string is meant.
                try db.execute(sql: insert, arguments: ["step:enr-1:s1", "step", "set_field", #"{"type":"set_field","field":"cf.Budget","value":5000}"#])
                try db.execute(sql: insert, arguments: ["timer:acme:rule-2:77@10", "timer", "timer", #"{"anchor":"last_inbound"}"#])
            }
        }
        let store = SequenceStore(db: try StoreFactory.open(folder: folder, migrator: SequenceStore.migrator))
        let claimed = try await store.claimDue(now: 1_000, lease: 1_000_000, limit: 10)
        let byKey = Dictionary(uniqueKeysWithValues: claimed.map { ($0.idempotencyKey, $0) })
        #expect(byKey.count == 4)
        #expect(byKey["ev-1:rule-1:0"]?.action == Action(type: .createTask, text: "Call {{lead.name}}", dueInSeconds: 3600,
                                                         responsibleUserID: 9_007_199_254_740_993))
        #expect(byKey["ev-1:rule-1:1"]?.action == Action(type: .kommoAction, operation: .changeStage, parameters: ["status_id": "142"]))
        #expect(byKey["step:enr-1:s1"]?.action == Action(type: .setField, field: "cf.Budget", value: "5000"))
        #expect(byKey["ev-1:rule-1:0"]?.actionType == "create_task")
        let timer = try #require(byKey["timer:acme:rule-2:77@10"])
        #expect(timer.action == nil && timer.actionProblem == nil && timer.actionType == "timer")
        #expect(claimed.allSatisfy { $0.actionProblem == nil })
    }

    @Test func anActionScheduledNowReadsBackUnchanged() async throws {
        let store = SequenceStore(db: try StoreFactory.open(folder: temporaryFolder("action-document-new"), migrator: SequenceStore.migrator))
        let action = Action(type: .kommoAction, operation: .updateLead, parameters: ["price": "1200", "cf.7001": "Ann \"the\" O'Neil"])
        let planned = PlannedActionRecord(idempotencyKey: "ev-9@replay:rule-9:2", ruleID: "rule-9", agentID: "agent-9", eventID: "ev-9",
                                          leadID: 9_007_199_254_740_993, action: action)
        _ = try await store.schedule(tenantID: "acme", actions: [planned], timers: [], now: 10)
        let claimed = try #require(try await store.claimDue(now: 1_000, lease: 1_000_000, limit: 10).first)
        #expect(claimed.action == action)
        #expect(claimed.idempotencyKey == "ev-9@replay:rule-9:2")
        #expect(claimed.leadID == 9_007_199_254_740_993)
        #expect(claimed.actionType == "kommo_action")
    }
}
