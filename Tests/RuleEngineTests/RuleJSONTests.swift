import Foundation
import Testing
import Domain
@testable import RuleEngine

@Suite("Rule JSON")
struct RuleJSONTests {
    typealias F = RuleFixture

    /// The example from `Rule`'s documentation, verbatim.
    static let documented = """
    {
      "id": "rule-hot-budget",
      "agent_id": "agent-1",
      "name": "Hot budget, no reply for a day",
      "enabled": true,
      "priority": 10,
      "trigger": {"type": "time_based", "anchor": "stage_entered", "after_seconds": 86400,
                  "pipeline_id": 7001, "stage_id": 501, "cancel_on": ["inbound_message"]},
      "conditions": {"all": [
        {"type": "field_value", "field": "cf.Budget", "operator": "in", "values": ["2500-5000", "5000+"]},
        {"any": [
          {"type": "message_origin", "origins": ["waba", "telegram"]},
          {"not": {"type": "responsible_user_is", "user_ids": [42]}}
        ]},
        {"type": "within_working_hours"}
      ]},
      "actions": [
        {"type": "send_message", "text": "Hi {{lead.name}}, still interested?"},
        {"type": "create_task", "text": "Call the lead", "due_in_seconds": 3600, "task_type": 1},
        {"type": "kommo_action", "operation": "run_salesbot", "parameters": {"bot_id": "12"}}
      ],
      "cooldown_seconds": 3600,
      "max_fires_per_lead": 3,
      "stop_processing": true,
      "created_at": "2025-01-26T09:30:00Z"
    }
    """

    static func decode(_ json: String) throws(RuleValidationError) -> Rule {
        try RuleJSON.decode(Rule.self, from: Data(json.utf8))
    }

    @Test("The documented example decodes to the rule it describes and validates")
    func documentedExample() throws {
        let rule = try Self.decode(Self.documented)
        let expected = Rule(
            id: "rule-hot-budget", agentID: "agent-1", name: "Hot budget, no reply for a day", priority: 10,
            trigger: .timeBased(.stageEntered, after: 86_400, cancelOn: [.inboundMessage], pipelineID: 7001, stageID: 501),
            conditions: .all([
                .fieldValue(.init(field: "cf.Budget", op: .in, values: ["2500-5000", "5000+"])),
                .any([
                    .messageOrigin(.init(origins: ["waba", "telegram"])),
                    .not(.responsibleUserIs(.init(userIDs: [42]))),
                ]),
                .withinWorkingHours(.init()),
            ]),
            actions: [
                Action(type: .sendMessage, text: "Hi {{lead.name}}, still interested?"),
                Action(type: .createTask, text: "Call the lead", dueInSeconds: 3600, taskType: 1),
                Action(type: .kommoAction, operation: .runSalesbot, parameters: ["bot_id": "12"]),
            ],
            cooldownSeconds: 3600, maxFiresPerLead: 3, stopProcessing: true,
            createdAt: F.date("2025-01-26T09:30:00Z")
        )
        #expect(rule == expected)
        #expect(rule.validate() == [])
    }

