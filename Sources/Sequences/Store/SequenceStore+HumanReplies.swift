import Domain
import Foundation
import GRDB
import ServiceKit
import Wire

/// A manager's latest message to a lead, and whether the agents were resumed by hand since.
package struct HumanReply: Sendable, Hashable {
    /// When the manager wrote (the message's own time), microseconds.
    package var repliedAt: Int64
    /// The manager's name as Kommo gave it, or their user id.
    package var manager: String
    /// The `message_sent` event.
    package var eventID: String
    /// A resume by hand after `repliedAt`; `nil` when none.
    package var resumedAt: Int64?

    /// Whether a resume by hand came after the reply.
    package var isResumed: Bool { resumedAt.map { $0 >= repliedAt } ?? false }

    /// Whether this is the AI handing the conversation over rather than a manager writing.
    package var isHandOff: Bool { eventID.hasPrefix(HumanReply.handOffPrefix) }
    /// Whether this is the lead asking the agent to stop (a stop phrase).
    package var isStopRequest: Bool { eventID.hasPrefix(HumanReply.stopPrefix) }

    /// How a hand-off's row names its origin (`handoff:` and the AI reply's action key).
    package static let handOffPrefix = "handoff:"
    /// How a stop phrase's row names its origin (`stop:` and the AI reply's action key).
    package static let stopPrefix = "stop:"
}

extension SequenceStore {
    /// How far apart our send and Kommo's echo of it may be. Kommo stamps the echo with the time the
    /// message went out, which is within seconds of our send; its webhook retries keep that time.
    package static let echoWindowMicros: Int64 = 15 * 60 * 1_000_000

    // MARK: - Outgoing messages (inside firstSight's transaction)

    /// Records a `message_sent` event in the conversation. An echo of a message we sent (same lead, same
    /// text ignoring case, accents and spacing, within ``echoWindowMicros`` of our send, not matched before) is not
    /// a second message and not a human reply: our row is marked as echoed and nothing else changes.
    /// Anyone else's message is recorded with its author; a manager's also becomes the lead's latest
    /// human reply, which pauses agents that pause on a human reply.
    static func recordSentMessage(_ db: Database, event: PB.Event, message: PB.MessageFields, now: Int64) throws {
        let at = event.occurredAtMicros != 0 ? event.occurredAtMicros : now
        if try matchOwnSend(db, tenantID: event.tenantId, leadID: event.leadId, text: message.text, at: at, eventID: event.id) {
            return
        }
        let author = message.authorKind == .unspecified ? "integration" : message.authorKind.name
        try db.execute(sql: """
            INSERT OR IGNORE INTO conversation (tenant_id, lead_id, direction, text, at, ref, author) VALUES (?, ?, 'outgoing', ?, ?, ?, ?)
            """, arguments: [event.tenantId, event.leadId, message.text, at, "event:" + event.id, author])
        guard message.authorKind == .manager else { return }
        if db.changesCount == 1 { try AnalyticsCounters.add(db, tenantID: event.tenantId, at: at, key: "messages.manager") }
        let manager = message.authorName.isEmpty ? message.authorId : message.authorName
        // A hand-off: a manager writes to a lead no manager had taken over (none wrote before, or the
        // agents were resumed by hand since), which pauses the agents that pause on a human reply.
        if db.changesCount == 1 {
            let previous = try Row.fetchOne(db, sql: "SELECT replied_at, resumed_at FROM lead_human_reply WHERE tenant_id = ? AND lead_id = ?",
                                            arguments: [event.tenantId, event.leadId])
            let resumed = previous.map { row in (row["resumed_at"] as Int64?).map { $0 >= row["replied_at"] as Int64 && $0 <= at } ?? false } ?? true
            if resumed { try AnalyticsCounters.add(db, tenantID: event.tenantId, at: at, key: "handoffs.manager") }
        }
        try db.execute(sql: """
            INSERT INTO lead_human_reply (tenant_id, lead_id, replied_at, manager, event_id) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (tenant_id, lead_id) DO UPDATE SET replied_at = excluded.replied_at, manager = excluded.manager,
                event_id = excluded.event_id
            WHERE excluded.replied_at > lead_human_reply.replied_at
            """, arguments: [event.tenantId, event.leadId, at, manager, event.id])
    }

