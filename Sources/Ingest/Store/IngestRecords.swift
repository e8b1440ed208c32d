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
        if let message { parts += [message.text, message.authorName, message.attachmentFileName] }
        parts += fields.sorted { $0.key < $1.key }.map(\.value)
        parts += customFields.flatMap(\.values)
        return parts.filter { !$0.isEmpty }.joined(separator: "\n")
    }

    /// The JSON the store keeps for an event.
    func storedJSON() throws -> String {
        String(decoding: try StoredEventCoding.encoder.encode(self), as: UTF8.self)
    }

    static func stored(json: String) throws -> KommoEvent {
        try StoredEventCoding.decoder.decode(KommoEvent.self, from: Data(json.utf8))
    }
}

/// Events are kept as their domain JSON with times in exact microseconds.
enum StoredEventCoding {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Int64((date.timeIntervalSince1970 * 1_000_000).rounded()))
        }
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let micros = try decoder.singleValueContainer().decode(Int64.self)
            return Date(timeIntervalSince1970: Double(micros) / 1_000_000)
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
