import Domain
import Foundation

/// A field value before and after an event that carried it.
package struct FieldChange: Sendable, Hashable {
    /// The last value seen before the event; `nil` when never seen.
    package var old: String?
    /// The value the event carried.
    package var new: String

    /// Whether the value changed; a first sighting counts as a change when the value is not empty.
    package var isChange: Bool {
        guard let old else { return !TextFold.isBlank(new) }
        return old != new
    }
}

/// What applying one event to a lead's facts did: the new facts, the field changes (for `changed`), the
/// anchors that moved (to arm timers) and the things that happened (to cancel timers).
package struct FactsUpdate: Sendable {
    /// The facts after the event. For an event without a lead these are throw-away facts built from the
    /// event alone, so conditions can still read its pipeline, stage and message.
    package var facts: LeadFacts
    /// Whether `facts` belong to a lead and should be stored.
    package var isStored: Bool
    /// Fields this event carried, by canonical key, with their previous values.
    package var changes: [String: FieldChange]
    /// Anchors this event moved, with their new times.
    package var movedAnchors: [TimeAnchor: Date]
    /// What happened that can void a waiting timer.
    package var happened: Set<TimerCancel>
    /// The event was applied before (a replay): facts are unchanged.
    package var wasReplay: Bool

    /// How many event ids the facts remember for replay detection.
    package static let rememberedEvents = 32
    /// Longest field value or message text kept.
    package static let maxValueLength = 2000

    /// Event types whose entity fields describe the entity's current state (and so update field values).
    static let stateEvents: Set<EventType> = [
        .leadCreated, .leadUpdated, .stageChanged, .responsibleChanged, .leadRestored,
        "contact_created", "contact_updated", "company_created", "company_updated",
    ]

    /// Applies `event` to `previous` (the stored facts, `nil` for a new lead). Deterministic: times come
    /// from the event, `now` only stamps `updatedAt`.
    package static func apply(_ event: KommoEvent, to previous: LeadFacts?, now: Date) -> FactsUpdate {
        let isStored = event.leadID != nil
        var facts = previous ?? LeadFacts(leadID: event.leadID ?? 0)
        var update = FactsUpdate(facts: facts, isStored: isStored, changes: [:], movedAnchors: [:], happened: [], wasReplay: false)
        if isStored, facts.recentEventIDs.contains(event.id) {
            update.wasReplay = true
            return update
        }
        let at = event.occurredAt

        // MARK: Fields
        if let entity = entity(of: event), stateEvents.contains(event.type) || entity != .lead && !nonStateTypes.contains(event.type) {
            for (key, value) in carriedFields(of: event, entity: entity) {
                var old = facts.fieldValues[key]
                // Kommo reports the previous status and responsible explicitly; they beat our memory, which
                // may have missed an event.
                if entity == .lead {
                    if key == "status_id", let before = event.oldStatusID { old = String(before) }
                    if key == "pipeline_id", let before = event.oldPipelineID { old = String(before) }
                    if key == "responsible_user_id", let before = event.oldResponsibleUserID { old = String(before) }
                }
                update.changes[key] = FieldChange(old: old, new: value)
                facts.fieldValues[key] = value
            }
        }

        // MARK: Lead state
        if event.entityType.lowercased() == "lead" || event.type == .leadCreated || event.type == .stageChanged {
            if event.type == .leadCreated {
                if facts.leadCreatedAt.map({ at < $0 }) ?? true {
                    facts.leadCreatedAt = at
                    update.movedAnchors[.leadCreated] = at
                }
            } else if facts.leadCreatedAt == nil, let created = unixTime(event.fields["date_create"] ?? event.fields["created_at"]) {
                // Learn the creation time of a lead created before we watched it, without arming timers:
                // that creation happened long ago and arming now would fire them all at once.
                facts.leadCreatedAt = created
            }
            if stateEvents.contains(event.type) {
                applyStage(event, to: &facts, update: &update)
            }
            if let responsible = event.responsibleUserID, stateEvents.contains(event.type) {
                facts.responsibleUserID = responsible
            }
        }

        // MARK: Messages
        switch messageDirection(of: event) {
        case .inbound?:
            facts.inboundCount += 1
            if facts.lastInboundAt.map({ at >= $0 }) ?? true {
                facts.lastInboundAt = at
                // Chat messages carry their text in `message`; SMS notes in the note's `text` field.
                let text = event.message?.text ?? event.fields["text"]
                facts.lastInboundText = text.map { String($0.prefix(maxValueLength)) }
                facts.lastInboundOrigin = event.message?.origin
                update.movedAnchors[.lastInbound] = at
            }
            update.happened.insert(.inboundMessage)
        case .outbound?:
            if facts.lastOutboundAt.map({ at >= $0 }) ?? true {
                facts.lastOutboundAt = at
                update.movedAnchors[.lastOutbound] = at
            }
            update.happened.insert(.outboundMessage)
        case nil:
            break
        }

        if isStored {
            facts.recentEventIDs.append(event.id)
            if facts.recentEventIDs.count > rememberedEvents {
                facts.recentEventIDs.removeFirst(facts.recentEventIDs.count - rememberedEvents)
            }
            facts.updatedAt = now
        }
        update.facts = facts
        return update
    }

    /// Event types that mention an entity without describing its fields.
    static let nonStateTypes: Set<EventType> = [
        .noteAdded, .callIn, .callOut, .messageReceived, .messageSent, .talkCreated, .talkUpdated, .taskCreated,
        .taskUpdated, .taskCompleted, .taskDeleted, .timerFired, .manualRun, .leadDeleted, .unknown,
        .leadMailIn, .leadCallIn, .leadChat, .leadSiteVisit, .customerPeriod,
    ]

    /// Moves the lead to the event's stage. The stage-entered time is only set when we know a move
    /// happened: a creation, a stage change, or a stage different from the one we knew.
    static func applyStage(_ event: KommoEvent, to facts: inout LeadFacts, update: inout FactsUpdate) {
        let at = event.occurredAt
        if let entered = facts.stageEnteredAt, at < entered {
            return // An older event delivered late must not move the lead back.
        }
        if let pipeline = event.pipelineID { facts.pipelineID = pipeline }
        guard let stage = event.statusID else { return }
        let knownMove = event.type == .leadCreated || event.type == .stageChanged
            || (facts.stageID != nil && facts.stageID != stage)
        let moved = facts.stageID != stage || (event.type == .stageChanged && event.oldStatusID != nil && event.oldStatusID != stage)
        facts.stageID = stage
        if knownMove && (moved || facts.stageEnteredAt == nil) {
            facts.stageEnteredAt = at
            update.movedAnchors[.stageEntered] = at
            update.happened.insert(.stageChange)
        }
    }

    /// Whose fields an event carries.
    static func entity(of event: KommoEvent) -> FieldRef.Entity? {
        switch event.entityType.lowercased() {
        case "lead": .lead
        case "contact": .contact
        case "company": .company
        default: nil
        }
    }

    /// The fields an event carries, by canonical key: plain fields, the typed lead columns and custom fields.
    static func carriedFields(of event: KommoEvent, entity: FieldRef.Entity) -> [String: String] {
        var result: [String: String] = [:]
        // Keys starting with `_` are ingest's bookkeeping (`_family`, `_action`), not Kommo fields.
        for (key, value) in event.fields where !key.hasPrefix("_") {
            result[FieldRef.plainKey(key, entity: entity)] = String(value.prefix(maxValueLength))
        }
        if entity == .lead {
            if let status = event.statusID { result["status_id"] = String(status) }
            if let pipeline = event.pipelineID { result["pipeline_id"] = String(pipeline) }
            if let responsible = event.responsibleUserID { result["responsible_user_id"] = String(responsible) }
        }
        for field in event.customFields {
            let value = String(field.values.joined(separator: ", ").prefix(maxValueLength))
            for key in FieldRef.customKeys(field, entity: entity) { result[key] = value }
        }
        return result
    }

    /// Which way a message went.
    enum Direction { case inbound, outbound }

    /// Whether the event is a message to us or from us. SMS notes (Kommo note types 102/103) count too.
    static func messageDirection(of event: KommoEvent) -> Direction? {
        if event.type == .messageReceived {
            return event.message?.direction.lowercased() == "outgoing" ? .outbound : .inbound
        }
        // A manager's, a bot's or our own message to the lead: "a message was sent to the lead".
        if event.type == .messageSent { return .outbound }
        if event.type == .noteAdded {
            switch event.noteType {
            case 102: return .inbound
            case 103: return .outbound
            default: return nil
            }
        }
        return nil
    }

    /// A unix timestamp in seconds from a field value.
    static func unixTime(_ text: String?) -> Date? {
        guard let text, let seconds = Int64(TextFold.trim(text)), seconds > 0 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }
}
