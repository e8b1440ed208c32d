import Domain
import Foundation

// MARK: - Decision

/// The result of evaluating one event: what to remember, what to do, when to look again, and why each rule
/// did or did not fire. rules-service stores it keyed by event id and returns it unchanged on a retry.
package struct Decision: Sendable, Hashable, Codable {
    /// The event evaluated.
    package var eventID: String
    /// The event's lead, when it has one.
    package var leadID: Int64?
    /// The injected evaluation time.
    package var evaluatedAt: Date
    /// A dry run: nothing here is meant to be executed or stored.
    package var dryRun: Bool
    /// The lead's facts after this event; `nil` for events without a lead.
    package var facts: LeadFacts?
    /// Actions of the rules that fired, in rule order then action order.
    package var actions: [PlannedAction]
    /// Timers to (re)arm; each replaces any earlier timer with the same key.
    package var timers: [PlannedTimer]
    /// Timers that can be dropped because what they wait for can no longer happen. A dropped timer is only
    /// a saving: a timer that fires anyway is re-checked and explained.
    package var cancelledTimers: [TimerCancellation]
    /// One explanation per rule considered (per rule of the tenant in a dry run).
    package var explanations: [RuleExplanation]
    /// New cooldown/fire-count state by rule id, for this event's lead.
    package var stateUpdates: [String: RuleState]
    /// When the event echoes a write of ours: the chain of our writes that led to it, and whether the
    /// cascade bound stopped rules on it. `nil` for an event that starts a chain (a manager's change).
    package var cascade: CascadeVerdict?

    /// Creates a decision.
    package init(
        eventID: String, leadID: Int64?, evaluatedAt: Date, dryRun: Bool, facts: LeadFacts?,
        actions: [PlannedAction] = [], timers: [PlannedTimer] = [], cancelledTimers: [TimerCancellation] = [],
        explanations: [RuleExplanation] = [], stateUpdates: [String: RuleState] = [:], cascade: CascadeVerdict? = nil
    ) {
        self.eventID = eventID; self.leadID = leadID; self.evaluatedAt = evaluatedAt; self.dryRun = dryRun
        self.facts = facts; self.actions = actions; self.timers = timers; self.cancelledTimers = cancelledTimers
        self.explanations = explanations; self.stateUpdates = stateUpdates; self.cascade = cascade
    }

    /// The explanation for a rule, if it was considered.
    package func explanation(for ruleID: String) -> RuleExplanation? {
        explanations.first { $0.ruleID == ruleID }
    }

    /// Ids of the rules that fired, in order.
    package var firedRuleIDs: [String] {
        explanations.filter { $0.outcome == .fired }.map(\.ruleID)
    }

    private enum CodingKeys: String, CodingKey {
        case eventID = "event_id", leadID = "lead_id", evaluatedAt = "evaluated_at", dryRun = "dry_run", facts
        case actions, timers, cancelledTimers = "cancelled_timers", explanations, stateUpdates = "state_updates", cascade
    }
}

// MARK: - Planned work

