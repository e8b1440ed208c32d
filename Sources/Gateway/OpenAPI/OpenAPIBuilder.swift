import Basics
import Foundation

// The document is written as Swift literals of `JSONValue`, so it is checked by the compiler, lives next
// to the routes it describes, and is encoded once at startup.

/// Small constructors for JSON Schema (2020-12, as OpenAPI 3.1 uses it).
enum Schema {
    static func ref(_ name: String) -> JSONValue { ["$ref": .string("#/components/schemas/\(name)")] }

    static func string(_ description: String? = nil, format: String? = nil, enumeration: [String]? = nil,
                       minLength: Int? = nil, maxLength: Int? = nil, pattern: String? = nil, nullable: Bool = false) -> JSONValue {
        var schema: [String: JSONValue] = ["type": nullable ? ["string", "null"] : "string"]
        if let description { schema["description"] = .string(description) }
        if let format { schema["format"] = .string(format) }
        if let enumeration { schema["enum"] = .array(enumeration.map(JSONValue.string) + (nullable ? [.null] : [])) }
        if let minLength { schema["minLength"] = .int(Int64(minLength)) }
        if let maxLength { schema["maxLength"] = .int(Int64(maxLength)) }
        if let pattern { schema["pattern"] = .string(pattern) }
        return .object(schema)
    }

    static func integer(_ description: String? = nil, minimum: Int64? = nil, maximum: Int64? = nil, nullable: Bool = false) -> JSONValue {
        var schema: [String: JSONValue] = ["type": nullable ? ["integer", "null"] : "integer"]
        if let description { schema["description"] = .string(description) }
        if let minimum { schema["minimum"] = .int(Int64(minimum)) }
        if let maximum { schema["maximum"] = .int(Int64(maximum)) }
        return .object(schema)
    }

    static func number(_ description: String? = nil, nullable: Bool = false) -> JSONValue {
        var schema: [String: JSONValue] = ["type": nullable ? ["number", "null"] : "number"]
        if let description { schema["description"] = .string(description) }
        return .object(schema)
    }

    static func boolean(_ description: String? = nil, nullable: Bool = false) -> JSONValue {
        var schema: [String: JSONValue] = ["type": nullable ? ["boolean", "null"] : "boolean"]
        if let description { schema["description"] = .string(description) }
        return .object(schema)
    }

    static func array(_ items: JSONValue, _ description: String? = nil, maxItems: Int? = nil, nullable: Bool = false) -> JSONValue {
        var schema: [String: JSONValue] = ["type": nullable ? ["array", "null"] : "array", "items": items]
        if let description { schema["description"] = .string(description) }
        if let maxItems { schema["maxItems"] = .int(Int64(maxItems)) }
        return .object(schema)
    }

    /// An object. `closed` objects refuse members they do not declare (`additionalProperties: false`),
    /// which is how the server treats request bodies; answers are open so that adding a member is not a
    /// breaking change. In a closed (request) object an optional member may also be `null`, which the
    /// server reads as absent.
    static func object(_ properties: [String: JSONValue], required: [String] = [], closed: Bool = false,
                       description: String? = nil, nullable: Bool = false) -> JSONValue {
        var properties = properties
        if closed {
            for (name, schema) in properties where !required.contains(name) { properties[name] = Self.nullable(schema) }
        }
        var schema: [String: JSONValue] = ["type": nullable ? ["object", "null"] : "object", "properties": .object(properties)]
        if !required.isEmpty { schema["required"] = .array(required.sorted().map(JSONValue.string)) }
        if closed { schema["additionalProperties"] = false }
        if let description { schema["description"] = .string(description) }
        return .object(schema)
    }

    /// Any JSON object (a document whose finer rules the owning service checks and reports by field).
    static func anyObject(_ description: String, nullable: Bool = false) -> JSONValue {
        ["type": nullable ? ["object", "null"] : "object", "description": .string(description)]
    }

    /// A page of a list: `items` and the cursor of the next page, absent on the last one.
    static func page(_ item: JSONValue) -> JSONValue {
        object(["items": array(item), "next_cursor": string("Pass as `cursor` for the next page; absent on the last page.")],
               required: ["items"])
    }

    /// A schema with its members made optional and nullable: the body of a JSON Merge Patch (RFC 7396),
    /// where `null` removes a member.
    static func mergePatch(of schema: JSONValue) -> JSONValue {
        guard case .object(var members) = schema, case .object(let properties)? = members["properties"] else { return schema }
        members["properties"] = .object(properties.mapValues { nullable($0) })
        members["required"] = nil
        return .object(members)
    }

