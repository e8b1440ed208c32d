import Domain
import Foundation

// MARK: - Dates

/// Rule timestamps travel as ISO 8601 strings whatever the encoder's date strategy, so the REST body has
/// one shape (Foundation's default would write seconds since 2001).
enum RuleDate {
    /// Written form: milliseconds kept, so a stored rule round-trips exactly enough for `updated_at` checks.
    static let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
    /// Also read: people write whole seconds.
    static let plain = Date.ISO8601FormatStyle()

    /// `2025-01-26T09:30:00.000Z`.
    static func string(_ date: Date) -> String { date.formatted(withFraction) }

    /// Parses either form: a fraction of a second is what tells them apart.
    static func parse(_ text: String) throws -> Date {
        try Date(text, strategy: text.contains(".") ? withFraction : plain)
    }
}

extension KeyedDecodingContainer {
    /// Decodes an optional ISO 8601 timestamp, naming the field when it does not parse.
    func decodeISODateIfPresent(forKey key: Key) throws -> Date? {
        guard let text = try decodeIfPresent(String.self, forKey: key) else { return nil }
        do {
            return try RuleDate.parse(text)
        } catch {
            throw DecodingError.dataCorrupted(.init(
                codingPath: codingPath + [key], debugDescription: "must be an ISO 8601 timestamp such as 2025-01-26T09:30:00Z",
                underlyingError: error
            ))
        }
    }
}