/// An action to execute, with the key that makes its execution idempotent across retries and replays.
package struct PlannedAction: Sendable, Hashable, Codable {
    /// `<event id>:<rule id>:<action index>`.
    package var idempotencyKey: String
    /// The event that caused it.
    package var eventID: String
    /// The rule that planned it.
    package var ruleID: String
    /// The rule's agent (the executor loads its scripts and AI settings).
    package var agentID: String
    /// Position in the rule's action list.
    package var actionIndex: Int
    /// The lead to act on.
    package var leadID: Int64?
    /// What to do.
    package var action: Action

    /// Creates a planned action with its idempotency key.
    package init(eventID: String, ruleID: String, agentID: String, actionIndex: Int, leadID: Int64?, action: Action) {
        self.idempotencyKey = PlannedAction.idempotencyKey(eventID: eventID, ruleID: ruleID, actionIndex: actionIndex)
        self.eventID = eventID; self.ruleID = ruleID; self.agentID = agentID
        self.actionIndex = actionIndex; self.leadID = leadID; self.action = action
    }

    /// The idempotency key of the `actionIndex`-th action of a rule fired by an event.
    package static func idempotencyKey(eventID: String, ruleID: String, actionIndex: Int) -> String {
        "\(eventID):\(ruleID):\(actionIndex)"
    }

    /// The write to Kommo this action will make, for the loop guard: stage changes, notes and field writes
    /// come back as webhooks. The executor should record the rendered note text or field value (templates
    /// are rendered at execution); this gives the unrendered form, exact when there are no variables.
    package func ownWrite(at time: Date) -> OwnWrite? {
        guard let leadID else { return nil }
        switch action.type {
        case .changeStage:
            return action.stageID.map { OwnWrite(kind: .stageChange, leadID: leadID, value: String($0), ruleID: ruleID, at: time) }
        case .addNote:
            return action.text.map { OwnWrite(kind: .note, leadID: leadID, value: $0, ruleID: ruleID, at: time) }
        case .setField:
            guard let field = action.field else { return nil }
            return OwnWrite(kind: .field, leadID: leadID, field: field, value: action.value ?? "", ruleID: ruleID, at: time)
        case .kommoAction:
            let parameters = action.parameters ?? [:]
            switch action.operation {
            case .changeStage:
                return parameters["status_id"].map { OwnWrite(kind: .stageChange, leadID: leadID, value: $0, ruleID: ruleID, at: time) }
            case .addNote:
                return parameters["text"].map { OwnWrite(kind: .note, leadID: leadID, value: $0, ruleID: ruleID, at: time) }
            case .setField:
                guard let field = parameters["field"] else { return nil }
                return OwnWrite(kind: .field, leadID: leadID, field: field, value: parameters["value"] ?? "", ruleID: ruleID, at: time)
            default:
                return nil
            }
        default:
            return nil
        }
    }

    private enum CodingKeys: String, CodingKey {
        case idempotencyKey = "idempotency_key", eventID = "event_id", ruleID = "rule_id", agentID = "agent_id"
        case actionIndex = "action_index", leadID = "lead_id", action
    }
}

/// A time to look at a lead again for a `time_based` rule. When due, sequence-service ingests a
/// `timer_fired` event with `ruleID` and `leadID` set.
package struct PlannedTimer: Sendable, Hashable, Codable {
    /// `<rule id>:<lead id>`: arming again replaces the earlier timer, so a lead has at most one per rule.
    package var key: String
    /// The time-based rule.
    package var ruleID: String
    /// The rule's agent.
    package var agentID: String
    /// The lead.
    package var leadID: Int64
    /// When to fire.
    package var dueAt: Date
    /// The anchor the duration counts from.
    package var anchor: TimeAnchor
    /// The anchor's time when the timer was armed.
    package var anchorAt: Date

    /// Creates a timer with its key.
    package init(ruleID: String, agentID: String, leadID: Int64, dueAt: Date, anchor: TimeAnchor, anchorAt: Date) {
        self.key = PlannedTimer.key(ruleID: ruleID, leadID: leadID)
        self.ruleID = ruleID; self.agentID = agentID; self.leadID = leadID
        self.dueAt = dueAt; self.anchor = anchor; self.anchorAt = anchorAt
    }

    /// The key of a rule's timer for a lead.
    package static func key(ruleID: String, leadID: Int64) -> String { "\(ruleID):\(leadID)" }

    private enum CodingKeys: String, CodingKey {
        case key, ruleID = "rule_id", agentID = "agent_id", leadID = "lead_id", dueAt = "due_at"
        case anchor, anchorAt = "anchor_at"
    }
}

/// A timer that can be dropped.
package struct TimerCancellation: Sendable, Hashable, Codable {
    /// The timer's key (`PlannedTimer.key`).
    package var key: String
    /// The time-based rule.
    package var ruleID: String
    /// The lead.
    package var leadID: Int64
    /// Why, for the action log.
    package var reason: String

    /// Creates a cancellation with the timer's key.
    package init(ruleID: String, leadID: Int64, reason: String) {
        self.key = PlannedTimer.key(ruleID: ruleID, leadID: leadID)
        self.ruleID = ruleID; self.leadID = leadID; self.reason = reason
    }

    private enum CodingKeys: String, CodingKey { case key, ruleID = "rule_id", leadID = "lead_id", reason }
}

// MARK: - Explanations

