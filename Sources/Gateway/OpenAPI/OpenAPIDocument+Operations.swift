import Basics
import Domain
import Foundation

/// Every operation of the document, in the order the routes are added in ``GatewayApp``.
extension OpenAPIDocument {
    static var operations: [APIOperation] {
        systemOperations + tenantOperations + webhookOperations + agentOperations + scriptOperations + knowledgeOperations + sequenceOperations
            + integrationOperations + billingOperations + kommoConnectOperations + analyticsOperations
    }

    // MARK: - System, inbound webhooks, the document itself

    static var systemOperations: [APIOperation] {
        adminUIOperations + [
            APIOperation(method: "get", path: "/healthz", id: "health", summary: "The gateway is alive", tag: "system", access: .open,
                         success: [200: ("Alive.", Schema.ref("Health"))], callsServices: false),
            APIOperation(method: "get", path: "/readyz", id: "readiness", summary: "Every service answers", tag: "system", access: .open,
                         success: [200: ("Every service is ready.", Schema.ref("Readiness")),
                                   503: ("At least one service is unavailable; `services` says which.", Schema.ref("Readiness"))],
                         callsServices: false),
            APIOperation(method: "get", path: "/metrics", id: "metrics", summary: "Prometheus metrics of all four processes", tag: "system",
                         access: .open,
                         description: "Needs `Authorization: Bearer` with the metrics token (`--metrics-token`) or the admin token.",
                         success: [200: ("Prometheus text format.", Schema.string())], problems: [401, 429], successMediaType: "text/plain",
                         callsServices: false),
            APIOperation(method: "post", path: "/webhooks/kommo/{secret}", id: "receiveKommoWebhook", summary: "Kommo's webhook", tag: "webhooks",
                         access: .pathSecret,
                         description: "Authenticated by the per-tenant secret in the path. The delivery and its events are stored before the answer.",
                         body: Schema.object([:], description: "Kommo's form with PHP-style bracket keys (`leads[add][0][id]=…`)."),
                         bodyRequired: false, bodyMediaType: "application/x-www-form-urlencoded",
                         success: [200: ("Stored (or recognised as a duplicate, or kept as unparsed).", Schema.ref("IngestAnswer"))],
                         problems: [403, 415]),
            APIOperation(method: "post", path: "/webhooks/kommo-chats/{scope_id}", id: "receiveChatsWebhook",
                         summary: "A Chats API channel's webhook", tag: "webhooks", access: .signature,
                         description: "Kommo's webhook for the tenant's own Chats API channel (`scope_id` as Kommo issued it). "
                             + "`X-Signature` is the lowercase hex HMAC-SHA1 of the raw body with the channel secret; a bad one is 401 "
                             + "and leaves a rejected delivery without its body. Kommo sends each once, so the delivery and its events "
                             + "are stored before the answer. At most 256 KiB.",
                         parameters: [["name": "X-Signature", "in": "header", "required": true,
                                       "description": "Lowercase hex HMAC-SHA1 of the body with the channel secret.",
                                       "schema": ["type": "string", "minLength": 1, "maxLength": 128]]],
                         body: Schema.object([:], description: "Kommo's JSON, e.g. `{\"message\": {\"conversation\": …, \"message\": {\"id\", \"text\"}}}`."),
                         bodyRequired: true, bodyMediaType: "application/json",
                         success: [200: ("Stored (or recognised as a duplicate, or kept as unparsed).", Schema.ref("IngestAnswer"))]),
            APIOperation(method: "get", path: "/api/v1/openapi.json", id: "openAPI", summary: "This document", tag: "system", access: .open,
                         success: [200: ("The OpenAPI 3.1 document.", Schema.ref("OpenAPI"))], callsServices: false),
        ]
    }

