import Foundation

// MARK: - Event vocabulary

/// Where an event came from. Every event enters through ingest, whatever its origin.
package enum EventOrigin: String, Sendable, Codable, CaseIterable {
    /// A webhook posted by Kommo.
    case kommo
    /// A timer scheduled for a `time_based` rule came due.
    case timer
    /// An operator ran a rule by hand.
    case manual
    /// An operator replayed an earlier event live.
    case replay
}

/// The normalized type of an event. Unknown families are kept, never dropped.
package struct EventType: RawRepresentable, Hashable, Sendable, Codable, ExpressibleByStringLiteral, CustomStringConvertible {
    package var rawValue: String
    package init(rawValue: String) { self.rawValue = rawValue }
    package init(stringLiteral value: String) { self.rawValue = value }
    package var description: String { rawValue }

    package static let leadCreated: EventType = "lead_created"
    package static let leadUpdated: EventType = "lead_updated"
    package static let leadDeleted: EventType = "lead_deleted"
    package static let leadRestored: EventType = "lead_restored"
    package static let stageChanged: EventType = "stage_changed"
    package static let responsibleChanged: EventType = "responsible_changed"
    package static let noteAdded: EventType = "note_added"
    package static let callIn: EventType = "call_in"
    package static let callOut: EventType = "call_out"
    package static let messageReceived: EventType = "message_received"
    package static let talkCreated: EventType = "talk_created"
    package static let talkUpdated: EventType = "talk_updated"
    package static let taskCreated: EventType = "task_created"
    package static let taskUpdated: EventType = "task_updated"
    package static let taskCompleted: EventType = "task_completed"
    package static let taskDeleted: EventType = "task_deleted"
    package static let unsortedCreated: EventType = "unsorted_created"
    package static let unsortedAccepted: EventType = "unsorted_accepted"
    package static let unsortedUpdated: EventType = "unsorted_updated"
    /// `unsorted[delete]` with `action=decline`; the declined lead, when the body names it, is the event's lead.
    package static let unsortedDeclined: EventType = "unsorted_declined"
    /// `unsorted[delete]` without an `action` this parser knows.
    package static let unsortedDeleted: EventType = "unsorted_deleted"
    package static let catalogCreated: EventType = "catalog_created"
    package static let catalogUpdated: EventType = "catalog_updated"
    package static let catalogDeleted: EventType = "catalog_deleted"
    /// A message a manager, a bot or an integration sent to the client (`outgoing_message[add]`, or a
    /// manager's message on the tenant's own Chats API channel). `message.authorKind` says who.
    package static let messageSent: EventType = "message_sent"
    /// Digital Pipeline: an incoming e-mail for the lead (`leads[mail_in]`).
    package static let leadMailIn: EventType = "lead_mail_in"
    /// Digital Pipeline: an incoming call for the lead (`leads[call_in]`); calls as notes are `call_in`.
    package static let leadCallIn: EventType = "lead_call_in"
    /// Digital Pipeline: an incoming chat message for the lead (`leads[chat]`).
    package static let leadChat: EventType = "lead_chat"
    /// Digital Pipeline: the lead visited the site (`leads[site_visit]`).
    package static let leadSiteVisit: EventType = "lead_site_visit"
    /// Digital Pipeline: a customer's purchase period came (`customers[period]`).
    package static let customerPeriod: EventType = "customer_period"
    /// A timer for a `time_based` rule came due (origin `timer`).
    package static let timerFired: EventType = "timer_fired"
    /// An operator ran a rule by hand (origin `manual`).
    package static let manualRun: EventType = "manual"
    package static let unknown: EventType = "unknown"
}

/// One custom field value set as Kommo sends it: values are strings.
package struct CustomFieldValue: Hashable, Sendable, Codable {
    package var id: String
    package var name: String
    package var code: String
    package var values: [String]
    package init(id: String, name: String = "", code: String = "", values: [String]) {
        self.id = id; self.name = name; self.code = code; self.values = values
    }
}

/// Who wrote a chat message, as its author block says (``MessageFields/authorKind``).
package enum MessageAuthorKind: String, Hashable, Sendable, Codable, CaseIterable {
    /// The client: an incoming message.
    case client
    /// A Kommo user, a manager of the business.
    case manager
    /// A Salesbot or another bot.
    case bot
    /// An integration; sequence-service tells our own sends apart from other integrations'.
    case integration

    /// The kind of an outgoing message's author from its `author[type]` (and `author[id]`): Kommo users
    /// (`user`, `manager`, `amouser`, or a bare numeric user id) are managers; `bot`/`salesbot` are bots;
    /// `integration`, `widget`, `api`, `external`, `system` (and anything else) are integrations.
    /// Kommo documents no closed list here, so an unknown type is taken as not a human: only a known
    /// manager pauses an agent.
    package static func outgoing(type: String, id: String) -> MessageAuthorKind {
        switch type.lowercased() {
        case "user", "manager", "amouser", "employee": return .manager
        case "bot", "salesbot", "robot": return .bot
        case "":
            return (Int64(id) ?? 0) > 0 ? .manager : .integration
        default: return .integration
        }
    }
}

