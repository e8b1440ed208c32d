import Foundation

// MARK: - JSON value

/// Any JSON value: documents whose schema another service owns, outside answers read only in part
/// (Kommo's HAL, problem documents, chat completions), merge patches and REST bodies passed through.
///
/// Integers are a case of their own, apart from other numbers, so that a Kommo id such as
/// `12345678901234567` (past `Double`'s 2^53) is read, patched and written back digit for digit. A number
/// whose value is whole and fits `Int64` reads as an `int` (`3.0` and `1e3` too); any other is a `double`.
package enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

// MARK: - Parsing and serializing

extension JSONValue: Codable {
    /// Decodes any JSON value; integers that fit `Int64` stay exact.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Encodes the value as it was read: an `int` as its digits.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Parses a JSON text; throws the decoder's error when it is not JSON.
    package init(decoding bytes: some Sequence<UInt8>) throws {
        self = try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
    }

    /// Parses `bytes`, or `nil` when they are empty or not JSON.
    package init?(parsing bytes: some Sequence<UInt8>) {
        guard let value = try? JSONValue(decoding: bytes) else { return nil }
        self = value
    }

    /// Parses `text`, or `nil` when it is empty or not JSON.
    package init?(parsing text: String) {
        self.init(parsing: text.utf8)
    }

    /// The tree of any encodable value, as its JSON encoding reads.
    package init(encoding value: some Encodable) throws {
        self = try JSONDecoder().decode(JSONValue.self, from: JSONValue.encoder.encode(value))
    }

    /// The JSON text, keys sorted (equal values give equal bytes, so stored documents compare byte for
    /// byte) and slashes unescaped. A non-finite `double`, which JSON cannot spell, is written as `null`.
    package func data() -> Data {
        if let data = try? Self.encoder.encode(self) { return data }
        return (try? Self.encoder.encode(finite)) ?? Data("null".utf8)
    }

    /// ``data()`` as a string.
    package func text() -> String {
        String(decoding: data(), as: UTF8.self)
    }

    /// The value with every non-finite `double` replaced by `null`.
    private var finite: JSONValue {
        switch self {
        case .double(let value) where !value.isFinite: .null
        case .array(let elements): .array(elements.map(\.finite))
        case .object(let members): .object(members.mapValues(\.finite))
        default: self
        }
    }

    /// One configuration for every serialization of a value, so two services write the same bytes.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}

// MARK: - Reading members

extension JSONValue {
    /// The member `key` of an object; `nil` for other values or a missing key.
    package subscript(_ key: String) -> JSONValue? {
        if case .object(let members) = self { members[key] } else { nil }
    }

    /// The element at `index` of an array; `nil` when out of range or not an array.
    package subscript(_ index: Int) -> JSONValue? {
        guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
        return elements[index]
    }

    /// The member at `path`, one key per level; `nil` when any level is missing or the member is `null`.
    package func value(at path: some Sequence<String>) -> JSONValue? {
        var current: JSONValue? = self
        for key in path { current = current?[key] }
        if case .null? = current { return nil }
        return current
    }

    /// The members of an object; `nil` for anything else.
    package var object: [String: JSONValue]? {
        if case .object(let members) = self { members } else { nil }
    }

    /// The elements of an array; `nil` for anything else.
    package var array: [JSONValue]? {
        if case .array(let elements) = self { elements } else { nil }
    }

    /// Whether the value is a JSON number (`int` or `double`).
    package var isNumber: Bool {
        switch self {
        case .int, .double: true
        default: false
        }
    }

    /// A string, or a number or boolean spelled as text (Kommo mixes them in field values). A whole
    /// `double` below 10^15 is spelled without a fraction.
    package var string: String? {
        switch self {
        case .string(let value): value
        case .int(let value): String(value)
        case .double(let value): abs(value) < 1e15 ? Int64(exactly: value).map { String($0) } ?? String(value) : String(value)
        case .bool(let value): value ? "true" : "false"
        default: nil
        }
    }

    /// An integer: an `int`, a whole `double` that fits, or a string of digits (Kommo sends ids both ways).
    package var int64: Int64? {
        switch self {
        case .int(let value): value
        case .double(let value): Int64(exactly: value)
        case .string(let value): Int64(value.trimmingCharacters(in: .whitespaces))
        default: nil
        }
    }

    /// A number as a `Double` (an `int` beyond 2^53 rounds), or `nil` when the value is not a number.
    package var double: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }

    /// A boolean, or `nil` when the value is not one.
    package var bool: Bool? {
        if case .bool(let value) = self { value } else { nil }
    }
}

// MARK: - Merge patch

extension JSONValue {
    /// JSON Merge Patch (RFC 7396) of `patch` onto this value: objects merge member by member, a `null`
    /// member removes, anything else replaces.
    package func merging(patch: JSONValue) -> JSONValue {
        guard case .object(let changes) = patch else { return patch }
        var members = object ?? [:]
        for (key, value) in changes {
            if value == .null {
                members.removeValue(forKey: key)
            } else {
                members[key] = (members[key] ?? .null).merging(patch: value)
            }
        }
        return .object(members)
    }
}

// MARK: - Literals

/// Literals make documents, request bodies and fixtures read like the JSON they stand for.
extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    /// `null`.
    package init(nilLiteral: ()) { self = .null }
    /// A boolean.
    package init(booleanLiteral value: Bool) { self = .bool(value) }
    /// An integer.
    package init(integerLiteral value: Int64) { self = .int(value) }
    /// A number with a fraction.
    package init(floatLiteral value: Double) { self = .double(value) }
    /// A string.
    package init(stringLiteral value: String) { self = .string(value) }
    /// An array.
    package init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// An object; a repeated key keeps its last value.
    package init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
