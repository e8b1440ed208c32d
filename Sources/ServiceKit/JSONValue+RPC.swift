import Basics
import Wire

// MARK: - JSON from a request

extension JSONValue {
    /// Parses the JSON text a request carries; an empty or malformed one is `INVALID_ARGUMENT` on `field`.
    package static func parse(_ text: String, field: String = "json") throws(RPCError) -> JSONValue {
        guard !text.isEmpty else { throw RPCError.invalid(field: field, "the body is empty") }
        guard let value = JSONValue(parsing: text) else { throw RPCError.invalid(field: field, "the body is not valid JSON") }
        return value
    }

    /// Parses the JSON text a request carries and insists on an object; `what` names it in the message
    /// ("the body", "a merge patch").
    package static func parseObject(_ text: String, field: String = "json", what: String = "the body") throws(RPCError) -> [String: JSONValue] {
        guard let members = try parse(text, field: field).object else { throw RPCError.invalid(field: field, "\(what) must be a JSON object") }
        return members
    }
}
