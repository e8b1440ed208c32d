import Basics
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Wire

/// A JSON request body the API accepts: declares its fields so unknown ones are refused by name.
package protocol RequestBody: Decodable, Sendable {
    static var fields: Set<String> { get }
}

extension Request {
    /// Refuses a body whose declared media type is not JSON (`application/json` or `…+json`) with 415.
    /// A body without a `Content-Type` is read as JSON.
    package func requireJSONMediaType() throws {
        guard let declared = headers[.contentType] else { return }
        let type = declared.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard type == "application/json" || (type.hasPrefix("application/") && type.hasSuffix("+json")) else {
            throw Problem(status: .unsupportedMediaType, detail: "the body must be application/json, not \(type.isEmpty ? "an empty media type" : type)")
        }
    }

    /// Decodes a JSON body of at most `limit` bytes; malformed JSON, wrong types and unknown fields
    /// become 400 problems that name the field.
    package func decodeBody<T: RequestBody>(_ type: T.Type, context: GatewayContext, limit: Int? = nil) async throws -> T {
        let buffer = try await body.collect(upTo: limit ?? context.maxUploadSize)
        let data = Data(buffer.readableBytesView)
        guard !data.isEmpty else { throw Problem(status: .badRequest, detail: "a JSON body is required") }
        try requireJSONMediaType()
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw Problem(status: .badRequest, detail: "body is not valid JSON",
                          errors: [FieldViolation(field: "body", message: "is not valid JSON")])
        }
        guard let dictionary = object as? [String: Any] else {
            throw Problem(status: .badRequest, detail: "body must be a JSON object",
                          errors: [FieldViolation(field: "body", message: "must be a JSON object")])
        }
        let unknown = Set(dictionary.keys).subtracting(T.fields).sorted()
        if !unknown.isEmpty {
            throw Problem(status: .badRequest, detail: "unknown field\(unknown.count > 1 ? "s" : ""): \(unknown.joined(separator: ", "))",
                          errors: unknown.map { FieldViolation(field: $0, message: "is not a field of this resource") })
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            let violation = JSONErrors.violation(error)
            throw Problem(status: .badRequest, detail: violation.message, errors: [violation])
        }
    }
}

/// A JSON answer with the API's encoder.
package func jsonResponse<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) throws -> Response {
    let data = try JSONEncoder.api.encode(value)
    var headers = extra
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
}

/// Query parameters, validated.
package struct QueryReader {
    let request: Request
    package init(_ request: Request) { self.request = request }

    package func string(_ name: String, maxLength: Int = 200) throws -> String {
        let value = request.uri.queryParameters[name[...]].map(String.init) ?? ""
        guard value.count <= maxLength else { throw Problem.field(name, "must be at most \(maxLength) characters") }
        return value
    }

    package func int(_ name: String, range: ClosedRange<Int64>) throws -> Int64? {
        guard let text = request.uri.queryParameters[name[...]], !text.isEmpty else { return nil }
        guard let value = Int64(text), range.contains(value) else {
            throw Problem.field(name, "must be an integer between \(range.lowerBound) and \(range.upperBound)")
        }
        return value
    }

    /// An RFC 3339 time as microseconds.
    package func time(_ name: String) throws -> Int64? {
        guard let text = request.uri.queryParameters[name[...]], !text.isEmpty else { return nil }
        guard let date = RFC3339.parse(String(text)) else { throw Problem.field(name, "must be an RFC 3339 time, e.g. 2026-11-25T10:00:00Z") }
        return date.unixMicros
    }

    package func limit(default value: Int32 = 50, maximum: Int32 = 200) throws -> Int32 {
        guard let text = request.uri.queryParameters["limit"[...]], !text.isEmpty else { return value }
        guard let limit = Int32(text), (1...maximum).contains(limit) else { throw Problem.field("limit", "must be between 1 and \(maximum)") }
        return limit
    }
}

extension Problem {
    /// A 400 naming one field.
    package static func field(_ field: String, _ message: String) -> Problem {
        Problem(status: .badRequest, detail: "\(field): \(message)", errors: [FieldViolation(field: field, message: message)])
    }
}

/// RFC 3339 times in UTC, the API's only time format.
package enum RFC3339 {
    package static func string(micros: Int64) -> String? {
        guard micros != 0 else { return nil }
        return string(Date(unixMicros: micros))
    }

    package static func string(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().timeZone(separator: .omitted).time(includingFractionalSeconds: false).timeSeparator(.colon).dateSeparator(.dash))
    }

    package static func parse(_ text: String) -> Date? {
        // Two accepted spellings, tried in turn; text that is neither is nil, which callers answer with 400.
        if let date = try? Date(text, strategy: .iso8601) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}
