import Domain
import Foundation

// MARK: - Lead facts

/// What the rules engine remembers about one lead between events: where it is, when things last happened,
/// and the last value seen of every field. rules-service stores one per lead and hands it back to
/// `RuleEngine.evaluate`, which returns the updated copy in `Decision.facts`.
package struct LeadFacts: Sendable, Hashable, Codable {
    /// The Kommo lead id.
    package var leadID: Int64
    /// Current pipeline, when known.
    package var pipelineID: Int64?
    /// Current stage (Kommo `status_id`), when known.
    package var stageID: Int64?
    /// When the lead entered `stageID`. Unknown when the stage was first learned from an update rather
    /// than from a creation or a stage change: a guessed time would arm timers at the wrong moment.
    package var stageEnteredAt: Date?
    /// When the lead was created.
    package var leadCreatedAt: Date?
    /// The last incoming message.
    package var lastInboundAt: Date?
    /// The last outgoing message.
    package var lastOutboundAt: Date?
    /// How many incoming messages the lead has sent since we started watching it.
    package var inboundCount: Int
    /// The text of the last incoming message (capped), so that `message_text` works on timers too.
    package var lastInboundText: String?
    /// The channel of the last incoming message (`waba`, `telegram`, …).
    package var lastInboundOrigin: String?
    /// The lead's responsible user.
    package var responsibleUserID: Int64?
    /// Last seen field values under canonical keys (see `FieldRef`): `price`, `cf.123`, `cf.budget`,
    /// `contact.cf.email`. Multi-valued custom fields are joined with `", "`.
    package var fieldValues: [String: String]
    /// When the facts last changed (the evaluation time of that event).
    package var updatedAt: Date?
    /// Ids of the last events applied, so that a replayed event does not count a message twice.
    package var recentEventIDs: [String]

    /// Facts of a lead seen for the first time.
    package init(
        leadID: Int64, pipelineID: Int64? = nil, stageID: Int64? = nil, stageEnteredAt: Date? = nil,
        leadCreatedAt: Date? = nil, lastInboundAt: Date? = nil, lastOutboundAt: Date? = nil,
        inboundCount: Int = 0, lastInboundText: String? = nil, lastInboundOrigin: String? = nil,
        responsibleUserID: Int64? = nil, fieldValues: [String: String] = [:], updatedAt: Date? = nil,
        recentEventIDs: [String] = []
    ) {
        self.leadID = leadID; self.pipelineID = pipelineID; self.stageID = stageID
        self.stageEnteredAt = stageEnteredAt; self.leadCreatedAt = leadCreatedAt
        self.lastInboundAt = lastInboundAt; self.lastOutboundAt = lastOutboundAt
        self.inboundCount = inboundCount; self.lastInboundText = lastInboundText
        self.lastInboundOrigin = lastInboundOrigin; self.responsibleUserID = responsibleUserID
        self.fieldValues = fieldValues; self.updatedAt = updatedAt; self.recentEventIDs = recentEventIDs
    }

    /// The last seen value of a field, or `nil` when it was never seen.
    package func value(of field: FieldRef) -> String? {
        for key in field.lookupKeys {
            if let value = fieldValues[key] { return value }
        }
        return nil
    }

    /// The time of an anchor, when known.
    package func time(of anchor: TimeAnchor) -> Date? {
        switch anchor {
        case .stageEntered: stageEnteredAt
        case .leadCreated: leadCreatedAt
        case .lastInbound: lastInboundAt
        case .lastOutbound: lastOutboundAt
        }
    }

    private enum CodingKeys: String, CodingKey {
        case leadID = "lead_id", pipelineID = "pipeline_id", stageID = "stage_id"
        case stageEnteredAt = "stage_entered_at", leadCreatedAt = "lead_created_at"
        case lastInboundAt = "last_inbound_at", lastOutboundAt = "last_outbound_at"
        case inboundCount = "inbound_count", lastInboundText = "last_inbound_text"
        case lastInboundOrigin = "last_inbound_origin", responsibleUserID = "responsible_user_id"
        case fieldValues = "field_values", updatedAt = "updated_at", recentEventIDs = "recent_event_ids"
    }
}

