import Domain
import Foundation

// MARK: - Rule

/// A rule of an AI agent: when `trigger` happens to a lead and `conditions` hold, plan `actions` in order.
///
/// This type's JSON is the REST body of `/agents/{id}/rules`. Keys are snake_case; absent optional keys take
/// their defaults (`enabled` true, `priority` 0, `cooldown_seconds` 0, `stop_processing` false, no fire
/// limit, no conditions). `id` and `agent_id` may be left out of a create request: the server assigns them.
///
/// ```json
/// {
///   "id": "rule-hot-budget",
///   "agent_id": "agent-1",
///   "name": "Hot budget, no reply for a day",
///   "enabled": true,
///   "priority": 10,
///   "trigger": {"type": "time_based", "anchor": "stage_entered", "after_seconds": 86400,
///               "pipeline_id": 7001, "stage_id": 501, "cancel_on": ["inbound_message"]},
///   "conditions": {"all": [
///     {"type": "field_value", "field": "cf.Budget", "operator": "in", "values": ["2500-5000", "5000+"]},
///     {"any": [
///       {"type": "message_origin", "origins": ["waba", "telegram"]},
///       {"not": {"type": "responsible_user_is", "user_ids": [42]}}
///     ]},
///     {"type": "within_working_hours"}
///   ]},
///   "actions": [
///     {"type": "send_message", "text": "Hi {{lead.name}}, still interested?"},
///     {"type": "create_task", "text": "Call the lead", "due_in_seconds": 3600, "task_type": 1},
///     {"type": "kommo_action", "operation": "run_salesbot", "parameters": {"bot_id": "12"}}
///   ],
///   "cooldown_seconds": 3600,
///   "max_fires_per_lead": 3,
///   "stop_processing": true,
///   "created_at": "2025-01-26T09:30:00Z"
/// }
/// ```
///
/// A condition node is an object with exactly one of `all` (array), `any` (array), `not` (one node) or
/// `type` (a leaf; its other keys depend on the type, see `Condition`). Paths in problems and explanations
/// follow this shape: `conditions.all[1].any[0].origins`.
package struct Rule: Sendable, Hashable, Codable {
    /// Stable id; part of idempotency keys, timer keys and cooldown state.
    package var id: String
    /// The agent the rule belongs to; agent gates (paused, scope, working hours) come from it.
    package var agentID: String
    /// A name for people.
    package var name: String
    /// Disabled rules never fire; they are still explained when their trigger matches.
    package var enabled: Bool
    /// Higher runs first. Ties run in `id` order so that outcomes never depend on storage order.
    package var priority: Int
    /// What starts an evaluation of this rule.
    package var trigger: Trigger
    /// The condition tree; `nil` means always.
    package var conditions: Condition?
    /// Planned in order when the rule fires.
    package var actions: [Action]
    /// After firing for a lead, the rule does not fire again for that lead for this long (0 = no cooldown).
    package var cooldownSeconds: Int
    /// How many times the rule may fire for one lead; `nil` means no limit.
    package var maxFiresPerLead: Int?
    /// When the rule fires, rules of the same agent with a lower priority do not.
    package var stopProcessing: Bool
    /// When the rule was created, if the store tracks it.
    package var createdAt: Date?
    /// When the rule was last changed, if the store tracks it.
    package var updatedAt: Date?

    /// Creates a rule; the defaults match those of the JSON body.
    package init(
        id: String, agentID: String, name: String, enabled: Bool = true, priority: Int = 0,
        trigger: Trigger, conditions: Condition? = nil, actions: [Action],
        cooldownSeconds: Int = 0, maxFiresPerLead: Int? = nil, stopProcessing: Bool = false,
        createdAt: Date? = nil, updatedAt: Date? = nil
    ) {
        self.id = id; self.agentID = agentID; self.name = name; self.enabled = enabled
        self.priority = priority; self.trigger = trigger; self.conditions = conditions; self.actions = actions
        self.cooldownSeconds = cooldownSeconds; self.maxFiresPerLead = maxFiresPerLead
        self.stopProcessing = stopProcessing; self.createdAt = createdAt; self.updatedAt = updatedAt
    }

    private enum CodingKeys: String, CodingKey {
        case id, agentID = "agent_id", name, enabled, priority, trigger, conditions, actions
        case cooldownSeconds = "cooldown_seconds", maxFiresPerLead = "max_fires_per_lead"
        case stopProcessing = "stop_processing", createdAt = "created_at", updatedAt = "updated_at"
    }

    /// Decodes the REST body, applying the documented defaults.
    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decodeIfPresent(String.self, forKey: .id) ?? ""
        agentID = try c.decodeIfPresent(String.self, forKey: .agentID) ?? ""
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        priority = try c.decodeIfPresent(Int.self, forKey: .priority) ?? 0
        trigger = try c.decode(Trigger.self, forKey: .trigger)
        conditions = try c.decodeIfPresent(Condition.self, forKey: .conditions)
        actions = try c.decodeIfPresent([Action].self, forKey: .actions) ?? []
        cooldownSeconds = try c.decodeIfPresent(Int.self, forKey: .cooldownSeconds) ?? 0
        maxFiresPerLead = try c.decodeIfPresent(Int.self, forKey: .maxFiresPerLead)
        stopProcessing = try c.decodeIfPresent(Bool.self, forKey: .stopProcessing) ?? false
        createdAt = try c.decodeISODateIfPresent(forKey: .createdAt)
        updatedAt = try c.decodeISODateIfPresent(forKey: .updatedAt)
    }

    /// Encodes the REST body; absent optionals are left out rather than written as `null`.
    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(agentID, forKey: .agentID)
        try c.encode(name, forKey: .name)
        try c.encode(enabled, forKey: .enabled)
        try c.encode(priority, forKey: .priority)
        try c.encode(trigger, forKey: .trigger)
        try c.encodeIfPresent(conditions, forKey: .conditions)
        try c.encode(actions, forKey: .actions)
        try c.encode(cooldownSeconds, forKey: .cooldownSeconds)
        try c.encodeIfPresent(maxFiresPerLead, forKey: .maxFiresPerLead)
        try c.encode(stopProcessing, forKey: .stopProcessing)
        try c.encodeIfPresent(createdAt.map(RuleDate.string), forKey: .createdAt)
        try c.encodeIfPresent(updatedAt.map(RuleDate.string), forKey: .updatedAt)
    }
}