    /// The admin UI's static files, on GET and HEAD.
    static var adminUIOperations: [APIOperation] {
        [("get", ""), ("head", "Head")].flatMap { method, suffix in
            [
                APIOperation(method: method, path: "/admin", id: "adminUI\(suffix)", summary: "The admin UI", tag: "system", access: .open,
                             description: "`/admin` redirects to `/admin/`, which answers the UI's page.",
                             success: [200: ("The page.", method == "get" ? Schema.string() : nil), 308: ("To `/admin/`.", nil)],
                             successMediaType: "text/html", callsServices: false),
                APIOperation(method: method, path: "/admin/{file}", id: "adminUIFile\(suffix)", summary: "A file of the admin UI", tag: "system",
                             access: .open, description: "`file` may span folders (`js/app.js`). Answers 304 to a matching `If-None-Match`.",
                             success: [200: ("The file (HTML, CSS, JavaScript, images).", nil), 304: ("Not modified.", nil)],
                             problems: [400], callsServices: false),
            ]
        }
    }

    // MARK: - Tenants and API keys

    static var tenantOperations: [APIOperation] {
        var operations = [
            APIOperation(method: "post", path: "/api/v1/tenants", id: "createTenant", summary: "Create a tenant", tag: "tenants", access: .admin,
                         description: "Answers the tenant, its first API key (shown once) and its Kommo webhook URL.",
                         body: Schema.ref("CreateTenant"), example: ["name": "Acme Sales"], success: [201: ("Created.", Schema.ref("CreatedTenant"))]),
            APIOperation(method: "get", path: "/api/v1/tenants", id: "listTenants", summary: "List tenants", tag: "tenants", access: .admin,
                         parameters: [limit, cursor(64)], success: [200: ("A page of tenants.", Schema.ref("TenantPage"))], callsServices: false),
        ]
        operations += [
            APIOperation(method: "post", path: "/api/v1/tenants/{id}/suspend", id: "suspendTenant", summary: "Suspend a tenant: it stops",
                         tag: "tenants", access: .admin,
                         description: """
                             Its API keys answer 401. Its Kommo webhooks are still answered 200 and stored, but their events are \
                             held (status `held` in the event history) and not dispatched; none of its due actions run (they stay \
                             pending). Suspending a suspended tenant changes nothing.
                             """,
                         success: [200: ("The tenant.", Schema.ref("Tenant"))]),
            APIOperation(method: "post", path: "/api/v1/tenants/{id}/resume", id: "resumeTenant", summary: "Resume a suspended tenant",
                         tag: "tenants", access: .admin,
                         description: """
                             Its keys work again and its pending actions run. The events held while it was suspended are \
                             dispatched in their order (each lead's events in turn), or with `{"held_events": "skip"}` marked \
                             `skipped` and never acted on. The body may be left out.
                             """,
                         body: Schema.ref("ResumeTenant"), bodyRequired: false, example: ["held_events": "skip"],
                         success: [200: ("The tenant.", Schema.ref("Tenant"))]),
        ]
        operations += [
            APIOperation(method: "post", path: "/api/v1/api-keys", id: "createAPIKey", summary: "Create an API key", tag: "api-keys",
                         body: Schema.ref("CreateAPIKey"), example: ["name": "CRM sync"], success: [201: ("Created; `key` is shown only here.", Schema.ref("APIKey"))],
                         callsServices: false),
            APIOperation(method: "get", path: "/api/v1/api-keys", id: "listAPIKeys", summary: "The tenant's API keys", tag: "api-keys",
                         success: [200: ("Every key with its prefix and last use.", Schema.ref("APIKeyPage"))], callsServices: false),
            APIOperation(method: "delete", path: "/api/v1/api-keys/{id}", id: "revokeAPIKey", summary: "Revoke an API key", tag: "api-keys",
                         success: [200: ("The revoked key.", Schema.ref("APIKey"))], callsServices: false),
        ]
        return operations
    }

    // MARK: - Webhook history

