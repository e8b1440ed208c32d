import Basics
import Domain
import Foundation
import Wire

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

    /// Decodes `T` from `value` and reports **every** violation, not only the first member that does not
    /// decode: a member that fails is taken out (its parent member when taking out the member itself
    /// does not help, or when it is an element of a list) and the rest decoded again, up to a bound,
    /// and what still decodes is checked with `problems`. Problems at or under a member taken out are not
    /// repeated (that member's own problem is already reported). Returns the value only when it decoded
    /// as sent; the caller validates it then.
    ///
    /// `placeholders` stand in for required top-level members that had to be taken out (a rule's
    /// `trigger`), so the rest can still decode.
    package static func decodeReportingAll<T: Decodable>(_ type: T.Type, from value: JSONValue, placeholders: [String: JSONValue] = [:],
                                                         problems: (T) -> [FieldViolation]) throws(RPCError) -> T {
        var current = value
        var found: [FieldViolation] = []
        var removed: [String] = []
        // At or under a member taken out, or above one (a consequence of taking it out): not reported again.
        func coveredByRemoved(_ field: String) -> Bool {
            removed.contains { field == $0 || field.hasPrefix($0 + ".") || field.hasPrefix($0 + "[")
                || $0.hasPrefix(field + ".") || $0.hasPrefix(field + "[") }
        }
        for _ in 0..<24 {
            let failure: RuleValidationError
            switch Result(catching: { () throws(RuleValidationError) -> T in try RuleJSON.decode(type, from: current.data()) }) {
            case .success(let decoded):
                if found.isEmpty { return decoded }
                throw RPCError.invalid(found + problems(decoded).filter { !coveredByRemoved($0.field) })
            case .failure(let error):
                failure = error
            }
            let fresh = failure.problems.map(\.violation).filter { !coveredByRemoved($0.field) && !found.contains($0) }
            found += fresh
            guard let first = failure.problems.first, !first.field.isEmpty else { break }
            // Take out the failing member, or the nearest member above it that can be taken out.
            var path: String? = first.field
            var next: JSONValue?
            while let candidate = path {
                if !removed.contains(candidate), let placeholder = placeholders[candidate], case .object(var members) = current {
                    members[candidate] = placeholder
                    removed.append(candidate)
                    next = .object(members)
                    break
                }
                if !removed.contains(candidate), let taken = removingMember(at: candidate, from: current) {
                    removed.append(candidate)
                    next = taken
                    break
                }
                path = parentPath(of: candidate)
            }
            guard let next else { break }
            current = next
        }
        throw RPCError.invalid(found)
    }

    /// `a.b[2].c` → `["a", "b", 2, "c"]` as keys and indexes.
    private enum Segment: Equatable { case key(String), index(Int) }

    private static func segments(of path: String) -> [Segment]? {
        var result: [Segment] = []
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            var text = Substring(part)
            guard let open = text.firstIndex(of: "[") ?? Optional(text.endIndex) else { return nil }
            let key = text[..<open]
            if !key.isEmpty { result.append(.key(String(key))) }
            text = text[open...]
            while text.first == "[" {
                guard let close = text.firstIndex(of: "]"), let index = Int(text[text.index(after: text.startIndex)..<close]) else { return nil }
                result.append(.index(index))
                text = text[text.index(after: close)...]
            }
            guard text.isEmpty else { return nil }
        }
        return result.isEmpty ? nil : result
    }

    /// The path of the member that holds `path`'s member: `a.b[2].c` → `a.b[2]`, `a.b[2]` → `a.b`, `a` → nil.
    private static func parentPath(of path: String) -> String? {
        if path.hasSuffix("]"), let open = path.lastIndex(of: "[") { return String(path[..<open]) }
        guard let dot = path.lastIndex(of: ".") else { return nil }
        return String(path[..<dot])
    }

    /// `value` without the object member at `path`; nil when `path` does not name one (a list element
    /// is not taken out: the indexes of the others would shift).
    private static func removingMember(at path: String, from value: JSONValue) -> JSONValue? {
        guard let segments = segments(of: path), case .key(let last)? = segments.last else { return nil }
        func remove(_ value: JSONValue, _ rest: ArraySlice<Segment>) -> JSONValue? {
            guard let head = rest.first else { return nil }
            switch (head, value) {
            case (.key(let key), .object(var members)) where rest.count == 1:
                guard key == last, members.removeValue(forKey: key) != nil else { return nil }
                return .object(members)
            case (.key(let key), .object(var members)):
                guard let child = members[key], let changed = remove(child, rest.dropFirst()) else { return nil }
                members[key] = changed
                return .object(members)
            case (.index(let index), .array(var elements)) where rest.count > 1 && elements.indices.contains(index):
                guard let changed = remove(elements[index], rest.dropFirst()) else { return nil }
                elements[index] = changed
                return .array(elements)
            default:
                return nil
            }
        }
        return remove(value, segments[...])
    }

    /// RFC 3339 with milliseconds, the form every timestamp in a resource takes.
    package static func timestamp(micros: Int64) -> String {
        Date(unixMicros: micros).formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