// MARK: - Trigger

/// What starts the evaluation of a rule.
package enum TriggerType: String, RuleKeyword {
    /// A lead was created (`lead_created`).
    case leadCreated = "lead_created"
    /// A lead changed: `lead_updated`, `responsible_changed` and `note_added` events. Notes count as updates
    /// because Kommo reports them on the lead, and the loop guard must see our own notes come back.
    case leadUpdated = "lead_updated"
    /// An incoming chat message arrived (`message_received` with a direction other than `outgoing`).
    case messageReceived = "message_received"
    /// A lead moved into a stage, optionally a given pipeline/stage (`stage_changed`).
    case stageChanged = "stage_changed"
    /// A duration passed after an anchor; started by a `timer_fired` event for this rule.
    case timeBased = "time_based"
    /// An operator ran the rule (a `manual` event).
    case manual
    /// Digital Pipeline: an incoming e-mail for the lead (`lead_mail_in`).
    case leadMailIn = "lead_mail_in"
    /// Digital Pipeline: an incoming call for the lead (`lead_call_in`).
    case leadCallIn = "lead_call_in"
    /// Digital Pipeline: an incoming chat message for the lead (`lead_chat`).
    case leadChat = "lead_chat"
    /// Digital Pipeline: the lead visited the site (`lead_site_visit`).
    case leadSiteVisit = "lead_site_visit"
    /// Digital Pipeline: a customer's purchase period came (`customer_period`).
    case customerPeriod = "customer_period"

    /// The Digital Pipeline triggers, each started by the event type of its own name.
    package static let digitalPipeline: [TriggerType] = [.leadMailIn, .leadCallIn, .leadChat, .leadSiteVisit, .customerPeriod]

    /// The event type a Digital Pipeline trigger waits for; `nil` for the other triggers.
    package var digitalPipelineEvent: EventType? {
        Self.digitalPipeline.contains(self) ? EventType(rawValue: rawValue) : nil
    }

    /// Names the word in decoding errors.
    package static var keywordKind: String { "trigger type" }
}

