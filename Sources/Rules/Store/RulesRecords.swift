import Basics
import Domain
import RuleEngine
import Foundation

/// The resources rules-service stores as JSON documents with a few indexed columns.
package enum DocumentKind: String, Sendable, CaseIterable {
    case agent, rule, script, knowledge

    /// The table holding this kind (a constant, never user input).
    var table: String { rawValue }

    /// The word for messages: "agent", "rule", "sales script".
    package var noun: String {
        switch self {
        case .agent: "agent"
        case .rule: "rule"
        case .script: "sales script"
        case .knowledge: "knowledge document"
        }
    }
}

/// One stored agent, rule or script.
package struct DocumentRecord: Sendable, Hashable {
    package var kind: DocumentKind
    package var id: String
    package var tenantID: String
    /// The owning agent of a rule, script or knowledge document; empty for agents.
    package var agentID: String
    /// The resource JSON without the identity members answers add.
    package var doc: String
    package var version: Int64
    package var createdAt: Int64
    package var updatedAt: Int64
    /// Rules: `enabled`; scripts and knowledge documents: `active`; agents: status is `active`.
    package var enabled: Bool
    /// Rules only.
    package var priority: Int

    package init(kind: DocumentKind, id: String, tenantID: String, agentID: String = "", doc: String, version: Int64 = 1,
                 createdAt: Int64, updatedAt: Int64, enabled: Bool = true, priority: Int = 0) {
        self.kind = kind; self.id = id; self.tenantID = tenantID; self.agentID = agentID; self.doc = doc
        self.version = version; self.createdAt = createdAt; self.updatedAt = updatedAt
        self.enabled = enabled; self.priority = priority
    }
}

/// Where a listing continues: the sort key of the last item returned.
package struct PageCursor: Codable, Sendable, Hashable {
    /// The kind listed, so a cursor of one listing is refused by another.
    package var kind: String
    /// Rules: priority; others: creation time.
    package var position: Int64
    package var id: String

    private enum CodingKeys: String, CodingKey { case kind = "k", position = "p", id = "i" }

    package init(kind: String, position: Int64, id: String) { self.kind = kind; self.position = position; self.id = id }

    /// The opaque form handed to clients.
    package func token() throws -> String {
        try JSONEncoder().encode(self).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Reads a token; `nil` when it is not one of ours, which callers answer with INVALID_ARGUMENT on
    /// `cursor` (the client's mistake, so nothing is logged or counted here).
    package init?(token: String) {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64) else { return nil }
        do {
            self = try JSONDecoder().decode(PageCursor.self, from: data)
        } catch {
            return nil
        }
    }
}

/// What an evaluation reads about one lead, loaded in the transaction that stores its outcome.
package struct LeadInputs: Sendable {
    package var facts: LeadFacts?
    package var states: [String: RuleState]
    package var ownWrites: [OwnWrite]
}

/// A decision as stored by event: the engine's decision (without the facts, stored apart) and the rule
/// names at the time, so a repeat answers exactly what the first call did even after a rename.
package struct DecisionRecord: Codable, Sendable, Hashable {
    package var decision: Decision
    package var ruleNames: [String: String]
    /// The idempotency scope of a live replay, empty otherwise.
    package var replayScope: String

    private enum CodingKeys: String, CodingKey { case decision, ruleNames = "rule_names", replayScope = "replay_scope" }

    package init(decision: Decision, ruleNames: [String: String], replayScope: String) {
        self.decision = decision; self.ruleNames = ruleNames; self.replayScope = replayScope
    }
}

/// A script use reported by the executor.
package struct ScriptUseRecord: Sendable, Hashable {
    package var scriptID: String
    package var version: Int64
    package var leadID: Int64
    package var actionKey: String
    package var usedAt: Int64
    package var agentID: String
}

/// An own write reported by the executor; `kind` is `stage_change`, `note`, `field` or `message`.
package struct OwnWriteRecord: Sendable, Hashable {
    package var leadID: Int64
    package var kind: String
    package var field: String
    package var value: String
    package var ruleID: String
    package var at: Int64
    /// The event whose decision planned the write; empty when not known.
    package var eventID: String = ""
    /// The chain the write's echo carries; the store sets it when it records the write.
    package var cascade: Cascade? = nil
    /// The event taken as the write's echo; empty until one is.
    package var echoedBy: String = ""

    /// The loop guard's view; `nil` for kinds it does not match (messages).
    package var ownWrite: OwnWrite? {
        guard let kind = OwnWriteKind(rawValue: kind) else { return nil }
        return OwnWrite(kind: kind, leadID: leadID, field: field.isEmpty ? nil : field, value: value, ruleID: ruleID,
                        at: Date(unixMicros: at), cascade: cascade, echoedBy: echoedBy.isEmpty ? nil : echoedBy)
    }
}

/// A rule of a stopped cascade, as the rules page lists it.
package struct CascadeRuleRef: Sendable, Hashable, Codable {
    package var ruleID: String
    package var ruleName: String
    /// Empty when the rule is gone.
    package var agentID: String

    package init(ruleID: String, ruleName: String, agentID: String) {
        self.ruleID = ruleID; self.ruleName = ruleName; self.agentID = agentID
    }

    private enum CodingKeys: String, CodingKey { case ruleID = "rule_id", ruleName = "rule_name", agentID = "agent_id" }
}

/// A cycle of rules the cascade bound stopped, with how often and when last.
package struct CascadeStopRecord: Sendable, Hashable {
    /// The rules of the last stopped chain, each once, in the order they wrote.
    package var rules: [CascadeRuleRef]
    package var stops: Int64
    package var lastAt: Int64
    package var lastEventID: String
    package var lastLeadID: Int64
    /// The chain of the last stop.
    package var lastCascade: CascadeVerdict
}

/// One row of the daily outcome counters.
package struct RuleDayCount: Sendable, Hashable {
    package var ruleID: String
    package var day: String
    package var outcome: String
    package var count: Int
}

/// One row of script use counts.
package struct ScriptDayCount: Sendable, Hashable {
    package var version: Int64
    package var day: String
    package var count: Int
}

/// Why a store call could not do what it was asked; the server turns these into RPC errors.
package enum RulesStoreError: Error, Sendable, Hashable {
    /// No such resource for this tenant (and agent).
    case notFound(DocumentKind, String)
    /// `if_version` did not match.
    case versionMismatch(expected: Int64, actual: Int64)
    /// The agent has rules or scripts and no cascade was asked for.
    case hasDependents(rules: Int, scripts: Int)
    /// The tenant already holds `limit` resources of this kind.
    case quotaExceeded(DocumentKind, limit: Int)
    /// The agent already holds `limit` resources of this kind.
    case agentFull(DocumentKind, limit: Int)
}