    static var webhookOperations: [APIOperation] {
        let text = { (name: String, max: Int, description: String) in query(name, Schema.string(maxLength: max), description) }
        return [
            APIOperation(method: "get", path: "/api/v1/integrations/kommo/webhook", id: "getKommoWebhook", summary: "The URL to paste into Kommo",
                         tag: "integrations", success: [200: ("The webhook source.", Schema.ref("WebhookSource"))]),
            APIOperation(method: "post", path: "/api/v1/integrations/kommo/webhook/rotate", id: "rotateKommoWebhook",
                         summary: "Rotate the webhook secret", tag: "integrations",
                         description: "The old secret keeps working for `grace_seconds` (default a day). The body may be left out.",
                         body: Schema.ref("RotateWebhook"), bodyRequired: false, example: ["grace_seconds": 3600],
                         success: [200: ("The source with its new URL.", Schema.ref("WebhookSource"))]),
            APIOperation(method: "get", path: "/api/v1/webhooks/events", id: "listEvents", summary: "Event history", tag: "webhooks",
                         parameters: [text("type", 64, "Event type (lead_created, stage_changed, message_received, …)."),
                                      text("entity_type", 64, "lead, contact, company, task, message, …."), leadID,
                                      query("status", Schema.string(enumeration: ["pending", "held", "delivered", "failed", "skipped"]),
                                            "Dispatch status (`held`: the tenant is suspended, or the plan's `webhook_events_per_month` is used up)."),
                                      text("origin", 32, "kommo, timer, manual or replay."), from, to,
                                      text("text", 200, "Words of a message."), limit, cursor(64)],
                         success: [200: ("A page of events, newest first.", Schema.ref("EventPage"))]),
            APIOperation(method: "get", path: "/api/v1/webhooks/events/{id}", id: "getEvent", summary: "One event in full", tag: "webhooks",
                         description: "The raw delivery, the parsed event, its dispatch per destination, every attempt and the decision.",
                         success: [200: ("The event.", Schema.ref("EventDetail"))]),
            APIOperation(method: "post", path: "/api/v1/webhooks/events/{id}/replay", id: "replayEvent", summary: "Replay one event",
                         tag: "webhooks", body: Schema.ref("Replay"), example: ["mode": "dry_run"],
                         success: [200: ("The dry run's decision.", Schema.ref("ReplayResult")),
                                   202: ("The live replay's new event, on its way.", Schema.ref("ReplayResult"))]),
            APIOperation(method: "post", path: "/api/v1/webhooks/replay", id: "replayEvents", summary: "Replay events by filter", tag: "webhooks",
                         description: "Without `confirm: true` it only counts what it would replay.", body: Schema.ref("ReplayByFilter"), example: ["mode": "dry_run", "filter": ["type": "lead_created"]],
                         success: [200: ("The preview or dry run.", Schema.ref("ReplayResult")),
                                   202: ("The confirmed live replay, on its way.", Schema.ref("ReplayResult"))]),
            APIOperation(method: "get", path: "/api/v1/webhooks/deliveries", id: "listDeliveries", summary: "Raw deliveries", tag: "webhooks",
                         parameters: [query("status", Schema.string(enumeration: ["accepted", "duplicate", "unparsed", "rejected"]), "How it was stored."),
                                      limit, cursor(64)],
                         success: [200: ("A page of deliveries, newest first.", Schema.ref("DeliveryPage"))]),
            APIOperation(method: "post", path: "/api/v1/webhooks/deliveries/{id}/reparse", id: "reparseDelivery",
                         summary: "Parse an unparsed delivery again", tag: "webhooks",
                         success: [200: ("Parsed; its events start their journey.", Schema.ref("ReparseResult"))], problems: [412]),
            APIOperation(method: "get", path: "/api/v1/webhooks/stats", id: "webhookStats", summary: "Counts per day, type and status",
                         tag: "webhooks", parameters: [from, to], success: [200: ("The counts.", Schema.ref("WebhookStats"))]),
        ]
    }

    // MARK: - Managed documents

