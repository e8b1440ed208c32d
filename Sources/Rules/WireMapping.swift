import Basics
import Domain
import RuleEngine
import Foundation
import ServiceKit
import Wire

// The one place where store records and domain values become wire messages, and store errors become
// RPC errors.

extension RulesStoreError {
    /// The RPC error a caller sees.
    var rpc: RPCError {
        switch self {
        case .notFound(let kind, let id):
            RPCError(.notFound, "\(kind.noun) \(id) not found")
        case .versionMismatch(let expected, let actual):
            RPCError(.failedPrecondition, "version mismatch: the request expects version \(expected), the stored version is \(actual)")
        case .hasDependents(let rules, let scripts):
            RPCError(.failedPrecondition, "the agent still has \(Self.dependents(rules: rules, scripts: scripts)); delete them first or delete with cascade")
        case .quotaExceeded(let kind, let limit):
            TenantQuotas.exceeded(kind.noun + "s", setting: "quota_\(kind.rawValue)s", limit: limit)
        case .agentFull(let kind, let limit):
            RPCError(.resourceExhausted, "an agent may hold at most \(limit) \(kind.noun)s; delete some first")
        }
    }

    static func dependents(rules: Int, scripts: Int) -> String {
        var parts: [String] = []
        if rules > 0 { parts.append("\(rules) rule\(rules == 1 ? "" : "s")") }
        if scripts > 0 { parts.append("\(scripts) sales script\(scripts == 1 ? "" : "s")") }
        return parts.joined(separator: " and ")
    }
}

/// A stored document that is no longer a JSON object. It was one when written, so this is damage, not a
/// bad request: the call fails as INTERNAL and the RPC server logs this error in full.
struct UnreadableDocument: Error, CustomStringConvertible {
    let kind: DocumentKind
    let id: String
    let reason: RPCError

    var description: String { "stored \(kind.noun) \(id) is not a JSON object: \(reason.message)" }
}

extension PB.Document {
    /// A stored resource as an answer: its JSON with `id`, `version` and RFC 3339 timestamps added
    /// (and `agent_id` for rules and scripts). Throws `UnreadableDocument` for a damaged record.
    init(_ record: DocumentRecord, warnings: [FieldViolation] = []) throws(UnreadableDocument) {
        self.init()
        var members: [String: JSONValue]
        do {
            members = try JSONValue.parseObject(record.doc)
        } catch {
            throw UnreadableDocument(kind: record.kind, id: record.id, reason: error)
        }
        members["id"] = .string(record.id)
        members["version"] = .int(record.version)
        members["created_at"] = .string(ResourceJSON.timestamp(micros: record.createdAt))
        members["updated_at"] = .string(ResourceJSON.timestamp(micros: record.updatedAt))
        if record.kind != .agent { members["agent_id"] = .string(record.agentID) }
        id = record.id
        parentId = record.agentID
        json = String(decoding: JSONValue.object(members).data(), as: UTF8.self)
        version = record.version
        createdAtMicros = record.createdAt
        updatedAtMicros = record.updatedAt
        self.warnings = warnings.map { PB.FieldViolation(field: $0.field, message: $0.message) }
    }
}


extension PB.Decision {
    /// A stored decision as the answer to Evaluate. Cancelled timers have no field on the wire: a timer
    /// that fires anyway is checked again and explained, so dropping them is only a saving. An action that
    /// does not encode fails the call (INTERNAL, logged by the RPC server) rather than travel as `{}`.
    init(_ record: DecisionRecord) throws {
        self.init()
        let decision = record.decision
        eventId = decision.eventID
        decidedAtMicros = decision.evaluatedAt.unixMicros
        actions = decision.actions.map { planned in
            var action = PB.PlannedAction()
            action.idempotencyKey = planned.idempotencyKey
            action.ruleId = planned.ruleID
            action.agentId = planned.agentID
            action.actionIndex = Int32(planned.actionIndex)
            action.action = PB.Action(planned.action)
            action.leadId = planned.leadID ?? 0
            action.eventId = planned.eventID
            action.ruleName = record.ruleNames[planned.ruleID] ?? ""
            return action
        }
        timers = decision.timers.map { planned in
            var timer = PB.PlannedTimer()
            timer.key = planned.key
            timer.ruleId = planned.ruleID
            timer.agentId = planned.agentID
            timer.leadId = planned.leadID
            timer.dueAtMicros = planned.dueAt.unixMicros
            timer.anchor = planned.anchor.rawValue
            return timer
        }
        explanations = decision.explanations.map { why in
            var explanation = PB.RuleExplanation()
            explanation.ruleId = why.ruleID
            explanation.agentId = why.agentID
            explanation.ruleName = record.ruleNames[why.ruleID] ?? ""
            explanation.outcome = PB.RuleOutcome(why.outcome)
            explanation.detail = why.detail
            explanation.failingLeaf = why.failingLeaf?.path ?? ""
            return explanation
        }
        cascade = decision.cascade.map { PB.Cascade($0, ruleNames: record.ruleNames) }
    }
}

