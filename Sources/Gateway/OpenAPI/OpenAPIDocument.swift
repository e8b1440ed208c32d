import Basics
import Foundation
import Hummingbird

/// The OpenAPI 3.1 description of every route the gateway serves, at `GET /api/v1/openapi.json`.
///
/// `OpenAPITests` holds it to the router (every route documented, nothing documented that is not
/// served) and `make test` runs schemathesis against a live gateway with it, so it stays true.
package enum OpenAPIDocument {
    /// The document, encoded once.
    package static let data: Data = {
        do {
            return try JSONEncoder.api.encode(document)
        } catch {
            // The document is a literal of JSON values: failing to encode it is a programming error
            // (and `OpenAPITests` would fail first), never something to serve as an empty document.
            preconditionFailure("the OpenAPI document does not encode: \(error)")
        }
    }()

    package static var document: JSONValue {
        var paths: [String: JSONValue] = [:]
        for operation in operations {
            var item = paths[operation.path]?.object ?? [:]
            item[operation.method] = operation.json
            paths[operation.path] = .object(item)
        }
        return [
            "openapi": "3.1.0",
            "info": [
                "title": "Kommo Agents API",
                "version": "1.0.0",
                "description": """
                    AI sales agents for Kommo CRM. JSON under `/api/v1`; `Authorization: Bearer <API key>` decides the \
                    tenant, and another tenant's ids answer 404. Errors are `application/problem+json` (RFC 9457) with \
                    field-level `errors`. Lists page with `limit` (1–200, default 50) and `cursor` (the previous page's \
                    `next_cursor`). Times are RFC 3339 in UTC; ids are strings. Creates of agents, rules, scripts and \
                    sequences honour `Idempotency-Key`; their updates take the `ETag` of the last read as `If-Match`.
                    """,
            ],
            "servers": [["url": "/"]],
            "tags": .array(["system", "tenants", "api-keys", "webhooks", "agents", "rules", "scripts", "knowledge", "sequences", "integrations", "actions", "billing", "analytics"]
                .map { ["name": .string($0)] }),
            "security": [["apiKey": []]],
            "paths": .object(paths),
            "components": [
                "schemas": .object(schemas),
                "responses": .object(problemResponses),
                "securitySchemes": [
                    "apiKey": ["type": "http", "scheme": "bearer", "description": "A tenant's API key (`ka_…`)."],
                    "adminToken": ["type": "http", "scheme": "bearer", "description": "The operator's admin token (`ADMIN_TOKEN`)."],
                ],
            ],
        ]
    }

    // MARK: - Shared parts

    static let requestIDHeader: JSONValue = [
        "description": "The request's id: the caller's `X-Request-Id` when it is sane, otherwise generated. Also in every log line.",
        "required": true, "schema": ["type": "string"],
    ]

    static let etagHeader: JSONValue = [
        "description": "The document's version; send it back as `If-Match` to refuse lost updates.", "schema": ["type": "string"],
    ]

    static func pathID(_ name: String) -> JSONValue {
        ["name": .string(name), "in": "path", "required": true, "schema": ["type": "string", "minLength": 1]]
    }

    /// An optional query parameter. Sent empty (`?to=`), it counts as left out.
    static func query(_ name: String, _ schema: JSONValue, _ description: String) -> JSONValue {
        ["name": .string(name), "in": "query", "required": false, "allowEmptyValue": true, "schema": schema, "description": .string(description)]
    }

    static let limit = query("limit", Schema.integer(minimum: 1, maximum: 200), "Page size, 1 to 200; default 50.")
    static func cursor(_ maxLength: Int) -> JSONValue {
        query("cursor", Schema.string(maxLength: maxLength), "The `next_cursor` of the previous page.")
    }
    static let from = query("from", Schema.string(format: "date-time"), "Start of the period (RFC 3339).")
    static let to = query("to", Schema.string(format: "date-time"), "End of the period (RFC 3339).")
    static let leadID = query("lead_id", Schema.integer(minimum: 1), "Only this Kommo lead.")
    static let actionID: JSONValue = ["name": "actionId", "in": "path", "required": true, "description": "The scheduled action (`action_id` of its action-log entries).",
                                      "schema": ["type": "string", "pattern": "^[1-9][0-9]{0,17}$"]]

    static let idempotencyKey: JSONValue = [
        "name": "Idempotency-Key", "in": "header", "required": false,
        "description": "Repeating a create with the same key answers the first result (`Idempotent-Replayed: true`) instead of creating again; the same key with a different body is refused with 422.",
        "schema": ["type": "string", "minLength": 1, "maxLength": 128],
    ]
    static let ifMatch: JSONValue = [
        "name": "If-Match", "in": "header", "required": false,
        "description": "The `ETag` of the version this change is based on; a newer stored version answers 412.",
        "schema": ["type": "string", "pattern": "^(W/)?\"?[1-9][0-9]{0,17}\"?$"],
    ]

    static let problemDescriptions: [Int: String] = [
        400: "The request is invalid: malformed JSON, a wrong type, an unknown member, a bad parameter. `errors` names the fields.",
        401: "No valid `Authorization: Bearer` token (missing, unknown, revoked, or the tenant is suspended).",
        402: "The plan's limit is reached (`limit` names it: `agents`, `active_rules`, `active_sequences`, `active_enrollments`); upgrade through checkout.",
        403: "Refused: the webhook comes from another Kommo account than the source's.",
        404: "No such resource for this tenant (another tenant's ids answer the same).",
        409: "Conflicts with the stored state (for example the lead is already enrolled).",
        412: "A precondition failed: `If-Match` is stale, the resource is in the wrong state, or it still has dependents.",
        413: "The body is larger than the route accepts.",
        415: "The body's media type is not the one the route accepts.",
        422: "The `Idempotency-Key` was used with a different request.",
        429: "Too many requests: the API key's or the tenant's rate limit, too many failed authentications from this address (both with `Retry-After`), a tenant quota (the detail names it: `max_api_keys`, `quota_agents`, `quota_rules`, `quota_scripts`, `quota_sequences`) or a busy service.",
        502: "Stripe refused or could not be reached; the detail says why.",
        503: "A service the answer needs is unavailable; `service` names it.",
        504: "A service the answer needs did not answer in time.",
    ]

    static var problemResponses: [String: JSONValue] {
        var responses: [String: JSONValue] = [:]
        for (status, description) in problemDescriptions {
            var headers: [String: JSONValue] = ["X-Request-Id": requestIDHeader]
            if status == 429 {
                headers["Retry-After"] = ["description": "Seconds to wait (on the API key's rate limit).", "schema": ["type": "integer"]]
            }
            responses[String(status)] = [
                "description": .string(description), "headers": .object(headers),
                "content": ["application/problem+json": ["schema": Schema.ref("Problem")]],
            ]
        }
        return responses
    }
}

extension GatewayApp {
    static func addOpenAPIRoutes(to api: RouterGroup<GatewayContext>) {
        api.get("/openapi.json") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.data)))
        }
    }
}