    /// GET/POST on a collection and GET/PATCH/DELETE on its items, as ``GatewayApp/addDocumentRoutes`` serves them.
    static func documentOperations(collection: String, item: String, noun: String, plural: String, schema: String, tag: String,
                                   filters: [JSONValue], write: JSONValue, patch: JSONValue, deleteParameters: [JSONValue] = [], deleteProblems: Set<Int> = []) -> [APIOperation] {
        let name = schema
        let kommoIDs = "Pipeline, stage, user, task type and custom field ids are checked against the connected Kommo account's catalog: "
            + "an id it lacks is a `warnings` entry at its field, or a 422 when the gateway runs with `KOMMO_UNKNOWN_IDS=refuse`."
        return [
            APIOperation(method: "get", path: collection, id: "list\(name)s", summary: "List \(plural)", tag: tag,
                         parameters: filters + [limit, cursor(128)], success: [200: ("A page of \(plural).", Schema.ref("\(name)Page"))]),
            APIOperation(method: "post", path: collection, id: "create\(name)", summary: "Create \(noun)", tag: tag,
                         description: kommoIDs, parameters: [idempotencyKey], body: Schema.ref("\(name)Write"), example: write,
                         success: [201: ("Created.", Schema.ref(name))], problems: ["Script", "Knowledge"].contains(name) ? [422] : [402, 422],
                         successHeaders: ["ETag": etagHeader]),
            APIOperation(method: "get", path: item, id: "get\(name)", summary: "Get \(noun)", tag: tag,
                         success: [200: ("The \(name.lowercased()).", Schema.ref(name))], successHeaders: ["ETag": etagHeader]),
            APIOperation(method: "patch", path: item, id: "update\(name)", summary: "Change \(noun)", tag: tag,
                         description: "A JSON Merge Patch (RFC 7396): only the members that change; `null` removes one. " + kommoIDs,
                         parameters: [ifMatch], body: Schema.ref("\(name)Patch"), example: patch,
                         success: [200: ("The changed \(name.lowercased()).", Schema.ref(name))], problems: [412, 422],
                         successHeaders: ["ETag": etagHeader]),
            APIOperation(method: "delete", path: item, id: "delete\(name)", summary: "Delete \(noun)", tag: tag, parameters: deleteParameters,
                         success: [204: ("Deleted.", nil)], problems: deleteProblems),
        ]
    }

    static var agentOperations: [APIOperation] {
        let rule = "/api/v1/agents/{id}/rules/{ruleId}"
        return documentOperations(
            collection: "/api/v1/agents", item: "/api/v1/agents/{id}", noun: "an agent", plural: "agents", schema: "Agent", tag: "agents",
            filters: [query("q", Schema.string(maxLength: 200), "Words of the name."),
                      query("status", Schema.string(maxLength: 64), "active or paused.")],
            write: ["name": "Sofia", "persona": "Friendly, brief, never pushy.", "language": "es"], patch: ["status": "paused"],
            deleteParameters: [query("cascade", Schema.string(enumeration: ["true", "false"]), "Also delete the agent's rules and scripts.")],
            deleteProblems: [412])
            + documentOperations(
                collection: "/api/v1/agents/{id}/rules", item: rule, noun: "a rule", plural: "rules", schema: "Rule", tag: "rules",
                filters: [query("enabled", Schema.string(maxLength: 64), "true or false.")],
                write: ["name": "Note new leads", "trigger": ["type": "lead_created"], "actions": [["type": "add_note", "text": "New lead"]]],
                patch: ["enabled": false])
            + [
                APIOperation(method: "post", path: rule + "/run", id: "runRule", summary: "Run a rule for a lead", tag: "rules",
                             description: "A manual event through ingest: the normal journey, visible in the history.",
                             body: Schema.ref("RunRule"), example: ["lead_id": "4410022"], success: [202: ("The event is on its way.", Schema.ref("RunResult"))]),
                APIOperation(method: "post", path: rule + "/test", id: "testRule", summary: "Dry-run a rule", tag: "rules",
                             description: "Explanations and would-be actions for an inline event, a stored one or the last N; nothing is written.",
                             body: Schema.ref("TestRule"), example: ["event": ["type": "lead_created", "lead_id": "4410022"]], success: [200: ("One decision per event.", Schema.ref("RuleTestResult"))]),
                APIOperation(method: "get", path: rule + "/stats", id: "ruleStats", summary: "Fired and not fired, by outcome and day",
                             tag: "rules", parameters: [from, to], success: [200: ("The counts.", Schema.ref("Stats"))]),
                APIOperation(method: "get", path: "/api/v1/agents/{id}/cascades", id: "listCascadeStops",
                             summary: "Cycles of rules the cascade bound stopped", tag: "rules",
                             description: "Rules whose writes to Kommo kept setting each other off on a lead (one of the agent's among them), until the chain went past rules-service's `--cascade-max-depth` within `--cascade-window-seconds` and no rule fired on the next echo. Per cycle: the rules in the order they wrote, how many events were stopped, and the last stopped chain.",
                             parameters: [limit], success: [200: ("The cycles, most recently stopped first.", Schema.ref("CascadeStopList"))]),
            ]
    }

