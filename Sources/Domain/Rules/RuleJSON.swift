import Foundation

// MARK: - Problems

/// One thing wrong with a rule, named by its JSON path (`conditions.all[1].operator`) so that an editor can
/// put the message next to the input that caused it. Decoding errors and validation use the same shape.
package struct RuleProblem: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The JSON path of the offending value; empty when the problem is the body as a whole.
    package var field: String
    /// What is wrong, in plain words.
    package var message: String

    /// Creates a problem for `field`.
    package init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    /// `field: message`, or only the message for a problem of the whole body.
    package var description: String { field.isEmpty ? message : "\(field): \(message)" }
}

/// A rule (or part of one) that cannot be accepted: the body did not decode, or it decoded but cannot run.
package struct RuleValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Every problem found; decoding stops at the first, validation reports all of them.
    package var problems: [RuleProblem]

    /// Wraps `problems`.
    package init(problems: [RuleProblem]) { self.problems = problems }

    /// The problems, one per line.
    package var description: String { problems.map(\.description).joined(separator: "\n") }
}

// MARK: - JSON helpers

/// The JSON face of rules: coders, decoding with field-level errors, and the path format shared by
/// decoding errors, validation problems and explanations.
package enum RuleJSON {
    /// An encoder for rule JSON. Keys are sorted so that stored and compared documents are stable.
    ///
    /// Rules spell their keys and dates themselves, so any `JSONEncoder` produces the same shape; this one
    /// only adds stable ordering and readable slashes in URLs.
    package static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// Decodes `type` from `data`, turning Foundation's `DecodingError` into a problem that names the field.
    package static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(RuleValidationError) -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw RuleValidationError(problems: [problem(for: error)])
        } catch {
            throw RuleValidationError(problems: [RuleProblem(field: "", message: "the body is not valid JSON")])
        }
    }

    /// Decodes a rule and validates it, returning every problem of either step.
    package static func decodeValidRule(from data: Data, context: ValidationContext = .init()) throws(RuleValidationError) -> Rule {
        let rule = try decode(Rule.self, from: data)
        let problems = rule.validate(in: context)
        guard problems.isEmpty else { throw RuleValidationError(problems: problems) }
        return rule
    }

    /// Maps a decoding error to a problem whose field is the JSON path of the bad value.
    package static func problem(for error: DecodingError) -> RuleProblem {
        switch error {
        case let .keyNotFound(key, context):
            return RuleProblem(field: path(context.codingPath + [key]), message: "is required")
        case let .valueNotFound(_, context):
            return RuleProblem(field: path(context.codingPath), message: "must not be null")
        case let .typeMismatch(type, context):
            return RuleProblem(field: path(context.codingPath), message: "must be \(jsonKind(of: type))")
        case let .dataCorrupted(context):
            if context.codingPath.isEmpty, context.underlyingError != nil {
                return RuleProblem(field: "", message: "the body is not valid JSON")
            }
            return RuleProblem(field: path(context.codingPath), message: context.debugDescription)
        @unknown default:
            return RuleProblem(field: "", message: "the body could not be decoded")
        }
    }

    /// `conditions.all[1].operator` from a coding path: array indices in brackets, keys joined by dots.
    package static func path(_ codingPath: [any CodingKey]) -> String {
        var result = ""
        for key in codingPath {
            if let index = key.intValue {
                result += "[\(index)]"
            } else {
                result += result.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return result
    }

    /// A JSON word for a Swift type in error messages ("a string", "an integer", …).
    static func jsonKind(of type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type, is Int64.Type: "an integer"
        case is Double.Type: "a number"
        case is [Any].Type: "an array"
        default: "an object"
        }
    }
}

// MARK: - Keywords

/// A closed set of JSON words (`equals`, `stage_entered`, `send_message`, …).
///
/// Decoding an unknown word fails with a message that lists the accepted ones, at the path of the word;
/// the synthesized raw-value decoding would only say "cannot initialize".
package protocol RuleKeyword: RawRepresentable, CaseIterable, Codable, Sendable, Hashable where RawValue == String {
    /// What the word names, for error messages ("operator", "trigger type", …).
    static var keywordKind: String { get }
}

