import Foundation
import Testing
import Domain
@testable import RuleEngine

@Suite("Rule validation")
struct RuleValidationTests {
    typealias F = RuleFixture

    static let catalog: [Int64: Set<Int64>] = [7001: [501, 502, 503], 7002: [601, 602]]
    static let context = ValidationContext(
        pipelines: catalog,
        sequenceExists: { $0 == "seq-welcome" },
        scriptExists: { $0 == "script-greeting" }
    )

    static func valid() -> Rule {
        F.rule("r", trigger: .stageChanged(pipelineID: 7001, stageID: 502), conditions: .all([
            .fieldValue(.init(field: "cf.Budget", op: .in, values: ["2500-5000"])),
            .messageText(.init(op: .matches, pattern: #"pre[cç]o"#)),
        ]), actions: [
            Action(type: .sendMessage, text: "Hi {{lead.name}}"),
            Action(type: .startSequence, sequenceID: "seq-welcome"),
            Action(type: .changeStage, stageID: 503, pipelineID: 7001),
        ])
    }

    @Test("A well-formed rule has no problems")
    func validRule() {
        #expect(Self.valid().validate(in: Self.context) == [])
    }

    struct InvalidCase: Sendable, CustomTestStringConvertible {
        var name: String
        var change: @Sendable (inout Rule) -> Void
        var field: String
        var says: String
        var testDescription: String { name }
    }

    static let invalidCases: [InvalidCase] = [
        .init(name: "empty name", change: { $0.name = "  " }, field: "name", says: "empty"),
        .init(name: "no actions", change: { $0.actions = [] }, field: "actions", says: "at least one action"),
        .init(name: "negative cooldown", change: { $0.cooldownSeconds = -1 }, field: "cooldown_seconds", says: "between"),
        .init(name: "zero fire limit", change: { $0.maxFiresPerLead = 0 }, field: "max_fires_per_lead", says: "at least 1"),
        .init(name: "regex that does not compile", change: {
            $0.conditions = .all([.fieldValue(.init(field: "cf.Budget", op: .in, values: ["x"])), .fieldValue(.init(field: "phone", op: .matches, value: "([a-z"))])
        }, field: "conditions.all[1].value", says: "does not compile"),
        .init(name: "catastrophic regex", change: {
            $0.conditions = .messageText(.init(op: .matches, pattern: #"(a)\1"#))
        }, field: "conditions.pattern", says: "backreferences"),
        .init(name: "overlong regex", change: {
            $0.conditions = .messageText(.init(op: .matches, pattern: String(repeating: "a", count: 600)))
        }, field: "conditions.pattern", says: "limit is 512"),
        .init(name: "operator that cannot compare durations", change: {
            $0.conditions = .all([.timeElapsed(.init(anchor: .lastInbound, op: .contains, seconds: 60))])
        }, field: "conditions.all[0].operator", says: "cannot compare durations"),
        .init(name: "operator that cannot compare counts", change: {
            $0.conditions = .not(.inboundMessageCount(.init(op: .matches, count: 3)))
        }, field: "conditions.not.operator", says: "cannot compare counts"),
        .init(name: "gt with a non-number", change: {
            $0.conditions = .fieldValue(.init(field: "price", op: .gt, value: "lots"))
        }, field: "conditions.value", says: "number"),
        .init(name: "in without values", change: {
            $0.conditions = .any([.fieldValue(.init(field: "price", op: .in))])
        }, field: "conditions.any[0].values", says: "at least one value"),
        .init(name: "equals without value", change: {
            $0.conditions = .fieldValue(.init(field: "price", op: .equals))
        }, field: "conditions.value", says: "required"),
        .init(name: "is_empty with a value", change: {
            $0.conditions = .fieldValue(.init(field: "price", op: .isEmpty, value: "x"))
        }, field: "conditions.value", says: "not used"),
        .init(name: "bare cf. reference", change: {
            $0.conditions = .fieldValue(.init(field: "cf.", op: .isEmpty))
        }, field: "conditions.field", says: "must name a field"),
        .init(name: "empty group", change: { $0.conditions = .all([.any([])]) }, field: "conditions.all[0].any", says: "at least one condition"),
        .init(name: "trigger stage of another pipeline", change: { $0.trigger = .stageChanged(pipelineID: 7001, stageID: 601) },
              field: "trigger.stage_id", says: "belongs to pipeline 7002, not 7001"),
        .init(name: "unknown trigger pipeline", change: { $0.trigger = .stageChanged(pipelineID: 9999) }, field: "trigger.pipeline_id", says: "unknown pipeline"),
        .init(name: "stage_is stage of another pipeline", change: {
            $0.conditions = .all([.stageIs(.init(pipelineID: 7002, stageIDs: [601, 502]))])
        }, field: "conditions.all[0].stage_ids[1]", says: "belongs to pipeline 7001"),
        .init(name: "change_stage into an unknown stage", change: { $0.actions = [Action(type: .changeStage, stageID: 999)] },
              field: "actions[0].stage_id", says: "unknown stage 999"),
        .init(name: "time_based without anchor", change: { $0.trigger = Trigger(type: .timeBased, afterSeconds: 60) }, field: "trigger.anchor", says: "required"),
        .init(name: "time_based without duration", change: { $0.trigger = Trigger(type: .timeBased, anchor: .lastInbound) }, field: "trigger.after_seconds", says: "required"),
        .init(name: "stage filter on another anchor", change: { $0.trigger = .timeBased(.lastInbound, after: 60, stageID: 502) }, field: "trigger.stage_id", says: "stage_entered"),
        .init(name: "anchor on a non-timed trigger", change: { $0.trigger = Trigger(type: .leadCreated, anchor: .lastInbound) }, field: "trigger.anchor", says: "only used"),
        .init(name: "sequence that does not exist", change: { $0.actions[1] = Action(type: .startSequence, sequenceID: "seq-gone") },
              field: "actions[1].sequence_id", says: "no sequence \"seq-gone\""),
        .init(name: "script that does not exist", change: { $0.actions[0] = Action(type: .sendMessage, scriptID: "script-gone") },
              field: "actions[0].script_id", says: "no sales script"),
        .init(name: "message with neither text nor script", change: { $0.actions[0] = Action(type: .sendMessage) }, field: "actions[0].text", says: "text or script_id"),
        .init(name: "key not used by the action type", change: { $0.actions[0].url = "https://example.com" }, field: "actions[0].url", says: "not used by send_message"),
        .init(name: "unclosed template", change: { $0.actions[0].text = "Hi {{lead.name" }, field: "actions[0].text", says: "never closed"),
        .init(name: "task without deadline", change: { $0.actions = [Action(type: .createTask, text: "Call")] }, field: "actions[0].due_in_seconds", says: "deadline"),
        .init(name: "webhook with a relative URL", change: { $0.actions = [Action(type: .webhook, url: "/hook")] }, field: "actions[0].url", says: "absolute"),
        .init(name: "tags with a blank tag", change: { $0.actions = [Action(type: .addTags, tags: ["hot", " "])] }, field: "actions[0].tags[1]", says: "blank"),
        .init(name: "Kommo operation missing a parameter", change: { $0.actions = [Action(type: .kommoAction, operation: .runSalesbot, parameters: [:])] },
              field: "actions[0].parameters.bot_id", says: "required for run_salesbot"),
        .init(name: "Kommo operation with a non-integer id", change: { $0.actions = [Action(type: .kommoAction, operation: .changeResponsible, parameters: ["responsible_user_id": "ana"])] },
              field: "actions[0].parameters.responsible_user_id", says: "integer"),
        .init(name: "update_lead with a field it does not set", change: { $0.actions = [Action(type: .kommoAction, operation: .updateLead, parameters: ["colour": "red"])] },
              field: "actions[0].parameters.colour", says: "not a field update_lead sets"),
        .init(name: "update_lead with a non-integer price", change: { $0.actions = [Action(type: .kommoAction, operation: .updateLead, parameters: ["price": "a lot"])] },
              field: "actions[0].parameters.price", says: "integer"),
        .init(name: "update_contact naming only the contact", change: { $0.actions = [Action(type: .kommoAction, operation: .updateContact, parameters: ["contact_id": "5"])] },
              field: "actions[0].parameters", says: "at least one field"),
        .init(name: "change_responsible without the user", change: { $0.actions = [Action(type: .kommoAction, operation: .changeResponsible, parameters: [:])] },
              field: "actions[0].parameters.responsible_user_id", says: "required for change_responsible"),
        .init(name: "working hours with an unknown zone", change: {
            $0.conditions = .withinWorkingHours(.init(hours: WorkingHours(timeZone: "Mars/Olympus", days: [.monday], start: "09:00", end: "18:00")))
        }, field: "conditions.hours.time_zone", says: "unknown time zone"),
        .init(name: "working hours with a bad time", change: {
            $0.conditions = .withinWorkingHours(.init(hours: WorkingHours(timeZone: "UTC", days: [.monday], start: "9am", end: "18:00")))
        }, field: "conditions.hours.start", says: "HH:mm"),
    ]

    @Test("Invalid rules are rejected with the field path", arguments: invalidCases)
    func invalid(_ testCase: InvalidCase) throws {
        var rule = Self.valid()
        testCase.change(&rule)
        let problems = rule.validate(in: Self.context)
        let problem = try #require(problems.first { $0.field == testCase.field }, "problems: \(problems)")
        #expect(problem.message.contains(testCase.says), "\(problem.message)")
    }

    @Test("Kommo operations that set fields take their documented fields and custom fields by id")
    func fieldOperations() {
        var rule = Self.valid()
        rule.actions = [
            Action(type: .kommoAction, operation: .updateLead, parameters: ["name": "Ann", "price": "3100", "cf.5551": "yes"]),
            Action(type: .kommoAction, operation: .updateContact, parameters: ["first_name": "Ann", "cf.7001": "+5511"]),
            Action(type: .kommoAction, operation: .changeResponsible, parameters: ["responsible_user_id": "42"]),
        ]
        #expect(rule.validate(in: Self.context) == [])
    }

    @Test("Unknown catalogs and missing predicates skip the checks that need them")
    func unknownContext() {
        var rule = Self.valid()
        rule.trigger = .stageChanged(pipelineID: 1234, stageID: 5678)
        rule.actions[1] = Action(type: .startSequence, sequenceID: "seq-anything")
        #expect(rule.validate(in: ValidationContext()) == [])
    }

    @Test("Won and lost stages belong to every pipeline")
    func wonAndLost() {
        var rule = Self.valid()
        rule.actions = [Action(type: .changeStage, stageID: KommoStage.won, pipelineID: 7002)]
        rule.trigger = .stageChanged(pipelineID: 7001, stageID: KommoStage.lost)
        #expect(rule.validate(in: Self.context) == [])
    }

    @Test("Every problem is reported, not only the first")
    func allProblems() {
        var rule = Self.valid()
        rule.name = ""
        rule.actions = []
        rule.conditions = .fieldValue(.init(field: "price", op: .gt, value: "x"))
        let fields = Set(rule.validate(in: Self.context).map(\.field))
        #expect(fields == ["name", "actions", "conditions.value"])
    }

    @Test("Deep or huge condition trees are refused")
    func limits() {
        var deep = Condition.stageIs(.init(stageIDs: [501]))
        for _ in 0..<Limits.conditionDepth { deep = .not(deep) }
        var rule = Self.valid()
        rule.conditions = deep
        #expect(rule.validate().contains { $0.message.contains("deeper") })

        // Groups within their item limit that together exceed the node limit.
        let group = Condition.any(Array(repeating: .stageIs(.init(stageIDs: [501])), count: Limits.groupItems))
        rule.conditions = .all(Array(repeating: group, count: Limits.conditionNodes / Limits.groupItems + 1))
        #expect(rule.validate().contains { $0.field == "conditions" && $0.message.contains("limit") })
    }

    @Test("Pattern input is capped")
    func inputCap() throws {
        let pattern = try BoundedPattern("needle")
        let hidden = String(repeating: "x", count: BoundedPattern.maxInputLength) + "needle"
        #expect(!pattern.matches(hidden))
        #expect(pattern.matches("a NEEDLE here"))
    }
}