/// A moment in a lead's life that `time_based` triggers and `time_elapsed` conditions measure from.
package enum TimeAnchor: String, RuleKeyword {
    /// When the lead entered its current stage.
    case stageEntered = "stage_entered"
    /// When the lead was created.
    case leadCreated = "lead_created"
    /// The last incoming message.
    case lastInbound = "last_inbound"
    /// The last outgoing message.
    case lastOutbound = "last_outbound"

    /// Names the word in decoding errors.
    package static var keywordKind: String { "anchor" }
}

/// Something that, when it happens after a `time_based` trigger's anchor, means the timer must not fire.
package enum TimerCancel: String, RuleKeyword {
    /// The lead wrote to us: "no reply for 24 h" no longer holds.
    case inboundMessage = "inbound_message"
    /// We (or a manager) wrote to the lead.
    case outboundMessage = "outbound_message"
    /// The lead moved to another stage.
    case stageChange = "stage_change"

    /// Names the word in decoding errors.
    package static var keywordKind: String { "cancel event" }
}

/// When a rule runs. One flat object whose keys depend on `type`:
///
/// - `{"type": "lead_created"}`, `{"type": "lead_updated"}`, `{"type": "message_received"}`, `{"type": "manual"}`
/// - the Digital Pipeline webhooks a stage sends: `{"type": "lead_mail_in"}`, `lead_call_in`, `lead_chat`,
///   `lead_site_visit`, `customer_period`
/// - `{"type": "stage_changed", "pipeline_id": 7001, "stage_id": 501}` (both optional)
/// - `{"type": "time_based", "anchor": "last_outbound", "after_seconds": 86400, "cancel_on": ["inbound_message"]}`;
///   `pipeline_id`/`stage_id` are allowed with the `stage_entered` anchor and mean "after entering that stage".
///
/// Creating a lead in a stage is `lead_created`, not `stage_changed`.
///
/// A time-based rule arms a timer (anchor + `after_seconds`) each time its anchor moves; the timer comes
/// back as a `timer_fired` event and the rule fires then unless one of `cancel_on` happened after the anchor.
/// `cancel_on` defaults to `["inbound_message"]`, the common "no reply" case; `[]` makes a plain reminder.
package struct Trigger: Sendable, Hashable, Codable {
    /// The kind of trigger.
    package var type: TriggerType
    /// `stage_changed` / `time_based` with `stage_entered`: only this pipeline.
    package var pipelineID: Int64?
    /// `stage_changed` / `time_based` with `stage_entered`: only this stage.
    package var stageID: Int64?
    /// `time_based`: what the duration is measured from.
    package var anchor: TimeAnchor?
    /// `time_based`: how long after the anchor.
    package var afterSeconds: Int?
    /// `time_based`: what voids the timer; `nil` means `[.inboundMessage]`.
    package var cancelOn: [TimerCancel]?

    /// Creates a trigger; use the static helpers for the common shapes.
    package init(
        type: TriggerType, pipelineID: Int64? = nil, stageID: Int64? = nil,
        anchor: TimeAnchor? = nil, afterSeconds: Int? = nil, cancelOn: [TimerCancel]? = nil
    ) {
        self.type = type; self.pipelineID = pipelineID; self.stageID = stageID
        self.anchor = anchor; self.afterSeconds = afterSeconds; self.cancelOn = cancelOn
    }

    /// A `stage_changed` trigger, optionally limited to a pipeline and stage.
    package static func stageChanged(pipelineID: Int64? = nil, stageID: Int64? = nil) -> Trigger {
        Trigger(type: .stageChanged, pipelineID: pipelineID, stageID: stageID)
    }

    /// A `time_based` trigger.
    package static func timeBased(
        _ anchor: TimeAnchor, after seconds: Int, cancelOn: [TimerCancel]? = nil,
        pipelineID: Int64? = nil, stageID: Int64? = nil
    ) -> Trigger {
        Trigger(type: .timeBased, pipelineID: pipelineID, stageID: stageID, anchor: anchor, afterSeconds: seconds, cancelOn: cancelOn)
    }

    /// The cancel events in force, with the default applied.
    package var effectiveCancelOn: [TimerCancel] { cancelOn ?? [.inboundMessage] }

    private enum CodingKeys: String, CodingKey {
        case type, pipelineID = "pipeline_id", stageID = "stage_id", anchor
        case afterSeconds = "after_seconds", cancelOn = "cancel_on"
    }
}