extension RuleKeyword {
    /// Decodes the word or fails listing the accepted words.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        guard let value = Self(rawValue: raw) else {
            let accepted = Self.allCases.map(\.rawValue).joined(separator: ", ")
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "unknown \(Self.keywordKind) \"\(raw)\"; expected one of: \(accepted)"
            )
        }
        self = value
    }

    /// Encodes the word as a string.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

// MARK: - Loose scalars

extension KeyedDecodingContainer {
    /// Decodes a scalar as a string, accepting JSON numbers and booleans too: Kommo values are strings, but
    /// API users naturally write `"value": 2500`, and rejecting that would only be pedantic.
    func decodeLooseStringIfPresent(forKey key: Key) throws -> String? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        if let string = try? decode(String.self, forKey: key) { return string }
        if let integer = try? decode(Int64.self, forKey: key) { return String(integer) }
        if let number = try? decode(Double.self, forKey: key) { return String(number) }
        if let flag = try? decode(Bool.self, forKey: key) { return flag ? "true" : "false" }
        throw DecodingError.typeMismatch(
            String.self,
            .init(codingPath: codingPath + [key], debugDescription: "must be a string, number or boolean")
        )
    }

    /// Decodes an array of scalars as strings (see `decodeLooseStringIfPresent`).
    func decodeLooseStringsIfPresent(forKey key: Key) throws -> [String]? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        var list = try nestedUnkeyedContainer(forKey: key)
        var result: [String] = []
        while !list.isAtEnd {
            if let string = try? list.decode(String.self) {
                result.append(string)
            } else if let integer = try? list.decode(Int64.self) {
                result.append(String(integer))
            } else if let number = try? list.decode(Double.self) {
                result.append(String(number))
            } else if let flag = try? list.decode(Bool.self) {
                result.append(flag ? "true" : "false")
            } else {
                throw DecodingError.typeMismatch(
                    String.self,
                    .init(codingPath: list.codingPath + [IndexKey(list.currentIndex)], debugDescription: "must be a string or number")
                )
            }
        }
        return result
    }

    /// Decodes an object of scalars as a string dictionary (see `decodeLooseStringIfPresent`).
    func decodeLooseDictionaryIfPresent(forKey key: Key) throws -> [String: String]? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        let object = try nestedContainer(keyedBy: NameKey.self, forKey: key)
        var result: [String: String] = [:]
        for name in object.allKeys {
            result[name.stringValue] = try object.decodeLooseStringIfPresent(forKey: name) ?? ""
        }
        return result
    }
}

/// A coding key for an array position, used when an error must point inside an array.
private struct IndexKey: CodingKey {
    /// The index as text.
    var stringValue: String { "\(intValue ?? 0)" }
    /// The index.
    var intValue: Int?
    /// A key for `index`.
    init(_ index: Int) { intValue = index }
    /// Index keys are never spelled as text.
    init?(stringValue: String) { nil }
    /// A key for `intValue`.
    init?(intValue: Int) { self.intValue = intValue }
}

/// A coding key for free-form object keys (action parameters).
private struct NameKey: CodingKey {
    /// The key.
    var stringValue: String
    /// Names are never indices.
    var intValue: Int? { nil }
    /// A key for `name`.
    init(_ name: String) { stringValue = name }
    /// A key for `stringValue`.
    init?(stringValue: String) { self.stringValue = stringValue }
    /// Names are never indices.
    init?(intValue: Int) { nil }
}

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

    /// Parses either form.
    static func parse(_ text: String) -> Date? {
        (try? Date(text, strategy: withFraction)) ?? (try? Date(text, strategy: plain))
    }
}

extension KeyedDecodingContainer {
    /// Decodes an optional ISO 8601 timestamp, naming the field when it does not parse.
    func decodeISODateIfPresent(forKey key: Key) throws -> Date? {
        guard let text = try decodeIfPresent(String.self, forKey: key) else { return nil }
        guard let date = RuleDate.parse(text) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: self, debugDescription: "must be an ISO 8601 timestamp such as 2025-01-26T09:30:00Z"
            )
        }
        return date
    }
}