/// The chat fields of a `message_received` or `message_sent` event.
package struct MessageFields: Hashable, Sendable, Codable {
    package var id: String = ""
    package var text: String = ""
    package var chatID: String = ""
    package var talkID: String = ""
    package var contactID: String = ""
    /// `waba`, `telegram`, `instagram`, `onlinechat`, …
    package var origin: String = ""
    package var messageType: String = ""
    /// `incoming` or `outgoing`.
    package var direction: String = ""
    package var authorID: String = ""
    package var authorType: String = ""
    package var authorName: String = ""
    package var attachmentType: String = ""
    package var attachmentLink: String = ""
    package var attachmentFileName: String = ""
    /// Who wrote it; `nil` when the body does not say (events stored before authors were typed).
    package var authorKind: MessageAuthorKind?
    /// A voice message's words as the tenant's transcription endpoint heard them; `nil` until transcribed.
    /// The message's `text`, empty for a voice message, is then the transcript too, so conditions and AI
    /// replies read it like any message.
    package var transcript: String?
    package init() {}
}

/// One normalized event: one item of one entity/action of a Kommo webhook, or an internal event.
package struct KommoEvent: Hashable, Sendable, Codable {
    /// Derived from the dedup key, so a repeated delivery maps to the same id.
    package var id: String
    package var tenantID: String
    package var accountID: Int64?
    package var type: EventType
    /// `lead`, `contact`, `company`, `customer`, `task`, `message`, `talk`, `unsorted`, `catalog` or the raw family.
    package var entityType: String
    package var entityID: String
    /// The lead this event concerns, when known (messages without a lead link have none).
    package var leadID: Int64?
    package var occurredAt: Date
    package var receivedAt: Date
    package var origin: EventOrigin
    package var pipelineID: Int64?
    package var statusID: Int64?
    package var oldStatusID: Int64?
    package var oldPipelineID: Int64?
    package var responsibleUserID: Int64?
    package var oldResponsibleUserID: Int64?
    /// Kommo's `note_type` for notes (10 incoming call, 11 outgoing call, 4 common, …).
    package var noteType: Int?
    package var message: MessageFields?
    /// Plain entity fields (`name`, `price`, `text`, `status`, …) as strings.
    package var fields: [String: String]
    package var customFields: [CustomFieldValue]
    /// For internal events: the rule that a manual run or timer is for.
    package var ruleID: String?

    package init(
        id: String, tenantID: String, accountID: Int64? = nil, type: EventType,
        entityType: String, entityID: String, leadID: Int64? = nil,
        occurredAt: Date, receivedAt: Date, origin: EventOrigin = .kommo,
        pipelineID: Int64? = nil, statusID: Int64? = nil, oldStatusID: Int64? = nil, oldPipelineID: Int64? = nil,
        responsibleUserID: Int64? = nil, oldResponsibleUserID: Int64? = nil, noteType: Int? = nil,
        message: MessageFields? = nil, fields: [String: String] = [:], customFields: [CustomFieldValue] = [],
        ruleID: String? = nil
    ) {
        self.id = id; self.tenantID = tenantID; self.accountID = accountID; self.type = type
        self.entityType = entityType; self.entityID = entityID; self.leadID = leadID
        self.occurredAt = occurredAt; self.receivedAt = receivedAt; self.origin = origin
        self.pipelineID = pipelineID; self.statusID = statusID; self.oldStatusID = oldStatusID
        self.oldPipelineID = oldPipelineID; self.responsibleUserID = responsibleUserID
        self.oldResponsibleUserID = oldResponsibleUserID; self.noteType = noteType
        self.message = message; self.fields = fields; self.customFields = customFields; self.ruleID = ruleID
    }

    /// The values of a custom field, found by id or (case-insensitively) by name or code.
    package func customField(_ key: String) -> CustomFieldValue? {
        customFields.first { $0.id == key }
            ?? customFields.first { $0.name.caseInsensitiveCompare(key) == .orderedSame || (!$0.code.isEmpty && $0.code == key) }
    }
}

/// Kommo's fixed stage ids, the same in every pipeline.
package enum KommoStage {
    package static let won: Int64 = 142
    package static let lost: Int64 = 143
}
