import Foundation

// MARK: - Problems

/// A rule (or part of one) that cannot be accepted: the body did not decode, or it decoded but cannot run.
package struct RuleValidationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Every problem found; decoding stops at the first, validation reports all of them.
    package var problems: [FieldProblem]

    /// Wraps `problems`.
    package init(problems: [FieldProblem]) { self.problems = problems }

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
            throw RuleValidationError(problems: [FieldProblem(field: "", message: "the body is not valid JSON")])
        }
    }

    /// Maps a decoding error to a problem whose field is the JSON path of the bad value.
    package static func problem(for error: DecodingError) -> FieldProblem {
        switch error {
        case let .keyNotFound(key, context):
            return FieldProblem(field: path(context.codingPath + [key]), message: "is required")
        case let .valueNotFound(_, context):
            return FieldProblem(field: path(context.codingPath), message: "must not be null")
        case let .typeMismatch(type, context):
            return FieldProblem(field: path(context.codingPath), message: "must be \(jsonKind(of: type))")
        case let .dataCorrupted(context):
            if context.codingPath.isEmpty, context.underlyingError != nil {
                return FieldProblem(field: "", message: "the body is not valid JSON")
            }
            return FieldProblem(field: path(context.codingPath), message: context.debugDescription)
        @unknown default:
            return FieldProblem(field: "", message: "the body could not be decoded")
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
    package func decodeLooseStringIfPresent(forKey key: Key) throws -> String? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        return try decode(LooseText.self, forKey: key).text
    }

    /// Decodes an array of scalars as strings (see `decodeLooseStringIfPresent`).
    package func decodeLooseStringsIfPresent(forKey key: Key) throws -> [String]? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        return try decode([LooseText].self, forKey: key).map(\.text)
    }

    /// Decodes an object of scalars as a string dictionary (see `decodeLooseStringIfPresent`); `null`
    /// members become empty strings.
    package func decodeLooseDictionaryIfPresent(forKey key: Key) throws -> [String: String]? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        let object = try nestedContainer(keyedBy: NameKey.self, forKey: key)
        var result: [String: String] = [:]
        for name in object.allKeys {
            result[name.stringValue] = try object.decodeLooseStringIfPresent(forKey: name) ?? ""
        }
        return result
    }
}

/// One JSON scalar as text: a string as it is, a number or boolean as JSON writes it.
private struct LooseText: Decodable {
    /// The scalar as text.
    let text: String

    /// Reads a string, an integer (exactly, before any floating-point reading), a number or a boolean;
    /// anything else is a type mismatch at the value's path.
    init(from decoder: any Decoder) throws {
        let value = try decoder.singleValueContainer()
        if let string = Self.probe(String.self, in: value) {
            text = string
        } else if let integer = Self.probe(Int64.self, in: value) {
            text = String(integer)
        } else if let number = Self.probe(Double.self, in: value) {
            text = String(number)
        } else if let flag = Self.probe(Bool.self, in: value) {
            text = flag ? "true" : "false"
        } else {
            throw DecodingError.typeMismatch(
                String.self, .init(codingPath: decoder.codingPath, debugDescription: "must be a string, number or boolean")
            )
        }
    }

    /// The value as `T`, or `nil` when it is another kind of JSON value. The error is the answer to "is it
    /// a `T`?", not a failure: the caller tries the next type and, when none fits, throws a type mismatch
    /// naming the field. (Foundation's decoder reports some mismatches, such as `1.5` read as an integer,
    /// with errors of its own rather than `DecodingError`, so every error means "not a `T`" here.)
    private static func probe<T: Decodable>(_ type: T.Type, in value: any SingleValueDecodingContainer) -> T? {
        do {
            return try value.decode(type)
        } catch {
            return nil
        }
    }
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