    static var scriptOperations: [APIOperation] {
        let script = "/api/v1/agents/{id}/scripts/{scriptId}"
        return documentOperations(
            collection: "/api/v1/agents/{id}/scripts", item: script, noun: "a script", plural: "scripts", schema: "Script", tag: "scripts",
            filters: [query("q", Schema.string(maxLength: 200), "Full-text search (accent-insensitive, ranked)."),
                      query("type", Schema.string(maxLength: 64), "Kind of script."),
                      query("stage_id", Schema.string(maxLength: 64), "Scripts for this Kommo stage."),
                      query("active", Schema.string(maxLength: 64), "true or false.")],
            write: ["name": "Warm greeting", "type": "greeting", "body": "Hi {{contact.first_name|there}}!"], patch: ["active": false])
            + [
                APIOperation(method: "post", path: script + "/render", id: "renderScript", summary: "Preview a script", tag: "scripts",
                             description: "For a lead (its stored facts), with sample values on top, or both. A missing value uses its default or blocks.",
                             body: Schema.ref("RenderScript"), example: ["values": ["promo_code": "SPRING"]], success: [200: ("The rendered text, or why it is blocked.", Schema.ref("Rendered"))],
                             problems: [412]),
                APIOperation(method: "post", path: "/api/v1/agents/{id}/templates/render", id: "renderTemplate", summary: "Preview a template",
                             tag: "scripts",
                             description: "A text that is not stored (an action's message in the editor) for a lead (its stored facts), with sample values on top, or both. A missing value renders as its default or empty and is listed.",
                             body: Schema.ref("RenderTemplate"), example: ["template": "Hi {{contact.first_name|there}}!", "lead_id": 1001],
                             success: [200: ("The rendered text and the variables without a value.", Schema.ref("RenderedTemplate"))]),
                APIOperation(method: "get", path: script + "/versions", id: "listScriptVersions", summary: "Every version of a script",
                             tag: "scripts", success: [200: ("The versions, newest first.", Schema.ref("ScriptVersions"))]),
                APIOperation(method: "post", path: script + "/rollback", id: "rollbackScript", summary: "Bring back an earlier version",
                             tag: "scripts", parameters: [ifMatch], body: Schema.ref("Rollback"), example: ["version": 1],
                             success: [200: ("The script, as a new version.", Schema.ref("Script"))], problems: [412],
                             successHeaders: ["ETag": etagHeader]),
                APIOperation(method: "get", path: script + "/stats", id: "scriptStats", summary: "Reply, advance and win rates of a script",
                             tag: "scripts", parameters: [from, to], success: [200: ("The rates, per version and day.", Schema.ref("Stats"))]),
                APIOperation(method: "get", path: "/api/v1/agents/{id}/scripts-ranking", id: "rankScripts",
                             summary: "The agent's scripts ranked by effectiveness", tag: "scripts", parameters: [from, to],
                             success: [200: ("The ranking.", Schema.ref("Stats"))]),
            ]
    }