    /// Marks the oldest unmatched message of ours to the lead with the same text near `at` as echoed by
    /// `eventID`; whether there was one.
    static func matchOwnSend(_ db: Database, tenantID: String, leadID: Int64, text: String, at: Int64, eventID: String) throws -> Bool {
        // Ours are the rows our executors wrote (`action:` refs); the range keeps to the key's index order.
        let rows = try Row.fetchAll(db, sql: """
            SELECT id, text, echo_event_id FROM conversation
            WHERE tenant_id = ? AND lead_id = ? AND at BETWEEN ? AND ? AND direction = 'outgoing'
              AND ref >= 'action:' AND ref < 'action;'
            ORDER BY at, id
            """, arguments: [tenantID, leadID, at - echoWindowMicros, at + echoWindowMicros])
        let wanted = echoKey(text)
        // A retried delivery of the same echo finds the row it matched before.
        if rows.contains(where: { ($0["echo_event_id"] as String?) == eventID }) { return true }
        guard let mine = rows.first(where: { ($0["echo_event_id"] as String?) == nil && echoKey($0["text"] as String) == wanted })
        else { return false }
        try db.execute(sql: "UPDATE conversation SET echo_event_id = ? WHERE id = ?", arguments: [eventID, mine["id"] as Int64])
        return true
    }

    /// A message's text as echoes are compared: case and accents folded, runs of whitespace (Kommo may
    /// rewrap a message) as one space.
    static func echoKey(_ text: String) -> String {
        TextFold.fold(text).split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    // MARK: - Pauses

    /// Records that an AI reply handed the lead over to a person: the lead's latest "human reply" from then
    /// on, so the agent's messages to the lead are held as after a manager's reply, until resumed.
    package func recordHandOff(tenantID: String, leadID: Int64, at: Int64, reason: String, ref: String) async throws {
        try await recordPause(tenantID: tenantID, leadID: leadID, at: at, by: "the AI agent (hand-off: \(reason.prefix(200)))",
                              eventID: HumanReply.handOffPrefix + ref)
    }

    /// Records that the lead wrote one of the agent's stop phrases: the agent is paused for the lead as
    /// after a hand-off, until resumed by hand.
    package func recordStopRequest(tenantID: String, leadID: Int64, at: Int64, phrase: String, ref: String) async throws {
        try await recordPause(tenantID: tenantID, leadID: leadID, at: at, by: "the lead (stop phrase \"\(phrase.prefix(100))\")",
                              eventID: HumanReply.stopPrefix + ref)
    }

    private func recordPause(tenantID: String, leadID: Int64, at: Int64, by: String, eventID: String) async throws {
        try await db.write { db in
            try db.execute(sql: """
                INSERT INTO lead_human_reply (tenant_id, lead_id, replied_at, manager, event_id) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (tenant_id, lead_id) DO UPDATE SET replied_at = excluded.replied_at, manager = excluded.manager,
                    event_id = excluded.event_id
                WHERE excluded.replied_at > lead_human_reply.replied_at
                """, arguments: [tenantID, leadID, at, by, eventID])
        }
    }

    /// The lead's latest human reply, or `nil` when no manager has written to it.
    package func humanReply(tenantID: String, leadID: Int64) async throws -> HumanReply? {
        try await db.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM lead_human_reply WHERE tenant_id = ? AND lead_id = ?", arguments: [tenantID, leadID])
                .map { HumanReply(repliedAt: $0["replied_at"], manager: $0["manager"], eventID: $0["event_id"], resumedAt: $0["resumed_at"]) }
        }
    }

    /// Resumes the agents for a lead by hand: the latest human reply no longer pauses, and every row
    /// it held runs now. Returns how many rows were released.
    package func resumeLead(tenantID: String, leadID: Int64, now: Int64) async throws -> Int {
        try await db.write { db in
            try db.execute(sql: "UPDATE lead_human_reply SET resumed_at = ? WHERE tenant_id = ? AND lead_id = ?",
                           arguments: [now, tenantID, leadID])
            return try Self.releaseHeld(db, tenantID: tenantID, leadID: leadID, now: now)
        }
    }

    /// Lets the rows a pause held for a lead run now, so each checks the pause again (a stage the agent
    /// resumes on, say). Returns how many rows were released.
    package func releaseHeld(tenantID: String, leadID: Int64, now: Int64) async throws -> Int {
        try await db.write { db in try Self.releaseHeld(db, tenantID: tenantID, leadID: leadID, now: now) }
    }

    static func releaseHeld(_ db: Database, tenantID: String, leadID: Int64, now: Int64) throws -> Int {
        try db.execute(sql: """
            UPDATE action SET status = 'pending', due_at = min(due_at, ?), lease_until = 0
            WHERE tenant_id = ? AND lead_id = ? AND held_at IS NOT NULL AND status IN ('held', 'pending')
            """, arguments: [now, tenantID, leadID])
        return db.changesCount
    }

    // MARK: - Chats API channels

    /// The tenant whose integrations name the Chats API channel `scopeID`; `nil` when none does.
    package func tenant(chatsScopeID scopeID: String) async throws -> String? {
        try await db.read { db in
            try String.fetchOne(db, sql: """
                SELECT tenant_id FROM integration WHERE json_extract(settings_json, '$.messages.chats_api.scope_id') = ? LIMIT 1
                """, arguments: [scopeID])
        }
    }
}