    static func nullable(_ schema: JSONValue) -> JSONValue {
        guard case .object(var members) = schema else { return schema }
        switch members["type"] {
        case .string(let type)?:
            members["type"] = [.string(type), "null"]
            if case .array(var values)? = members["enum"] { values.append(.null); members["enum"] = .array(values) }
            return .object(members)
        case .array?:
            return schema
        default:
            return ["anyOf": [schema, ["type": "null"]]]
        }
    }
}

// MARK: - Operations

/// One operation of the document, with what every operation of its kind answers.
struct APIOperation {
    /// Who may call it.
    enum Access {
        /// A tenant's API key (`Authorization: Bearer ka_…`).
        case tenant
        /// The operator's admin token.
        case admin
        /// Nobody has to authenticate.
        case open
        /// The secret in the path authenticates (Kommo webhooks).
        case pathSecret
        /// An HMAC of the body in a header authenticates (Chats API channel webhooks).
        case signature
    }

    var method: String
    var path: String
    var id: String
    var summary: String
    var tag: String
    var access: Access = .tenant
    var description: String?
    var parameters: [JSONValue] = []
    /// A JSON body: its schema and whether it may be left out.
    var body: JSONValue?
    var bodyRequired = true
    var bodyMediaType = "application/json"
    /// A body the server accepts (given the ids of the path exist); tests and the examples phase send it.
    var example: JSONValue?
    /// Success answers by status: a description and an optional JSON schema.
    var success: [Int: (String, JSONValue?)]
    /// Statuses answered with a problem document besides the ones every operation of its access gives.
    var problems: Set<Int> = []
    /// Headers of the success answers beyond `X-Request-Id`.
    var successHeaders: [String: JSONValue] = [:]
    var successMediaType = "application/json"
    /// The 200 answer is also given as CSV (`Accept: text/csv`).
    var csv = false

    /// Calls a service: may find it busy (429), down (503) or too slow (504).
    var callsServices = true

    /// Every problem status the operation can answer.
    var problemStatuses: [Int] {
        var statuses = problems
        if !parameters.isEmpty || body != nil { statuses.insert(400) }
        if body != nil { statuses.formUnion([413, 415]) }
        if path.contains("{") { statuses.insert(404) }
        switch access {
        case .tenant: statuses.formUnion([401, 429])
        case .admin: statuses.formUnion([401, 429])
        case .open, .pathSecret: break
        case .signature: statuses.insert(401)
        }
        if callsServices { statuses.formUnion([429, 503, 504]) }
        return statuses.sorted()
    }

    var json: JSONValue {
        var operation: [String: JSONValue] = ["operationId": .string(id), "summary": .string(summary), "tags": [.string(tag)]]
        if let description { operation["description"] = .string(description) }
        // Path parameters first, in the order of the path, unless the operation declares its own.
        let declared = self.parameters.filter { $0["in"] == "path" }.compactMap { $0["name"] }
        let parameters = Self.pathParameters(path).filter { !declared.contains(.string($0)) }.map(OpenAPIDocument.pathID) + self.parameters
        if !parameters.isEmpty { operation["parameters"] = .array(parameters) }
        if let body {
            var media: [String: JSONValue] = ["schema": body]
            if let example { media["example"] = example }
            operation["requestBody"] = ["required": .bool(bodyRequired), "content": .object([bodyMediaType: .object(media)])]
        }
        switch access {
        case .tenant: operation["security"] = [["apiKey": []]]
        case .admin: operation["security"] = [["adminToken": []]]
        case .open, .pathSecret, .signature: operation["security"] = []
        }
        var responses: [String: JSONValue] = [:]
        for (status, (description, schema)) in success {
            var headers: [String: JSONValue] = ["X-Request-Id": OpenAPIDocument.requestIDHeader]
            headers.merge(successHeaders) { _, new in new }
            var response: [String: JSONValue] = ["description": .string(description), "headers": .object(headers)]
            if let schema {
                var content: [String: JSONValue] = [successMediaType: ["schema": schema]]
                if csv && status == 200 {
                    content["text/csv"] = ["schema": Schema.string("One row per day (or per item), the first row the column names.")]
                }
                response["content"] = .object(content)
            }
            responses[String(status)] = .object(response)
        }
        for status in problemStatuses where responses[String(status)] == nil {
            responses[String(status)] = ["$ref": .string("#/components/responses/\(status)")]
        }
        operation["responses"] = .object(responses)
        return .object(operation)
    }

    static func pathParameters(_ path: String) -> [String] {
        path.split(separator: "/").filter { $0.hasPrefix("{") && $0.hasSuffix("}") }.map { String($0.dropFirst().dropLast()) }
    }
}