    static var knowledgeOperations: [APIOperation] {
        let document = "/api/v1/agents/{id}/knowledge/{docId}"
        return documentOperations(
            collection: "/api/v1/agents/{id}/knowledge", item: document, noun: "a knowledge document", plural: "knowledge documents",
            schema: "Knowledge", tag: "knowledge",
            filters: [query("q", Schema.string(maxLength: 200), "Words of the title."),
                      query("active", Schema.string(maxLength: 64), "true or false.")],
            write: ["title": "Delivery", "format": "markdown", "content": "# Delivery\nWe deliver to Valencia within 48 hours."],
            patch: ["content": "# Delivery\nWe deliver to Valencia within 24 hours."])
            + [
                APIOperation(method: "get", path: "/api/v1/agents/{id}/knowledge/search", id: "searchKnowledge",
                             summary: "Preview what the agent finds for a question", tag: "knowledge",
                             description: "The chunks of the agent's active documents an AI reply would be grounded in, best first: bm25 over an accent-insensitive full-text index (a match in the heading counts twice), each with the share of the question's significant words it holds (`coverage`; the offline `template` provider answers from a chunk covering at least half).",
                             parameters: [query("q", Schema.string(minLength: 1, maxLength: Limits.knowledgeQueryLength), "The question, as a client would write it."),
                                          query("limit", Schema.integer(minimum: 1, maximum: Int64(Limits.knowledgeResults)), "Chunks, 1 to \(Limits.knowledgeResults); default 5.")],
                             success: [200: ("The ranked chunks.", Schema.ref("KnowledgeSearch"))]),
                APIOperation(method: "get", path: document + "/versions", id: "listKnowledgeVersions", summary: "The saved versions of a document",
                             tag: "knowledge", description: "Newest first, at most 100; each without its content, with its length in `characters`.",
                             success: [200: ("The versions, newest first.", Schema.ref("KnowledgeVersions"))]),
                APIOperation(method: "post", path: document + "/reindex", id: "reindexKnowledge", summary: "Cut a document into chunks again",
                             tag: "knowledge", description: "Re-chunks and re-indexes the current version; no new version is made.",
                             success: [200: ("The document.", Schema.ref("Knowledge"))], successHeaders: ["ETag": etagHeader]),
            ]
    }

    static var sequenceOperations: [APIOperation] {
        let enrollments = "/api/v1/agents/{id}/sequences/{sequenceId}/enrollments"
        var operations = documentOperations(
            collection: "/api/v1/agents/{id}/sequences", item: "/api/v1/agents/{id}/sequences/{sequenceId}", noun: "a sequence",
            plural: "sequences", schema: "Sequence", tag: "sequences",
            filters: [query("status", Schema.string(maxLength: 64), "draft, active, paused or archived.")],
            write: ["name": "Follow up", "status": "active", "trigger": ["type": "manual"],
                    "steps": [["delay_days": 1, "action": ["type": "add_note", "text": "Follow up"]]]],
            patch: ["name": "Follow up, gently"])
        operations += [
            APIOperation(method: "get", path: enrollments, id: "listEnrollments", summary: "Enrollments of a sequence", tag: "sequences",
                         parameters: [query("state", Schema.string(maxLength: 32), "active, paused, completed, exited or cancelled."),
                                      leadID, limit, cursor(128)],
                         success: [200: ("A page of enrollments.", Schema.ref("EnrollmentPage"))]),
            APIOperation(method: "post", path: enrollments, id: "enroll", summary: "Enroll a lead by hand", tag: "sequences",
                         body: Schema.ref("Enroll"), example: ["lead_id": 4410023], success: [201: ("Enrolled.", Schema.ref("Enrollment"))], problems: [402, 409, 412],
                         successHeaders: ["ETag": etagHeader]),
        ]
        for verb in ["pause", "resume", "cancel"] {
            operations.append(APIOperation(
                method: "post", path: enrollments + "/{enrollmentId}/" + verb, id: "\(verb)Enrollment", summary: "\(verb.capitalized) an enrollment",
                tag: "sequences", body: Schema.ref("EnrollmentCommand"), bodyRequired: false, example: ["reason": "asked for a call"],
                success: [200: ("The enrollment.", Schema.ref("Enrollment"))], problems: [412], successHeaders: ["ETag": etagHeader]))
        }
        return operations
    }

    // MARK: - Integrations, actions, timeline