/// Why a rule fired or did not.
package enum RuleOutcome: String, RuleKeyword {
    /// The rule fired; its actions are planned.
    case fired
    /// The event is not what the rule waits for (another event type, another stage, an outgoing message…).
    case triggerMismatch = "trigger_mismatch"
    /// The condition tree is false; `failingLeaf` says which leaf and why.
    case conditionFalse = "condition_false"
    /// The rule fired for this lead recently; `until` says when it may fire again.
    case cooldown
    /// The rule fired for this lead as often as allowed.
    case maxFires = "max_fires"
    /// The rule is switched off.
    case disabled
    /// A higher-priority rule of the same agent fired with `stop_processing`; `blockedBy` names it.
    case stoppedByPriority = "stopped_by_priority"
    /// The event is the echo of a write this rule made (`blockedBy` is the rule id), or it echoes a chain of
    /// our writes deeper than the cascade bound (`blockedBy` is the chain's last rule; the decision's
    /// `cascade` holds the chain).
    case loopGuard = "loop_guard"
    /// The rule's agent is paused (or unknown).
    case agentPaused = "agent_paused"
    /// The lead is outside the agent's pipelines or stages.
    case agentScope = "agent_scope"
    /// A timer came back early or its anchor moved; a new timer is planned for the right time.
    case timerNotDue = "timer_not_due"
    /// A timer came back but what it waited for did not hold: e.g. the lead replied after the anchor.
    case timerCancelled = "timer_cancelled"
    /// Evaluating the rule's conditions on this event took more work than one rule (or the whole event) may
    /// spend (see `Limits.ruleBudget`); the rule was stopped and did not fire. The tenant's rule needs
    /// fewer or simpler conditions; other tenants are not slowed.
    case budgetExceeded = "budget_exceeded"

    /// Names the word in decoding errors.
    package static var keywordKind: String { "outcome" }
}

/// The leaf that made a condition tree false, with what was found and what was wanted.
package struct FailingLeaf: Sendable, Hashable, Codable {
    /// JSON path of the leaf, e.g. `conditions.all[1]`; for a `not` that failed, the path of the `not`.
    package var path: String
    /// The leaf type; for a failed `not`, the type of the negated leaf (or of the deciding leaf of a
    /// negated group); `nil` only for an empty group.
    package var kind: ConditionKind?
    /// The field, anchor or subject compared (`cf.Budget`, `last_inbound`, `stage`).
    package var subject: String?
    /// The operator, when the leaf has one.
    package var op: String?
    /// The actual value; `nil` when there was none.
    package var actual: String?
    /// The expected value or values.
    package var expected: String?
    /// A sentence saying why the leaf is false.
    package var reason: String

    /// Creates a failing leaf.
    package init(path: String, kind: ConditionKind?, subject: String? = nil, op: String? = nil, actual: String?, expected: String?, reason: String) {
        self.path = path; self.kind = kind; self.subject = subject; self.op = op
        self.actual = actual; self.expected = expected; self.reason = reason
    }

    private enum CodingKeys: String, CodingKey { case path, kind, subject, op = "operator", actual, expected, reason }
}

/// Why one rule fired or did not, for the rule's history and the dry-run screen.
package struct RuleExplanation: Sendable, Hashable, Codable {
    /// The rule.
    package var ruleID: String
    /// The rule's agent.
    package var agentID: String
    /// The outcome.
    package var outcome: RuleOutcome
    /// A sentence for people.
    package var detail: String
    /// For `condition_false`: the leaf that failed.
    package var failingLeaf: FailingLeaf?
    /// For `cooldown`: when the rule may fire again. For `timer_not_due`: when the new timer is due.
    package var until: Date?
    /// For `stopped_by_priority` and `loop_guard`: the rule responsible.
    package var blockedBy: String?

    /// Creates an explanation.
    package init(ruleID: String, agentID: String, outcome: RuleOutcome, detail: String, failingLeaf: FailingLeaf? = nil, until: Date? = nil, blockedBy: String? = nil) {
        self.ruleID = ruleID; self.agentID = agentID; self.outcome = outcome; self.detail = detail
        self.failingLeaf = failingLeaf; self.until = until; self.blockedBy = blockedBy
    }

    private enum CodingKeys: String, CodingKey {
        case ruleID = "rule_id", agentID = "agent_id", outcome, detail
        case failingLeaf = "failing_leaf", until, blockedBy = "blocked_by"
    }
}