    @Test("A complex rule survives a JSON round trip, and encoding is stable")
    func roundTrip() throws {
        let rule = Rule(
            id: "r-1", agentID: "a-1", name: "Everything", enabled: false, priority: -3,
            trigger: .stageChanged(pipelineID: 7001, stageID: 502),
            conditions: .any([
                .all([
                    .fieldValue(.init(field: "contact.cf.Email", op: .matches, value: #"@example\.com$"#)),
                    .timeElapsed(.init(anchor: .lastOutbound, op: .gte, seconds: 3600)),
                    .stageIs(.init(pipelineID: 7001, stageIDs: [501, 502])),
                    .pipelineIs(.init(pipelineIDs: [7001])),
                ]),
                .not(.messageText(.init(op: .containsAny, keywords: ["stop", "pare"]))),
                .messageText(.init(op: .matches, pattern: "pre[cç]o")),
                .withinWorkingHours(.init(hours: WorkingHours(timeZone: "Europe/Madrid", days: [.monday, .friday], start: "22:00", end: "06:00"))),
                .inboundMessageCount(.init(op: .lt, count: 5)),
                .fieldValue(.init(field: "price", op: .changedTo, value: "100")),
            ]),
            actions: [
                Action(type: .aiResponse, scriptID: "s-1", instructions: "Be brief"),
                Action(type: .createTask, text: "Call", dueInSeconds: 600, taskType: 2, responsibleUserID: 42),
                Action(type: .addNote, text: "Note"),
                Action(type: .changeStage, stageID: 503, pipelineID: 7001),
                Action(type: .setField, field: "cf.Score", value: ""),
                Action(type: .addTags, tags: ["hot", "vip"]),
                Action(type: .removeTags, tags: ["cold"]),
                Action(type: .webhook, url: "https://example.com/hook", payloadTemplate: #"{"id": "{{lead.id}}"}"#),
                Action(type: .startSequence, sequenceID: "seq-1"),
                Action(type: .stopSequence),
                Action(type: .kommoAction, operation: .changeStage, parameters: ["status_id": "502", "pipeline_id": "7001"]),
            ],
            cooldownSeconds: 120, maxFiresPerLead: nil, stopProcessing: true,
            createdAt: Date(timeIntervalSince1970: 1_737_883_800.25), updatedAt: Date(timeIntervalSince1970: 1_737_883_900)
        )
        let data = try RuleJSON.encoder().encode(rule)
        let back = try RuleJSON.decode(Rule.self, from: data)
        #expect(back == rule)
        #expect(try RuleJSON.encoder().encode(back) == data)

        let json = try #require(String(data: data, encoding: .utf8))
        #expect(json.contains(#""cooldown_seconds":120"#))
        #expect(json.contains(#""operator":"changed_to""#))
        #expect(json.contains(#""days":["mon","fri"]"#))
        #expect(json.contains(#""created_at":"2025-01-26T09:30:00.250Z""#))
        #expect(!json.contains("null"))
    }

    @Test("Absent optional keys take their defaults")
    func defaults() throws {
        let rule = try Self.decode(#"{"name": "Minimal", "trigger": {"type": "lead_created"}, "actions": [{"type": "ai_response"}]}"#)
        #expect(rule.id == "")
        #expect(rule.enabled)
        #expect(rule.priority == 0)
        #expect(rule.cooldownSeconds == 0)
        #expect(rule.maxFiresPerLead == nil)
        #expect(!rule.stopProcessing)
        #expect(rule.conditions == nil)
    }

    @Test("Numbers are accepted where Kommo's values are strings")
    func looseValues() throws {
        let rule = try Self.decode("""
        {"name": "n", "trigger": {"type": "lead_updated"},
         "conditions": {"type": "field_value", "field": "price", "operator": "in", "values": [2500, "5000", 1.5]},
         "actions": [{"type": "set_field", "field": "cf.Paid", "value": true},
                     {"type": "kommo_action", "operation": "run_salesbot", "parameters": {"bot_id": 12}}]}
        """)
        guard case .fieldValue(let leaf) = rule.conditions else { Issue.record("not a field_value leaf"); return }
        #expect(leaf.values == ["2500", "5000", "1.5"])
        #expect(rule.actions[0].value == "true")
        #expect(rule.actions[1].parameters == ["bot_id": "12"])
    }

    struct DecodingCase: Sendable, CustomTestStringConvertible {
        var name: String
        var json: String
        var field: String
        var says: String
        var testDescription: String { name }
    }

    static func body(conditions: String = "null", trigger: String = #"{"type": "lead_updated"}"#, actions: String = #"[{"type": "ai_response"}]"#, extra: String = "") -> String {
        #"{"name": "n", "trigger": \#(trigger), "conditions": \#(conditions), "actions": \#(actions)\#(extra)}"#
    }

    static let decodingCases: [DecodingCase] = [
        .init(name: "unknown operator",
              json: body(conditions: #"{"all": [{"type": "stage_is", "stage_ids": [1]}, {"type": "field_value", "field": "price", "operator": "bigger", "value": "1"}]}"#),
              field: "conditions.all[1].operator", says: #"unknown operator "bigger"; expected one of: equals, not_equals"#),
        .init(name: "unknown condition type", json: body(conditions: #"{"any": [{"type": "moon_phase"}]}"#),
              field: "conditions.any[0].type", says: "unknown condition type"),
        .init(name: "group and leaf mixed", json: body(conditions: #"{"all": [], "type": "stage_is"}"#),
              field: "conditions", says: "exactly one of"),
        .init(name: "empty condition object", json: body(conditions: #"{"not": {}}"#),
              field: "conditions.not", says: "found none"),
        .init(name: "missing leaf key", json: body(conditions: #"{"type": "field_value", "operator": "equals"}"#),
              field: "conditions.field", says: "required"),
        .init(name: "wrong type", json: body(extra: #", "priority": "high""#), field: "priority", says: "an integer"),
        .init(name: "missing trigger", json: #"{"name": "n", "actions": []}"#, field: "trigger", says: "required"),
        .init(name: "unknown trigger type", json: body(trigger: #"{"type": "on_full_moon"}"#), field: "trigger.type", says: "unknown trigger type"),
        .init(name: "unknown anchor", json: body(trigger: #"{"type": "time_based", "anchor": "sunrise", "after_seconds": 1}"#), field: "trigger.anchor", says: "stage_entered"),
        .init(name: "unknown action type", json: body(actions: #"[{"type": "ai_response"}, {"type": "send_fax"}]"#), field: "actions[1].type", says: "unknown action type"),
        .init(name: "unknown Kommo operation", json: body(actions: #"[{"type": "kommo_action", "operation": "delete_account"}]"#), field: "actions[0].operation", says: "run_salesbot"),
        .init(name: "object where a string belongs", json: body(actions: #"[{"type": "add_note", "text": {"en": "x"}}]"#), field: "actions[0].text", says: "a string"),
        .init(name: "bad weekday", json: body(conditions: #"{"type": "within_working_hours", "hours": {"time_zone": "UTC", "days": ["mon", "funday"], "start": "09:00", "end": "18:00"}}"#),
              field: "conditions.hours.days[1]", says: "unknown weekday"),
        .init(name: "bad timestamp", json: body(extra: #", "created_at": "yesterday""#), field: "created_at", says: "ISO 8601"),
        .init(name: "not JSON", json: "{name:", field: "", says: "not valid JSON"),
    ]

    @Test("Decoding errors name the bad field", arguments: decodingCases)
    func decodingErrors(_ testCase: DecodingCase) throws {
        do {
            _ = try Self.decode(testCase.json)
            Issue.record("decoded without error")
        } catch {
            let problem = try #require(error.problems.first)
            #expect(error.problems.count == 1)
            #expect(problem.field == testCase.field, "\(problem)")
            #expect(problem.message.contains(testCase.says), "\(problem.message)")
        }
    }

    @Test("decodeValidRule reports validation problems after a successful decode")
    func decodeValid() throws {
        let json = Self.body(conditions: #"{"type": "field_value", "field": "phone", "operator": "matches", "value": "([0-9"}"#, actions: "[]")
        do {
            _ = try RuleJSON.decodeValidRule(from: Data(json.utf8))
            Issue.record("accepted an invalid rule")
        } catch {
            #expect(Set(error.problems.map(\.field)) == ["conditions.value", "actions"])
        }
    }

    @Test("Weekdays decode from numbers and names and encode as names")
    func weekdays() throws {
        let hours = try JSONDecoder().decode(WorkingHours.self, from: Data(#"{"time_zone": "UTC", "days": [1, "Sun", "friday"], "start": "09:00", "end": "18:00"}"#.utf8))
        #expect(hours.days == [.monday, .sunday, .friday])
        let json = try #require(String(data: try RuleJSON.encoder().encode(hours), encoding: .utf8))
        #expect(json.contains(#""days":["mon","sun","fri"]"#))
    }
}
