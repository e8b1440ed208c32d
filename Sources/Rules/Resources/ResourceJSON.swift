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

    /// RFC 3339 with milliseconds, the form every timestamp in a resource takes.
    package static func timestamp(micros: Int64) -> String {
        Date(unixMicros: micros).formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
