import Domain
import Foundation
import ServiceKit
import Wire

// MARK: - JSON value

/// Any JSON value: what merge patches and the unknown-key check work on before a resource is decoded.
///
/// Integers are kept apart from other numbers so that Kommo ids survive a patch exactly.
package enum JSONValue: Codable, Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Decodes any JSON value.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .int(value) }
        else if let value = try? container.decode(Double.self) { self = .double(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    /// Encodes the value as it was read.
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

    /// The members of an object, `nil` for anything else.
    package var object: [String: JSONValue]? {
        if case .object(let members) = self { members } else { nil }
    }

    /// Parses `text`, naming the problem as a field violation of the whole body.
    package static func parse(_ text: String) throws(RPCError) -> JSONValue {
        guard !text.isEmpty else { throw RPCError.invalid(field: "json", "the body is empty") }
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        } catch {
            throw RPCError.invalid(field: "json", "the body is not valid JSON")
        }
    }

    /// Parses `text` and insists on an object.
    package static func parseObject(_ text: String) throws(RPCError) -> [String: JSONValue] {
        guard let members = try parse(text).object else { throw RPCError.invalid(field: "json", "the body must be a JSON object") }
        return members
    }

    /// Encodes the value with sorted keys, so stored documents compare byte for byte.
    package func data() -> Data {
        (try? RuleJSON.encoder().encode(self)) ?? Data("null".utf8)
    }

    /// Encodes any value into a `JSONValue` tree.
    package static func from<T: Encodable>(_ value: T) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: RuleJSON.encoder().encode(value))
    }
}

// MARK: - Merge patch

/// JSON Merge Patch (RFC 7396): an update names only what changes; `null` removes a member.
package enum MergePatch {
    /// `patch` applied to `target`.
    package static func apply(_ patch: JSONValue, to target: JSONValue) -> JSONValue {
        guard case .object(let changes) = patch else { return patch }
        var result = target.object ?? [:]
        for (key, value) in changes {
            if value == .null {
                result.removeValue(forKey: key)
            } else {
                result[key] = apply(value, to: result[key] ?? .null)
            }
        }
        return .object(result)
    }
}

// MARK: - Unknown keys

/// Finds members a client sent that the resource does not have.
///
/// The decoders ignore keys they do not know, so a typo (`"cooldown_secs"`) would silently fall back to a
/// default. Comparing what was sent with the decoded resource encoded again finds every such key, at any
/// depth, with the same path format as validation problems.
package enum UnknownKeys {
    /// Paths of members present (and not `null`) in `input` but absent from `canonical`. `readOnly` names
    /// top-level members the server sets itself; clients may send them back unchanged.
    package static func find(input: JSONValue, canonical: JSONValue, readOnly: Set<String> = []) -> [FieldViolation] {
        var found: [FieldViolation] = []
        walk(input, canonical, path: "", readOnly: readOnly, into: &found)
        return found
    }

    private static func walk(_ input: JSONValue, _ canonical: JSONValue, path: String, readOnly: Set<String>, into found: inout [FieldViolation]) {
        switch (input, canonical) {
        case (.object(let sent), .object(let kept)):
            for key in sent.keys.sorted() {
                let value = sent[key] ?? .null
                let child = path.isEmpty ? key : "\(path).\(key)"
                if let counterpart = kept[key] {
                    walk(value, counterpart, path: child, readOnly: [], into: &found)
                } else if value != .null, !(path.isEmpty && readOnly.contains(key)) {
                    found.append(FieldViolation(field: child, message: "is not a known field"))
                }
            }
        case (.array(let sent), .array(let kept)) where sent.count == kept.count:
            for (index, pair) in zip(sent, kept).enumerated() {
                walk(pair.0, pair.1, path: "\(path)[\(index)]", readOnly: [], into: &found)
            }
        default:
            break
        }
    }
}

// MARK: - Decoding with field paths

extension RuleProblem {
    /// The problem as a wire violation.
    package var violation: FieldViolation { FieldViolation(field: field.isEmpty ? "json" : field, message: message) }
}

/// Decodes resources from JSON with field-level errors.
package enum ResourceJSON {
    /// Decodes `T` from `value`, turning a decoding error into a violation naming the field.
    package static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws(RPCError) -> T {
        do {
            return try RuleJSON.decode(type, from: value.data())
        } catch {
            throw RPCError.invalid(error.problems.map(\.violation))
        }
    }

    /// RFC 3339 with milliseconds, the form every timestamp in a resource takes.
    package static func timestamp(micros: Int64) -> String {
        Date(unixMicros: micros).formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