// MARK: - Per (rule, lead) state

/// Firing history of one rule for one lead: what cooldown and the fire limit are computed from.
package struct RuleState: Sendable, Hashable, Codable {
    /// When the rule last fired for the lead.
    package var lastFiredAt: Date?
    /// How many times it fired for the lead.
    package var fireCount: Int

    /// Creates a state.
    package init(lastFiredAt: Date? = nil, fireCount: Int = 0) {
        self.lastFiredAt = lastFiredAt; self.fireCount = fireCount
    }

    private enum CodingKeys: String, CodingKey { case lastFiredAt = "last_fired_at", fireCount = "fire_count" }
}

// MARK: - Own writes (loop guard)

/// What kind of write to Kommo we made.
package enum OwnWriteKind: String, RuleKeyword {
    /// We moved the lead (`value` is the stage id).
    case stageChange = "stage_change"
    /// We added a note (`value` is its rendered text).
    case note
    /// We set a field (`field` is the reference, `value` the value written).
    case field

    /// Names the word in decoding errors.
    package static var keywordKind: String { "own write kind" }
}

/// A recent write of ours to a lead. Kommo echoes our writes back as webhooks; the engine uses these to
/// recognise the echo and not re-trigger the rule that caused it (`loop_guard`).
package struct OwnWrite: Sendable, Hashable, Codable {
    /// What we wrote.
    package var kind: OwnWriteKind
    /// The lead written to.
    package var leadID: Int64
    /// For field writes: the field reference (see `FieldRef`).
    package var field: String?
    /// The stage id, note text or field value written.
    package var value: String
    /// The rule whose action made the write.
    package var ruleID: String
    /// When the write was made (or planned).
    package var at: Date
    /// The chain the write's echo carries: the chain of the event whose decision planned the write, one
    /// step longer. `nil` for writes recorded before chains were kept.
    package var cascade: Cascade?
    /// The event already taken as this write's echo, if any; it continues no other event's chain.
    package var echoedBy: String?

    /// Creates an own write.
    package init(kind: OwnWriteKind, leadID: Int64, field: String? = nil, value: String, ruleID: String, at: Date,
                 cascade: Cascade? = nil, echoedBy: String? = nil) {
        self.kind = kind; self.leadID = leadID; self.field = field; self.value = value; self.ruleID = ruleID; self.at = at
        self.cascade = cascade; self.echoedBy = echoedBy
    }

    private enum CodingKeys: String, CodingKey {
        case kind, leadID = "lead_id", field, value, ruleID = "rule_id", at, cascade, echoedBy = "echoed_by"
    }
}

// MARK: - Agent gates

/// The agent-level switches that decide whether an agent's rules may run at all.
package struct AgentGate: Sendable, Hashable, Codable {
    /// The agent.
    package var agentID: String
    /// A paused agent's rules do not fire (`agent_paused`).
    package var paused: Bool
    /// Pipelines the agent works in; empty means all. Leads elsewhere are `agent_scope`.
    package var pipelineIDs: [Int64]
    /// Stages the agent works in; empty means all.
    package var stageIDs: [Int64]
    /// The agent's working hours, read by `within_working_hours`; `nil` means around the clock.
    package var workingHours: WorkingHours?

    /// Creates a gate; the defaults describe an active agent working everywhere, always.
    package init(agentID: String, paused: Bool = false, pipelineIDs: [Int64] = [], stageIDs: [Int64] = [], workingHours: WorkingHours? = nil) {
        self.agentID = agentID; self.paused = paused; self.pipelineIDs = pipelineIDs
        self.stageIDs = stageIDs; self.workingHours = workingHours
    }

    private enum CodingKeys: String, CodingKey {
        case agentID = "agent_id", paused, pipelineIDs = "pipeline_ids", stageIDs = "stage_ids"
        case workingHours = "working_hours"
    }
}