// MARK: - Cascades

extension PB.Cascade {
    /// The chain of a decision, with each rule's name as the decision knew it (else as the write was
    /// recorded).
    init(_ verdict: CascadeVerdict, ruleNames: [String: String] = [:]) {
        self.init()
        originEventId = verdict.chain.originEventID
        depth = Int32(clamping: verdict.chain.depth)
        steps = verdict.chain.steps.map { step in
            var wire = PB.CascadeStep()
            wire.ruleId = step.ruleID
            wire.ruleName = ruleNames[step.ruleID] ?? step.ruleName
            wire.eventId = step.eventID
            wire.atMicros = step.at.unixMicros
            return wire
        }
        maxDepth = Int32(clamping: verdict.maxDepth)
        stopped = verdict.stopped
    }
}

extension PB.CascadeStop {
    init(_ record: CascadeStopRecord) {
        self.init()
        let names = Dictionary(record.rules.map { ($0.ruleID, $0.ruleName) }, uniquingKeysWith: { first, _ in first })
        rules = record.rules.map { ref in
            var rule = PB.CascadeRule()
            rule.ruleId = ref.ruleID
            rule.ruleName = ref.ruleName
            rule.agentId = ref.agentID
            return rule
        }
        stops = record.stops
        lastStoppedAtMicros = record.lastAt
        lastEventId = record.lastEventID
        lastLeadId = record.lastLeadID
        lastCascade = PB.Cascade(record.lastCascade, ruleNames: names)
    }
}

extension PB.ScriptRef {
    init(_ record: DocumentRecord, _ script: ScriptResource) {
        self.init()
        id = record.id
        version = record.version
        type = PB.ScriptType(script.type)
        name = script.name
        body = script.body
        triggerPhrases = script.triggerPhrases
        blockOnMissing = script.blockOnMissing
        language = script.language
    }
}

extension PB.ScriptType {
    /// The wire value of a script document's `type`; validation admits only `ScriptResource.types`.
    init(_ type: String) {
        self = switch type {
        case "greeting": .greeting
        case "qualification": .qualification
        case "presentation": .presentation
        case "objection_handling": .objectionHandling
        case "closing": .closing
        default: .unspecified
        }
    }
}

extension PB.AgentStatus {
    /// The wire value of an agent document's `status`; validation admits only active and paused.
    init(_ status: String) {
        self = switch status {
        case AgentResource.active: .active
        case AgentResource.paused: .paused
        default: .unspecified
        }
    }
}

// MARK: - Explanations

extension PB.RuleOutcome {
    init(_ outcome: RuleOutcome) {
        self = switch outcome {
        case .fired: .fired
        case .triggerMismatch: .triggerMismatch
        case .conditionFalse: .conditionFalse
        case .cooldown: .cooldown
        case .maxFires: .maxFires
        case .disabled: .disabled
        case .stoppedByPriority: .stoppedByPriority
        case .loopGuard: .loopGuard
        case .agentPaused: .agentPaused
        case .agentScope: .agentScope
        case .timerNotDue: .timerNotDue
        case .timerCancelled: .timerCancelled
        case .budgetExceeded: .budgetExceeded
        }
    }
}
