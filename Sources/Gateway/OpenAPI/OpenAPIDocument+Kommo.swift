import Basics
import Foundation

/// Connecting a Kommo account through OAuth, and the account's catalog.
extension OpenAPIDocument {
    static var kommoConnectOperations: [APIOperation] {
        let query: (String, String, Int) -> JSONValue = { name, description, maxLength in
            ["name": .string(name), "in": "query", "required": false, "description": .string(description),
             "schema": ["type": "string", "maxLength": .int(Int64(maxLength))]]
        }
        // The callback refuses nothing (every outcome is a 303 to the admin UI, an over-long value being
        // `state_invalid` or `bad_referer`), so its parameters carry no limits a client must keep.
        let redirectQuery: (String, String) -> JSONValue = { name, description in
            ["name": .string(name), "in": "query", "required": false, "description": .string(description), "schema": ["type": "string"]]
        }
        let kind: JSONValue = ["name": "kind", "in": "path", "required": true, "description": "Which part of the catalog.",
                               "schema": ["type": "string", "enum": ["pipelines", "users", "custom_fields", "tags", "task_types"]]]
        return [
            APIOperation(method: "post", path: "/api/v1/integrations/kommo/install", id: "installKommo", summary: "Start connecting a Kommo account",
                         tag: "integrations",
                         description: "Answers Kommo's consent page (`authorize_url`) with a signed `state` naming the tenant, valid for 15 minutes and for one callback. Send the user there; Kommo redirects back to `/oauth/kommo/callback`. 412 when the operator has not configured the Kommo integration (`KOMMO_CLIENT_ID`).",
                         body: Schema.object(["mode": Schema.string("How Kommo's page opens (default post_message).", enumeration: ["post_message", "popup"])],
                                             closed: true),
                         bodyRequired: false, example: ["mode": "popup"],
                         success: [200: ("Where to send the user.", Schema.ref("KommoInstall"))], problems: [412], callsServices: false),
            APIOperation(method: "get", path: "/oauth/kommo/callback", id: "kommoOAuthCallback", summary: "Kommo's redirect after consent",
                         tag: "integrations", access: .open,
                         description: "The `state` authenticates. The code is exchanged at the account's host (`referer`, which must be a Kommo host), the tokens stored encrypted, the account bound to the tenant, our webhook registered and the catalog read. Always answers 303 to the admin integrations page: `#/integrations?kommo=connected`, or `?kommo=error&reason=` one of `state_invalid`, `state_expired`, `state_used`, `denied`, `missing_code`, `bad_referer`, `not_configured`, `exchange_failed`; nothing is stored on an error.",
                         parameters: [redirectQuery("code", "The authorization code."), redirectQuery("referer", "The account's host, e.g. acme.kommo.com."),
                                      redirectQuery("state", "The state the install answered."),
                                      redirectQuery("from_widget", "Set when installed from the widget settings."),
                                      redirectQuery("client_id", "The integration's id."), redirectQuery("error", "Set when the user declined.")],
                         success: [303: ("To the admin UI's integrations page, with the outcome.", nil)]),
            APIOperation(method: "get", path: "/oauth/kommo/uninstall", id: "kommoUninstall", summary: "Kommo's uninstall notice", tag: "integrations",
                         access: .open,
                         description: "`signature` is the hex HMAC-SHA256 of `client_uuid|account_id` with the integration's client secret. Removes our webhook and forgets the tokens and catalog of the tenants connected to the account. 403 for a bad signature, 404 when no tenant is connected to the account, 412 when the integration is not configured.",
                         parameters: [query("client_uuid", "The integration's uuid.", 128),
                                      ["name": "account_id", "in": "query", "required": false, "description": "The Kommo account.",
                                       "schema": ["type": "string", "pattern": "^[1-9][0-9]{0,17}$"]],
                                      query("signature", "Hex HMAC-SHA256.", 256)],
                         success: [200: ("Disconnected.", Schema.ref("KommoDisconnected"))], problems: [403, 404, 412]),
            APIOperation(method: "delete", path: "/api/v1/integrations/kommo", id: "disconnectKommo", summary: "Disconnect the Kommo account",
                         tag: "integrations",
                         description: "Removes our webhook at Kommo (`DELETE /api/v4/webhooks`; `webhook_removed` says whether it worked), forgets the tokens (OAuth or pasted), the connection and the catalog, and unbinds the account from the tenant's webhooks.",
                         success: [200: ("Disconnected.", Schema.ref("KommoDisconnected"))]),
            APIOperation(method: "get", path: "/api/v1/kommo/catalog", id: "kommoCatalog", summary: "The connected account's catalog", tag: "integrations",
                         description: "Pipelines with their stages, users, custom fields with enum values per entity, tags per entity, task types. `connected: false` with empty lists when no account is connected through OAuth.",
                         success: [200: ("The catalog.", Schema.ref("KommoCatalog"))]),
            APIOperation(method: "get", path: "/api/v1/kommo/catalog/{kind}", id: "kommoCatalogPart", summary: "One part of the catalog",
                         tag: "integrations", parameters: [kind],
                         success: [200: ("`connected`, `refreshed_at` and the part named by `kind`.", Schema.object([
                             "connected": Schema.boolean(), "refreshed_at": optionalTime,
                         ], required: ["connected"]))]),
            APIOperation(method: "post", path: "/api/v1/kommo/catalog/refresh", id: "refreshKommoCatalog", summary: "Read the catalog from Kommo now",
                         tag: "integrations",
                         description: "Within the account's rate budget, each list paginated (`limit=250`). 412 when not connected through OAuth; 503 when Kommo could not be read (the previous catalog stays).",
                         success: [200: ("The catalog.", Schema.ref("KommoCatalog"))], problems: [412]),
        ]
    }

