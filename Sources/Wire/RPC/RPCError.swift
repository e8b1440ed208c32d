/// The gRPC canonical status codes, as carried in `Envelope.status_code`.
package enum StatusCode: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case ok = 0
    case cancelled = 1
    case unknown = 2
    case invalidArgument = 3
    case deadlineExceeded = 4
    case notFound = 5
    case alreadyExists = 6
    case permissionDenied = 7
    case resourceExhausted = 8
    case failedPrecondition = 9
    case aborted = 10
    case outOfRange = 11
    case unimplemented = 12
    case `internal` = 13
    case unavailable = 14
    case dataLoss = 15
    case unauthenticated = 16

    /// The code's name as gRPC spells it: `INVALID_ARGUMENT`, `NOT_FOUND`, …
    package var description: String {
        switch self {
        case .ok: "OK"
        case .cancelled: "CANCELLED"
        case .unknown: "UNKNOWN"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .deadlineExceeded: "DEADLINE_EXCEEDED"
        case .notFound: "NOT_FOUND"
        case .alreadyExists: "ALREADY_EXISTS"
        case .permissionDenied: "PERMISSION_DENIED"
        case .resourceExhausted: "RESOURCE_EXHAUSTED"
        case .failedPrecondition: "FAILED_PRECONDITION"
        case .aborted: "ABORTED"
        case .outOfRange: "OUT_OF_RANGE"
        case .unimplemented: "UNIMPLEMENTED"
        case .internal: "INTERNAL"
        case .unavailable: "UNAVAILABLE"
        case .dataLoss: "DATA_LOSS"
        case .unauthenticated: "UNAUTHENTICATED"
        }
    }
}

/// A problem with one field of a request.
package struct FieldViolation: Sendable, Hashable, Codable {
    /// A path such as `actions[0].text`.
    package var field: String
    package var message: String
    package init(field: String, message: String) {
        self.field = field
        self.message = message
    }
}

/// The error that crosses a service boundary: a status code, a message safe to show the caller, and
/// field-level violations for `INVALID_ARGUMENT`. Domain errors convert to it; anything else travels
/// as `INTERNAL` with a generic message.
package struct RPCError: Error, Sendable, Hashable, CustomStringConvertible {
    package var code: StatusCode
    package var message: String
    package var violations: [FieldViolation]

    package init(_ code: StatusCode, _ message: String, violations: [FieldViolation] = []) {
        self.code = code
        self.message = message
        self.violations = violations
    }

    package var description: String { "\(code): \(message)" }

    /// An `INVALID_ARGUMENT` error naming the fields at fault.
    package static func invalid(_ violations: [FieldViolation]) -> RPCError {
        let summary = violations.prefix(3).map { "\($0.field): \($0.message)" }.joined(separator: "; ")
        return RPCError(.invalidArgument, summary.isEmpty ? "invalid request" : summary, violations: violations)
    }

    /// `INVALID_ARGUMENT` for one field.
    package static func invalid(field: String, _ message: String) -> RPCError {
        invalid([FieldViolation(field: field, message: message)])
    }

    /// `RESOURCE_EXHAUSTED` because the tenant's plan allows no more of `limit` (`active_enrollments`,
    /// …). The limit travels as the one violation of the `plan_limit` field, so the gateway can answer
    /// 402 naming it without reading the message.
    package static func planLimit(_ limit: String, _ message: String) -> RPCError {
        RPCError(.resourceExhausted, message, violations: [FieldViolation(field: planLimitField, message: limit)])
    }

    /// The plan limit a ``planLimit(_:_:)`` error names, else `nil`.
    package var planLimit: String? {
        guard code == .resourceExhausted else { return nil }
        return violations.first { $0.field == Self.planLimitField }?.message
    }

    static let planLimitField = "plan_limit"
}

extension PB.KeyValue {
    /// A key/value pair.
    package init(key: String, value: String) {
        self.init()
        self.key = key
        self.value = value
    }
}

extension PB.FieldViolation {
    package init(field: String, message: String) {
        self.init()
        self.field = field
        self.message = message
    }
}