    static var integrationOperations: [APIOperation] {
        [
            APIOperation(method: "get", path: "/api/v1/integrations", id: "getIntegrations", summary: "Outbound integrations", tag: "integrations",
                         success: [200: ("Kommo credentials, message mode, webhook secret, AI provider; secrets as `…_set` flags.",
                                         Schema.ref("Integrations"))], successHeaders: ["ETag": etagHeader]),
            APIOperation(method: "patch", path: "/api/v1/integrations", id: "updateIntegrations", summary: "Change outbound integrations",
                         tag: "integrations", parameters: [ifMatch], body: Schema.ref("IntegrationsPatch"), example: ["ai": ["provider": "template"]],
                         success: [200: ("The integrations.", Schema.ref("Integrations"))], problems: [412], successHeaders: ["ETag": etagHeader]),
            APIOperation(method: "post", path: "/api/v1/integrations/kommo/test", id: "testKommoConnection", summary: "Test the Kommo connection",
                         tag: "integrations",
                         description: "Reads the connected account (`GET /api/v4/account`) with the stored credentials, through the same per-account rate limit as every action. A refused token or an unreachable account is an answer with `ok: false`; 412 when Kommo is not connected.",
                         success: [200: ("What Kommo answered.", Schema.ref("KommoConnection"))], problems: [412]),
            APIOperation(method: "post", path: "/api/v1/integrations/webhooks/rotate", id: "rotateOutgoingWebhookSecret",
                         summary: "Rotate the outgoing-webhook signing secret", tag: "integrations",
                         description: "Generates a new `whsec_` secret, shown in this answer only; webhooks sent from now on are signed with it.",
                         success: [200: ("The new secret.", Schema.ref("RotatedSecret"))]),
            APIOperation(method: "get", path: "/api/v1/actions", id: "listActions", summary: "Every attempt of every action", tag: "actions",
                         parameters: [leadID, query("outcome", Schema.string(maxLength: 64), "Only attempts with this outcome, e.g. `succeeded`, `failed`, `skipped`."),
                                      query("type", Schema.string(maxLength: 64), "Only attempts of this action type, e.g. `add_note`."), limit, cursor(128)],
                         success: [200: ("A page of attempts, newest first.", Schema.ref("ActionPage"))]),
            APIOperation(method: "post", path: "/api/v1/actions/{actionId}/retry", id: "retryInDoubtAction",
                         summary: "Send an in-doubt action again", tag: "actions",
                         description: "An action whose request may or may not have taken effect (a Salesbot run that answered 5xx or timed "
                             + "out: the bot may have messaged the client) is `in_doubt` and not sent again by itself. This sends it again "
                             + "now, under the same key; 412 when the action is not in doubt.",
                         parameters: [actionID], success: [200: ("The action's status now.", Schema.ref("ActionCommand"))], problems: [404, 412]),
            APIOperation(method: "post", path: "/api/v1/actions/{actionId}/dismiss", id: "dismissInDoubtAction",
                         summary: "Leave an in-doubt action unsent", tag: "actions",
                         description: "Marks an `in_doubt` action `dismissed`: it is not sent again. 412 when the action is not in doubt.",
                         parameters: [actionID], success: [200: ("The action's status now.", Schema.ref("ActionCommand"))], problems: [404, 412]),
            APIOperation(method: "get", path: "/api/v1/leads/{leadId}/timeline", id: "leadTimeline", summary: "A lead's actions and conversation",
                         tag: "actions",
                         description: "Events, the decision on each, enrollments, action attempts and messages, merged from every service.",
                         parameters: [["name": "leadId", "in": "path", "required": true, "description": "The Kommo lead id.",
                                       "schema": ["type": "string", "pattern": "^[1-9][0-9]{0,17}$"]], limit, cursor(32)],
                         success: [200: ("A page of the timeline, newest first.", Schema.ref("TimelinePage"))]),
            APIOperation(method: "post", path: "/api/v1/leads/{leadId}/agent/resume", id: "resumeLeadAgent",
                         summary: "Resume the agents a manager's reply paused for a lead", tag: "actions",
                         description: "Agents with `pause_on_human_reply` hold their messages to a lead after a manager writes to it; this "
                             + "resumes them by hand. The messages they held run now. Idempotent.",
                         parameters: [["name": "leadId", "in": "path", "required": true, "description": "The Kommo lead id.",
                                       "schema": ["type": "string", "pattern": "^[1-9][0-9]{0,17}$"]]],
                         success: [200: ("Resumed.", Schema.ref("LeadResume"))]),
            APIOperation(method: "get", path: "/api/v1/usage", id: "usage", summary: "What the tenant used in a period", tag: "actions",
                         description: "AI replies, AI tokens and messages sent, per UTC day and in total; `to` is exclusive.",
                         parameters: [from, to], success: [200: ("The usage.", Schema.ref("Usage"))]),
        ]
    }
}