    static var kommoConnectSchemas: [String: JSONValue] {
        let named = Schema.object(["id": Schema.integer(), "name": Schema.string()], required: ["id", "name"])
        let field = Schema.object([
            "id": Schema.integer(), "name": Schema.string(), "type": Schema.string(), "code": Schema.string(nullable: true),
            "enums": Schema.array(Schema.object(["id": Schema.integer(), "value": Schema.string()], required: ["id", "value"])),
        ], required: ["id", "name", "type", "enums"])
        let perEntity: (JSONValue) -> JSONValue = { item in
            Schema.object(["leads": Schema.array(item), "contacts": Schema.array(item), "companies": Schema.array(item)],
                          required: ["leads", "contacts", "companies"])
        }
        return [
            "KommoInstall": Schema.object([
                "authorize_url": Schema.string("Kommo's consent page with client_id, state and mode.", format: "uri"),
                "state": Schema.string("Signed, single-use, expiring."), "expires_at": time,
            ], required: ["authorize_url", "state", "expires_at"]),
            "KommoDisconnected": Schema.object([
                "disconnected": Schema.boolean(), "webhook_removed": Schema.boolean("Whether Kommo removed our webhook."),
                "account_id": Schema.integer(), "detail": Schema.string("Why the webhook could not be removed."),
                "tenants": Schema.array(Schema.string(), "The tenants an uninstall notice disconnected."),
            ], required: ["disconnected"]),
            "KommoCatalog": Schema.object([
                "connected": Schema.boolean(),
                "account": Schema.object(["id": Schema.integer(), "subdomain": Schema.string(), "name": Schema.string()], nullable: true),
                "refreshed_at": optionalTime,
                "pipelines": Schema.array(Schema.object([
                    "id": Schema.integer(), "name": Schema.string(), "is_main": Schema.boolean(), "sort": Schema.integer(),
                    "stages": Schema.array(Schema.object([
                        "id": Schema.integer("142 is won and 143 lost in every pipeline."), "name": Schema.string(), "sort": Schema.integer(),
                        "color": Schema.string(nullable: true), "kind": Schema.string(enumeration: ["unsorted", "open", "won", "lost"]),
                    ], required: ["id", "name", "kind"])),
                ], required: ["id", "name", "stages"])),
                "users": Schema.array(Schema.object(["id": Schema.integer(), "name": Schema.string(), "email": Schema.string(nullable: true)],
                                                    required: ["id", "name"])),
                "custom_fields": perEntity(field), "tags": perEntity(named), "task_types": Schema.array(named),
            ], required: ["connected", "account", "refreshed_at", "pipelines", "users", "custom_fields", "tags", "task_types"]),
        ]
    }
}
