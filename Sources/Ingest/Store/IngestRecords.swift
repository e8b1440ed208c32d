import Basics
import Domain
import Foundation

/// What became of a raw delivery.
package enum DeliveryStatus: String, Sendable, CaseIterable {
    case accepted, duplicate, unparsed, rejected
}

/// Where an event's journey stands, or one destination's part of it.
package enum JourneyStatus: String, Sendable, CaseIterable {
    case pending
    /// The tenant is suspended: stored, not dispatched.
    case held
    case delivered
    case failed
    /// Held, then skipped on resume; or a destination with nothing to do.
    case skipped
}

/// An event as ingest keeps it: the domain event and where it stands on its journey.
package struct StoredEvent: Hashable, Sendable {
    package var event: KommoEvent
    /// The raw delivery the event came from; set by the store on intake.
    package var deliveryID: String
    /// Non-empty for a live replay: a fresh idempotency scope, so actions run again on purpose.
    package var replayScope: String

    package init(event: KommoEvent, deliveryID: String = "", replayScope: String = "") {
        self.event = event
        self.deliveryID = deliveryID
        self.replayScope = replayScope
    }
}

extension KommoEvent {
    /// The event's text a history search finds it by: the message, the plain and custom field values
    /// (a note's text, a lead's name, …) and the ids a body carries.
    var searchText: String {
        var parts: [String] = [entityID]
        if let message {
            parts += [message.text, message.authorName, message.attachmentFileName]
            if let transcript = message.transcript, transcript != message.text { parts.append(transcript) }
        }
        parts += fields.sorted { $0.key < $1.key }.map(\.value)
        parts += customFields.flatMap(\.values)
        return parts.filter { !$0.isEmpty }.joined(separator: "\n")
    }

    /// The JSON the store keeps for an event: the keys and values `Codable` gives it (read back with
    /// ``stored(json:)``), written by hand because this runs for every event before the webhook is
    /// answered. Keys are sorted; absent optionals are left out; times are exact microseconds.
    /// Every stored property must appear here (a test compares this with `JSONEncoder`'s output).
    package func storedJSON() -> String {
        var json = JSONWriter()
        json.beginObject()
        json.member("accountID", accountID)
        json.key("customFields")
        json.beginArray()
        for field in customFields {
            json.beginObject()
            json.member("code", field.code)
            json.member("id", field.id)
            json.member("name", field.name)
            json.key("values")
            json.beginArray()
            for value in field.values { json.string(value) }
            json.endArray()
            json.endObject()
        }
        json.endArray()
        json.member("entityID", entityID)
        json.member("entityType", entityType)
        json.key("fields")
        json.beginObject()
        for key in fields.keys.sorted() { json.member(key, fields[key]!) }
        json.endObject()
        json.member("id", id)
        json.member("leadID", leadID)
        if let message {
            json.key("message")
            json.beginObject()
            json.member("attachmentFileName", message.attachmentFileName)
            json.member("attachmentLink", message.attachmentLink)
            json.member("attachmentType", message.attachmentType)
            json.member("authorID", message.authorID)
            if let kind = message.authorKind { json.member("authorKind", kind.rawValue) }
            json.member("authorName", message.authorName)
            json.member("authorType", message.authorType)
            json.member("chatID", message.chatID)
            json.member("contactID", message.contactID)
            json.member("direction", message.direction)
            json.member("id", message.id)
            json.member("messageType", message.messageType)
            json.member("origin", message.origin)
            json.member("talkID", message.talkID)
            json.member("text", message.text)
            if let transcript = message.transcript { json.member("transcript", transcript) }
            json.endObject()
        }
        json.member("noteType", noteType.map(Int64.init))
        json.member("occurredAt", occurredAt.unixMicros)
        json.member("oldPipelineID", oldPipelineID)
        json.member("oldResponsibleUserID", oldResponsibleUserID)
        json.member("oldStatusID", oldStatusID)
        json.member("origin", origin.rawValue)
        json.member("pipelineID", pipelineID)
        json.member("receivedAt", receivedAt.unixMicros)
        json.member("responsibleUserID", responsibleUserID)
        if let ruleID { json.member("ruleID", ruleID) }
        json.member("statusID", statusID)
        json.member("tenantID", tenantID)
        json.member("type", type.rawValue)
        json.endObject()
        return json.text
    }

    package static func stored(json: String) throws -> KommoEvent {
        try StoredEventCoding.decoder.decode(KommoEvent.self, from: Data(json.utf8))
    }
}

/// Events are kept as their domain JSON with times in exact microseconds (written by
/// ``KommoEvent/storedJSON()``, read here).
enum StoredEventCoding {
    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            Date(unixMicros: try decoder.singleValueContainer().decode(Int64.self))
        }
        return decoder
    }()
}

/// The text of a history search as one FTS5 query that matches it literally: every word becomes a
/// quoted string (quotes doubled), so `"`, `*`, `-`, `NEAR`, `AND` and parentheses are just text.
/// Words must all occur; at most 16 words are used.
enum FullTextQuery {
    /// Nil when the text has no word the tokenizer keeps (only punctuation): nothing matches it.
    static func literal(_ text: String) -> String? {
        let words = text.split(whereSeparator: { $0.isWhitespace })
            .filter { $0.contains { $0.isLetter || $0.isNumber } }.prefix(16)
        guard !words.isEmpty else { return nil }
        return words.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }.joined(separator: " ")
    }
}
