import Basics
import Domain
import Foundation
import GRDB
import ServiceKit
import Wire

extension IngestStore {
    /// Rewrites the decisions earlier releases stored (`PB.DecisionV1`: each action as a type name and
    /// JSON text, outcomes as strings) in today's typed form, so that every stored decision reads as a
    /// `PB.Decision`.
    static func migrateDecisionsToTypedActions(_ db: Database) throws {
        let rows = try Row.fetchCursor(db, sql: "SELECT seq, decision FROM event WHERE decision IS NOT NULL")
        var rewritten: [(Int64, Data)] = []
        while let row = try rows.next() {
            let bytes: Data = row["decision"]
            let old = try PB.DecisionV1(serializedBytes: Array(bytes))
            rewritten.append((row["seq"], Data(try PB.Decision(old).serializedBytes())))
        }
        for (seq, bytes) in rewritten {
            try db.execute(sql: "UPDATE event SET decision = ? WHERE seq = ?", arguments: [bytes, seq])
        }
    }
}

extension PB.Decision {
    /// An earlier release's decision. An action whose document does not read as an action keeps no
    /// action: sequence-service refuses it, as it would have failed to run it before.
    init(_ old: PB.DecisionV1) {
        self.init()
        eventId = old.eventId
        decidedAtMicros = old.decidedAtMicros
        timers = old.timers
        actions = old.actions.map { legacy in
            var planned = PB.PlannedAction()
            planned.idempotencyKey = legacy.idempotencyKey
            planned.ruleId = legacy.ruleId
            planned.agentId = legacy.agentId
            planned.actionIndex = legacy.actionIndex
            planned.leadId = legacy.leadId
            planned.eventId = legacy.eventId
            planned.ruleName = legacy.ruleName
            if case .object(var members)? = JSONValue(parsing: legacy.actionDocument) {
                if members["type"] == nil { members["type"] = .string(legacy.actionType) }
                if let action = try? RuleJSON.decode(Action.self, from: JSONValue.object(members).data()) {
                    planned.action = PB.Action(action)
                }
            }
            return planned
        }
        explanations = old.explanations.map { legacy in
            var explanation = PB.RuleExplanation()
            explanation.ruleId = legacy.ruleId
            explanation.agentId = legacy.agentId
            explanation.ruleName = legacy.ruleName
            explanation.outcome = PB.RuleOutcome.allCases.first { $0.name == legacy.outcome } ?? .unspecified
            explanation.detail = legacy.detail
            explanation.failingLeaf = legacy.failingLeaf
            return explanation
        }
    }
}
