import Foundation
import HTTPTypes
import Hummingbird
import Wire

/// An RFC 9457 problem document, the body of every error answer.
package struct Problem: Error, Codable, Sendable, Equatable {
    package var type: String
    package var title: String
    package var status: Int
    package var detail: String
    package var instance: String?
    /// Field-level problems: which field and what is wrong with it.
    package var errors: [FieldViolation]?
    package var requestId: String?
    /// Extra members for some problems (the failing dependency of a 503, …).
    package var service: String?
    /// The plan limit a 402 names (`agents`, `active_rules`, …).
    package var limit: String?

    enum CodingKeys: String, CodingKey {
        case type, title, status, detail, instance, errors, service, limit
        case requestId = "request_id"
    }

    package init(status: HTTPResponse.Status, detail: String, errors: [FieldViolation]? = nil, service: String? = nil, limit: String? = nil) {
        self.limit = limit
        self.type = "about:blank"
        self.title = status.reasonPhrase
        self.status = status.code
        self.detail = detail
        self.errors = errors.flatMap { $0.isEmpty ? nil : $0 }
        self.service = service
    }

    package var httpStatus: HTTPResponse.Status { HTTPResponse.Status(code: status) }

    /// The problem as an `application/problem+json` response.
    package func response(requestID: String) -> Response {
        var problem = self
        problem.requestId = requestID.isEmpty ? nil : requestID
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // A problem is strings, numbers and field violations, which JSONEncoder always encodes; the
        // fallback only keeps an error answer from becoming a crash.
        let body = (try? encoder.encode(problem)) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/problem+json"
        return Response(status: httpStatus, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// The one place where errors become HTTP answers. Service status codes map the way grpc-gateway
/// maps them; anything unrecognised is a 500 with a generic message (and is logged in full).
package enum ErrorMapping {
    package static func status(for code: StatusCode) -> HTTPResponse.Status {
        switch code {
        case .ok: .ok
        case .invalidArgument, .outOfRange: .badRequest
        case .notFound: .notFound
        case .alreadyExists, .aborted: .conflict
        case .failedPrecondition: .preconditionFailed
        case .resourceExhausted: .tooManyRequests
        case .unavailable: .serviceUnavailable
        case .deadlineExceeded: .gatewayTimeout
        case .unauthenticated: .unauthorized
        case .permissionDenied: .forbidden
        case .unimplemented: .notImplemented
        case .cancelled: HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request")
        case .unknown, .internal, .dataLoss: .internalServerError
        }
    }

    /// The problem document for any error thrown while answering a request.
    package static func problem(for error: any Error, service: String? = nil) -> (problem: Problem, logFully: Bool) {
        switch error {
        case let problem as Problem:
            return (problem, false)
        case let rpc as RPCError:
            if let limit = rpc.planLimit {
                // The service that enforces the plan refused: 402, as the gateway's own plan checks answer.
                return (Problem(status: HTTPResponse.Status(code: 402, reasonPhrase: "Payment Required"), detail: rpc.message, service: service,
                                limit: limit), false)
            }
            let status = status(for: rpc.code)
            if status == .internalServerError {
                return (Problem(status: status, detail: "internal error"), true)
            }
            return (Problem(status: status, detail: rpc.message, errors: rpc.violations, service: service), false)
        case let http as any HTTPResponseError:
            let detail: String
            switch http.status {
            case .notFound: detail = "no such resource"
            case .contentTooLarge: detail = "request body too large"
            case .methodNotAllowed: detail = "method not allowed on this resource"
            default: detail = (http as? HTTPError)?.body ?? http.status.reasonPhrase
            }
            return (Problem(status: http.status, detail: detail), false)
        case is DecodingError:
            return (Problem(status: .badRequest, detail: JSONErrors.describe(error as! DecodingError)), false)
        default:
            return (Problem(status: .internalServerError, detail: "internal error"), true)
        }
    }
}

/// Turns JSON decoding failures into messages that name the field.
package enum JSONErrors {
    package static func path(_ codingPath: [any CodingKey]) -> String {
        var result = ""
        for key in codingPath {
            if let index = key.intValue { result += "[\(index)]" } else { result += result.isEmpty ? key.stringValue : "." + key.stringValue }
        }
        return result.isEmpty ? "body" : result
    }

    package static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(let type, let context):
            return "\(path(context.codingPath)): expected \(typeName(type))"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(typeName(type)), found null"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])): is required"
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "body is not valid JSON" : "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "body could not be decoded"
        }
    }

    package static func violation(_ error: DecodingError) -> FieldViolation {
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return FieldViolation(field: path(context.codingPath), message: describe(error))
        case .keyNotFound(let key, let context):
            return FieldViolation(field: path(context.codingPath + [key]), message: "is required")
        @unknown default:
            return FieldViolation(field: "body", message: "could not be decoded")
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type, is Int32.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        default: String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
    }
}
