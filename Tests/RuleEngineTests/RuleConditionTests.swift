import Foundation
import Testing
import Domain
@testable import RuleEngine

/// One `field_value` operator case: the Budget custom field before the event, in the event, the leaf's
/// operand and whether the leaf must hold.
struct FieldOperatorCase: Sendable, CustomTestStringConvertible {
    var op: FieldOperator
    var before: String?
    var carried: String?
    var value: String?
    var values: [String]?
    var holds: Bool

    var testDescription: String {
        "\(op.rawValue) before=\(before ?? "nil") carried=\(carried ?? "nil") value=\(value ?? values?.description ?? "nil") → \(holds)"
    }
}

@Suite("Condition operators and leaves")
struct RuleConditionTests {
    typealias F = RuleFixture

    static let fieldCases: [FieldOperatorCase] = [
        .init(op: .equals, before: nil, carried: "2500-5000", value: "2500-5000", holds: true),
        .init(op: .equals, before: nil, carried: "Preço Alto", value: "preco alto", holds: true),
        .init(op: .equals, before: nil, carried: "2500", value: "2500.0", holds: true),
        .init(op: .equals, before: nil, carried: "1000-2500", value: "2500-5000", holds: false),
        .init(op: .equals, before: nil, carried: nil, value: "2500-5000", holds: false),
        .init(op: .notEquals, before: nil, carried: "1000-2500", value: "2500-5000", holds: true),
        .init(op: .notEquals, before: nil, carried: "ABC", value: "abc", holds: false),
        .init(op: .notEquals, before: nil, carried: nil, value: "abc", holds: true),
        .init(op: .contains, before: nil, carried: "Lead from Instagram ads", value: "instagram", holds: true),
        .init(op: .contains, before: nil, carried: "Lead from Facebook", value: "instagram", holds: false),
        .init(op: .contains, before: nil, carried: nil, value: "instagram", holds: false),
        .init(op: .notContains, before: nil, carried: "Lead from Facebook", value: "instagram", holds: true),
        .init(op: .notContains, before: nil, carried: "Lead from INSTAGRAM", value: "instagram", holds: false),
        .init(op: .startsWith, before: nil, carried: "Instagram ads", value: "insta", holds: true),
        .init(op: .startsWith, before: nil, carried: "ads Instagram", value: "insta", holds: false),
        .init(op: .matches, before: nil, carried: "+55 11 91234-5678", value: #"^\+55\s"#, holds: true),
        .init(op: .matches, before: nil, carried: "abc", value: #"^\d+$"#, holds: false),
        .init(op: .gt, before: nil, carried: "3000", value: "2500", holds: true),
        .init(op: .gt, before: nil, carried: "2500", value: "2500", holds: false),
        .init(op: .gt, before: nil, carried: "lots", value: "2500", holds: false),
        .init(op: .gte, before: nil, carried: "2500", value: "2500", holds: true),
        .init(op: .gte, before: nil, carried: "2499.99", value: "2500", holds: false),
        .init(op: .lt, before: nil, carried: "100", value: "2500", holds: true),
        .init(op: .lt, before: nil, carried: "3000", value: "2500", holds: false),
        .init(op: .lte, before: nil, carried: "2500", value: "2500", holds: true),
        .init(op: .lte, before: nil, carried: "2501", value: "2500", holds: false),
        .init(op: .in, before: nil, carried: "5000+", values: ["2500-5000", "5000+"], holds: true),
        .init(op: .in, before: nil, carried: "0-1000", values: ["2500-5000", "5000+"], holds: false),
        .init(op: .notIn, before: nil, carried: "0-1000", values: ["2500-5000", "5000+"], holds: true),
        .init(op: .notIn, before: nil, carried: "5000+", values: ["2500-5000", "5000+"], holds: false),
        .init(op: .isEmpty, before: nil, carried: nil, holds: true),
        .init(op: .isEmpty, before: nil, carried: "  ", holds: true),
        .init(op: .isEmpty, before: nil, carried: "x", holds: false),
        .init(op: .isNotEmpty, before: nil, carried: "x", holds: true),
        .init(op: .isNotEmpty, before: nil, carried: nil, holds: false),
        .init(op: .changed, before: "1000-2500", carried: "2500-5000", holds: true),
        .init(op: .changed, before: "1000-2500", carried: "1000-2500", holds: false),
        .init(op: .changed, before: "1000-2500", carried: nil, holds: false),
        .init(op: .changed, before: nil, carried: "2500-5000", holds: true),
        .init(op: .changedTo, before: "1000-2500", carried: "2500-5000", value: "2500-5000", holds: true),
        .init(op: .changedTo, before: "1000-2500", carried: "2500-5000", value: "5000+", holds: false),
        .init(op: .changedTo, before: "2500-5000", carried: "2500-5000", value: "2500-5000", holds: false),
        .init(op: .changedFrom, before: "1000-2500", carried: "2500-5000", value: "1000-2500", holds: true),
        .init(op: .changedFrom, before: "1000-2500", carried: "2500-5000", value: "2500-5000", holds: false),
        .init(op: .changedTo, before: "100", carried: "2500", value: "2500.00", holds: true),
    ]

    @Test("field_value operator", arguments: fieldCases)
    func fieldOperator(_ testCase: FieldOperatorCase) throws {
        // The previous value arrives through a real update so that facts use their canonical keys.
        var facts = F.facts()
        if let before = testCase.before {
            let earlier = F.leadUpdate(custom: [CustomFieldValue(id: "881", name: "Budget", values: [before])], id: "evt-before", at: F.t0.addingTimeInterval(-60))
            facts = try #require(F.evaluate(earlier, rules: [], facts: facts).facts)
        }
        let custom = testCase.carried.map { [CustomFieldValue(id: "881", name: "Budget", values: [$0])] } ?? []
        let event = F.leadUpdate(fields: ["name": "Ana"], custom: custom)
        let leaf = FieldValueCondition(field: "cf.Budget", op: testCase.op, value: testCase.value, values: testCase.values)
        let rule = F.rule("r", trigger: Trigger(type: .leadUpdated), conditions: .fieldValue(leaf))

        let decision = F.evaluate(event, rules: [rule], facts: facts)
        let explanation = try F.outcome(decision, "r")
        #expect(explanation.outcome == (testCase.holds ? .fired : .conditionFalse), "\(explanation.detail)")
        #expect(decision.actions.count == (testCase.holds ? 1 : 0))
        if !testCase.holds {
            let leaf = try #require(explanation.failingLeaf)
            #expect(leaf.path == "conditions")
            #expect(leaf.kind == .fieldValue)
            #expect(leaf.op == testCase.op.rawValue)
            #expect(leaf.subject == "cf.Budget")
        }
    }

    @Test("Fields are found by custom field id, by name in any case, and plain lead fields by key")
    func fieldReferences() throws {
        let event = F.leadUpdate(fields: ["price": "3000"], custom: [CustomFieldValue(id: "881", name: "Orçamento", values: ["alto"])])
        let references = ["cf.881", "cf.orcamento", "lead.cf.ORÇAMENTO"]
        for reference in references {
            let rule = F.rule("r", trigger: Trigger(type: .leadUpdated),
                              conditions: .fieldValue(FieldValueCondition(field: reference, op: .equals, value: "alto")))
            #expect(try F.outcome(F.evaluate(event, rules: [rule]), "r").outcome == .fired, "\(reference)")
        }
        let price = F.rule("p", trigger: Trigger(type: .leadUpdated),
                           conditions: .fieldValue(FieldValueCondition(field: "price", op: .gt, value: "2999")))
        #expect(try F.outcome(F.evaluate(event, rules: [price]), "p").outcome == .fired)
    }

    @Test("Contact fields are kept apart from lead fields")
    func contactFields() throws {
        let contact = KommoEvent(
            id: "evt-contact", tenantID: "tenant-1", type: "contact_updated", entityType: "contact", entityID: "9",
            leadID: 1, occurredAt: F.t0, receivedAt: F.t0, fields: ["name": "Ana Souza"],
            customFields: [CustomFieldValue(id: "55", name: "Email", code: "EMAIL", values: ["ana@example.com"])]
        )
        let facts = try #require(F.evaluate(contact, rules: [], facts: F.facts(fields: ["name": "Deal #1"])).facts)
        #expect(facts.value(of: FieldRef("contact.cf.Email")!) == "ana@example.com")
        #expect(facts.value(of: FieldRef("contact.name")!) == "Ana Souza")
        #expect(facts.value(of: FieldRef("name")!) == "Deal #1")
        #expect(facts.value(of: FieldRef("cf.Email")!) == nil)
    }

    // MARK: - Groups

    /// Stage 501 and responsible 42 are true of the fixture lead; stage 999 and responsible 7 are false.
    static let yes = Condition.stageIs(StageCondition(stageIDs: [501]))
    static let yes2 = Condition.responsibleUserIs(ResponsibleUserCondition(userIDs: [42]))
    static let no = Condition.stageIs(StageCondition(stageIDs: [999]))
    static let no2 = Condition.responsibleUserIs(ResponsibleUserCondition(userIDs: [7]))

    struct GroupCase: Sendable, CustomTestStringConvertible {
        var name: String
        var condition: Condition
        var holds: Bool
        var failingPath: String?
        var testDescription: String { name }
    }

    static let groupCases: [GroupCase] = [
        .init(name: "all true", condition: .all([yes, yes2]), holds: true),
        .init(name: "all with second false", condition: .all([yes, no2]), holds: false, failingPath: "conditions.all[1]"),
        .init(name: "all short-circuits at first false", condition: .all([no, no2]), holds: false, failingPath: "conditions.all[0]"),
        .init(name: "any with one true", condition: .any([no, yes2]), holds: true),
        .init(name: "any all false", condition: .any([no, no2]), holds: false, failingPath: "conditions.any[0]"),
        .init(name: "not of false", condition: .not(no), holds: true),
        .init(name: "not of true", condition: .not(yes), holds: false, failingPath: "conditions.not"),
        .init(name: "nested all/any/not true", condition: .all([yes, .any([no, .not(no2)]), .not(.all([yes, no]))]), holds: true),
        .init(name: "nested failing deep leaf", condition: .all([yes, .any([no, .all([yes2, no2])])]), holds: false, failingPath: "conditions.all[1].any[0]"),
        .init(name: "nested not of any", condition: .all([.not(.any([no, yes2]))]), holds: false, failingPath: "conditions.all[0].not"),
    ]

    @Test("Groups", arguments: groupCases)
    func groups(_ testCase: GroupCase) throws {
        let rule = F.rule("r", conditions: testCase.condition)
        let explanation = try F.outcome(F.evaluate(F.message("hi"), rules: [rule]), "r")
        #expect(explanation.outcome == (testCase.holds ? .fired : .conditionFalse), "\(explanation.detail)")
        #expect(explanation.failingLeaf?.path == testCase.failingPath)
    }

    // MARK: - Leaf kinds

    struct LeafCase: Sendable, CustomTestStringConvertible {
        var name: String
        var condition: Condition
        var holds: Bool
        /// Words the explanation must contain when the leaf fails.
        var mentions: [String] = []
        var testDescription: String { name }
    }

    static let hours = WorkingHours(timeZone: "America/Sao_Paulo", days: [.monday, .tuesday, .wednesday, .thursday, .friday], start: "09:00", end: "18:00")

    /// Evaluated on an incoming WhatsApp message "Qual é o PREÇO do plano?" at t0 (Monday 09:00 in São Paulo),
    /// with the last inbound message 2 h before and two earlier messages.
    static let leafCases: [LeafCase] = [
        .init(name: "time_elapsed since stage entered gte 30m", condition: .timeElapsed(.init(anchor: .stageEntered, op: .gte, seconds: 1800)), holds: true),
        .init(name: "time_elapsed since stage entered gt 2h", condition: .timeElapsed(.init(anchor: .stageEntered, op: .gt, seconds: 7200)), holds: false, mentions: ["1h", "stage_entered", "2h"]),
        .init(name: "time_elapsed since lead created lt 3d", condition: .timeElapsed(.init(anchor: .leadCreated, op: .lt, seconds: 3 * 86_400)), holds: true),
        .init(name: "time_elapsed since unknown last outbound", condition: .timeElapsed(.init(anchor: .lastOutbound, op: .gt, seconds: 60)), holds: false, mentions: ["last_outbound", "not known"]),
        .init(name: "stage_is with pipeline", condition: .stageIs(.init(pipelineID: 7001, stageIDs: [500, 501])), holds: true),
        .init(name: "stage_is wrong pipeline", condition: .stageIs(.init(pipelineID: 7002, stageIDs: [501])), holds: false, mentions: ["7002"]),
        .init(name: "stage_is other stage", condition: .stageIs(.init(stageIDs: [502])), holds: false, mentions: ["501", "502"]),
        .init(name: "pipeline_is", condition: .pipelineIs(.init(pipelineIDs: [7001])), holds: true),
        .init(name: "pipeline_is other", condition: .pipelineIs(.init(pipelineIDs: [7002, 7003])), holds: false, mentions: ["7001", "7002, 7003"]),
        .init(name: "message_text keyword without accent, other case", condition: .messageText(.init(op: .containsAny, keywords: ["desconto", "preco"])), holds: true),
        .init(name: "message_text no keyword", condition: .messageText(.init(op: .containsAny, keywords: ["desconto", "parcelas"])), holds: false, mentions: ["desconto"]),
        .init(name: "message_text matches, accent-insensitive", condition: .messageText(.init(op: .matches, pattern: #"pre[cç]o\s+do"#)), holds: true),
        .init(name: "message_text does not match", condition: .messageText(.init(op: .matches, pattern: #"^\d+$"#)), holds: false),
        .init(name: "message_origin", condition: .messageOrigin(.init(origins: ["telegram", "WABA"])), holds: true),
        .init(name: "message_origin other", condition: .messageOrigin(.init(origins: ["instagram"])), holds: false, mentions: ["waba", "instagram"]),
        .init(name: "within own working hours", condition: .withinWorkingHours(.init(hours: hours)), holds: true),
        .init(name: "outside working hours starting at 10", condition: .withinWorkingHours(.init(hours: WorkingHours(timeZone: "America/Sao_Paulo", days: [.monday], start: "10:00", end: "18:00"))), holds: false, mentions: ["mon 09:00 America/Sao_Paulo", "outside"]),
        .init(name: "responsible_user_is", condition: .responsibleUserIs(.init(userIDs: [41, 42])), holds: true),
        .init(name: "responsible_user_is other", condition: .responsibleUserIs(.init(userIDs: [7])), holds: false, mentions: ["42"]),
        .init(name: "inbound_message_count counts this message", condition: .inboundMessageCount(.init(op: .equals, count: 3)), holds: true),
        .init(name: "inbound_message_count gte 4", condition: .inboundMessageCount(.init(op: .gte, count: 4)), holds: false, mentions: ["3", "gte 4"]),
        .init(name: "inbound_message_count lt 4", condition: .inboundMessageCount(.init(op: .lt, count: 4)), holds: true),
    ]

    @Test("Leaf kinds", arguments: leafCases)
    func leaves(_ testCase: LeafCase) throws {
        let now = F.date("2025-01-06T12:00:00Z") // 09:00 in São Paulo (UTC−3), a Monday
        let event = F.message("Qual é o PREÇO do plano?", at: now)
        let facts = F.facts(lastInbound: now.addingTimeInterval(-F.hours(2)), inboundCount: 2)
        let rule = F.rule("r", conditions: testCase.condition)
        let explanation = try F.outcome(F.evaluate(event, rules: [rule], facts: facts), "r")
        #expect(explanation.outcome == (testCase.holds ? .fired : .conditionFalse), "\(explanation.detail)")
        for word in testCase.mentions {
            #expect(explanation.detail.contains(word), "\(explanation.detail) should mention \(word)")
        }
    }

    @Test("within_working_hours uses the agent's hours, and an agent without hours works around the clock")
    func agentWorkingHours() throws {
        let saturday = F.date("2025-01-11T15:00:00Z")
        let rule = F.rule("r", conditions: .withinWorkingHours(.init()))
        let event = F.message("hi", at: saturday)
        let office = AgentGate(agentID: "agent-1", workingHours: Self.hours)
        #expect(try F.outcome(F.evaluate(event, rules: [rule], agents: [office]), "r").outcome == .conditionFalse)
        #expect(try F.outcome(F.evaluate(event, rules: [rule], agents: [AgentGate(agentID: "agent-1")]), "r").outcome == .fired)
        let outside = F.rule("o", conditions: .not(.withinWorkingHours(.init())))
        #expect(try F.outcome(F.evaluate(event, rules: [outside], agents: [office]), "o").outcome == .fired)
    }

    @Test("message_text on a timer reads the lead's last incoming message")
    func messageTextOnTimer() throws {
        let rule = F.rule("r", trigger: .timeBased(.lastInbound, after: 3600, cancelOn: []),
                          conditions: .messageText(.init(op: .containsAny, keywords: ["preço"])))
        let asked = F.evaluate(F.message("E o preço?", at: F.t0), rules: [rule])
        let facts = try #require(asked.facts)
        let fired = F.evaluate(F.timer(rule: "r", at: F.t0.addingTimeInterval(3600)), rules: [rule], facts: facts)
        #expect(try F.outcome(fired, "r").outcome == .fired)
    }
}
