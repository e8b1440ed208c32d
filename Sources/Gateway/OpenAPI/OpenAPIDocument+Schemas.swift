import Basics
import Domain
import Foundation
import Wire

/// The schemas of the document's `components`: what the gateway answers, and the bodies it accepts.
extension OpenAPIDocument {
    static let time = Schema.string("RFC 3339 time in UTC.", format: "date-time")
    static let optionalTime = Schema.string("RFC 3339 time in UTC; null or absent when not set.", format: "date-time", nullable: true)
    static let kommoID = Schema.string("A Kommo id, as a string of digits.", pattern: "^[1-9][0-9]{0,17}$")

    static var schemas: [String: JSONValue] {
        var schemas: [String: JSONValue] = [:]
        schemas.merge(errorSchemas) { _, new in new }
        schemas.merge(accessSchemas) { _, new in new }
        schemas.merge(historySchemas) { _, new in new }
        schemas.merge(documentSchemas) { _, new in new }
        schemas.merge(sequenceSchemas) { _, new in new }
        schemas.merge(scriptSchemas) { _, new in new }
        schemas.merge(knowledgeSchemas) { _, new in new }
        schemas.merge(billingSchemas) { _, new in new }
        schemas.merge(analyticsSchemas) { _, new in new }
        schemas.merge(kommoConnectSchemas) { _, new in new }
        return schemas
    }

    // MARK: - Errors and system

    static var errorSchemas: [String: JSONValue] {
        [
            "FieldViolation": Schema.object([
                "field": Schema.string("JSON path of the offending value (`conditions.all[1].operator`), a parameter or a header name."),
                "message": Schema.string("What is wrong with it."),
            ], required: ["field", "message"]),
            "Problem": Schema.object([
                "type": Schema.string("`about:blank`: the status says what kind of problem it is."),
                "title": Schema.string("The status's reason phrase."),
                "status": Schema.integer("The HTTP status.", minimum: 400, maximum: 599),
                "detail": Schema.string("What went wrong, for people."),
                "instance": Schema.string(),
                "errors": Schema.array(Schema.ref("FieldViolation"), "Field-level problems."),
                "request_id": Schema.string("The answer's `X-Request-Id`."),
                "service": Schema.string("The dependency that failed, on 503 and 504."),
                "limit": Schema.string("The plan limit reached, on 402."),
            ], required: ["type", "title", "status", "detail"], description: "An RFC 9457 problem document."),
            "Health": Schema.object(["status": Schema.string(enumeration: ["alive"])], required: ["status"]),
            "Readiness": Schema.object([
                "status": Schema.string(enumeration: ["ready", "unavailable"]),
                "services": Schema.array(Schema.object([
                    "name": Schema.string(), "state": Schema.string(enumeration: ["ready", "unavailable"]),
                    "detail": Schema.string(), "uptime_seconds": Schema.integer(),
                ], required: ["name", "state"])),
            ], required: ["status", "services"]),
            "IngestAnswer": Schema.object([
                "status": Schema.string("How the delivery was stored.", enumeration: ["accepted", "duplicate", "unparsed", "rejected"]),
                "delivery_id": Schema.string(),
            ], required: ["status", "delivery_id"]),
            "OpenAPI": Schema.object(["openapi": Schema.string(), "paths": Schema.anyObject("Every route.")],
                                     required: ["openapi", "paths"]),
        ]
    }

    // MARK: - Tenants, keys, integrations

    static var accessSchemas: [String: JSONValue] {
        [
            "Tenant": Schema.object([
                "id": Schema.string(), "name": Schema.string(),
                "status": Schema.string(enumeration: ["active", "suspended"]), "created_at": time,
            ], required: ["id", "name", "status", "created_at"]),
            "CreatedTenant": Schema.object([
                "tenant": Schema.ref("Tenant"),
                "api_key": Schema.string("The tenant's first API key. Shown only in this answer."),
                "webhook_url": Schema.string("The URL to paste into Kommo's webhook settings.", format: "uri"),
            ], required: ["tenant", "api_key", "webhook_url"]),
            "TenantPage": Schema.page(Schema.ref("Tenant")),
            "CreateTenant": Schema.object(["name": Schema.string("1 to 200 characters after trimming.", maxLength: 200, pattern: "\\S")],
                                          required: ["name"], closed: true),
            "APIKey": Schema.object([
                "id": Schema.string(), "name": Schema.string(),
                "prefix": Schema.string("The first characters of the key, to tell keys apart."),
                "created_at": time,
                "last_used_at": Schema.string(format: "date-time"), "revoked_at": Schema.string(format: "date-time"),
                "key": Schema.string("The key itself; only in the answer that created it."),
            ], required: ["id", "name", "prefix", "created_at"]),
            "APIKeyPage": Schema.page(Schema.ref("APIKey")),
            "CreateAPIKey": Schema.object(["name": Schema.string("1 to 200 characters after trimming; default `key created <date and time, UTC>`.", maxLength: 200, pattern: "\\S")],
                                          closed: true),
            "WebhookSource": Schema.object([
                "url": Schema.string("The Kommo webhook URL with the current secret.", format: "uri"),
                "account_id": kommoID, "subdomain": Schema.string(),
                "previous_secret_expires_at": Schema.string("Until then the secret before the last rotation still works.", format: "date-time"),
            ], required: ["url"]),
            "KommoConnection": Schema.object([
                "ok": Schema.boolean("Whether Kommo answered with the account."),
                "base_url": Schema.string("The account address the credentials point at."),
                "latency_ms": Schema.number("How long Kommo took, retries included."),
                "status": Schema.integer("Kommo's HTTP status, when it answered."),
                "account": Schema.object(["id": Schema.string(), "name": Schema.string(), "subdomain": Schema.string()], required: ["id"]),
                "detail": Schema.string("Why the account could not be read."),
            ], required: ["ok", "base_url"]),
            "RotatedSecret": Schema.object([
                "secret": Schema.string("The new signing secret (`whsec_` and base64); shown once."),
                "version": Schema.integer("The integrations' version after the change."),
            ], required: ["secret", "version"]),
            "ResumeTenant": Schema.object([
                "held_events": Schema.string("What becomes of the events held while suspended; default `dispatch`.",
                                             enumeration: ["dispatch", "skip"]),
            ], closed: true),
            "RotateWebhook": Schema.object([
                "grace_seconds": Schema.integer("How long the old secret keeps working; default a day.", minimum: 0, maximum: 2_592_000),
            ], closed: true),
            "Integrations": Schema.object([
                "kommo": Schema.object([
                    "base_url": Schema.string(format: "uri"), "subdomain": Schema.string(),
                    "access_token_set": Schema.boolean(), "rate_limit_per_second": Schema.integer(),
                ]),
                "messages": Schema.object([
                    "mode": Schema.string(enumeration: ["none", "salesbot_field", "chats_api"]),
                    "field_id": Schema.integer(), "bot_id": Schema.integer(),
                    "chats_api": Schema.object(["scope_id": Schema.string(), "base_url": Schema.string(), "channel_secret_set": Schema.boolean()]),
                ]),
                "webhooks": Schema.object(["secret_set": Schema.boolean()]),
                "embeddings": Schema.object(["base_url": Schema.string(), "model": Schema.string(), "api_key_set": Schema.boolean()]),
                "ai": Schema.object([
                    "provider": Schema.string(enumeration: ["template", "openai"]), "base_url": Schema.string(),
                    "model": Schema.string(), "api_key_set": Schema.boolean(),
                ]),
                "warnings": Schema.array(Schema.ref("FieldViolation")),
                "alerts": Schema.array(Schema.object([
                    "kind": Schema.string("kommo_account_paused: Kommo blocked the integration after repeated 429s (403), or the account is unpaid (402).",
                                          enumeration: ["kommo_account_paused"]),
                    "http_status": Schema.integer(), "reason": Schema.string(), "since": Schema.string(format: "date-time"),
                    "next_probe_at": Schema.string(format: "date-time"), "probes": Schema.integer(minimum: 0),
                ], required: ["kind", "http_status", "reason", "since", "next_probe_at", "probes"]),
                    "Conditions that need the tenant's attention. While the Kommo account is paused no call is made for it and its due actions wait (deferred); a probe at growing intervals resumes it."),
            ], description: "A tenant's outbound integrations. Secrets are write-only: reads show `…_set` flags."),
            "IntegrationsPatch": Schema.object([
                "kommo": Schema.nullable(Schema.object([
                    "base_url": Schema.nullable(Schema.string("https URL of the Kommo account, on *.kommo.com, *.amocrm.ru or *.amocrm.com (other hosts only where the operator allows them).", format: "uri")),
                    "subdomain": Schema.nullable(Schema.string("The Kommo account's subdomain (instead of base_url).")),
                    "access_token": Schema.nullable(Schema.string("Write-only.")),
                    "rate_limit_per_second": Schema.nullable(Schema.integer(minimum: 1, maximum: 1000)),
                ], closed: true)),
                "messages": Schema.nullable(Schema.object([
                    "mode": Schema.string(enumeration: ["none", "salesbot_field", "chats_api"], nullable: true),
                    "field_id": Schema.integer(minimum: 1, nullable: true), "bot_id": Schema.integer(minimum: 1, nullable: true),
                    "chats_api": Schema.nullable(Schema.object([
                        "scope_id": Schema.string(nullable: true),
                        "base_url": Schema.string("https URL of the Chats API (default https://amojo.kommo.com), on Kommo's or amoCRM's domains.", format: "uri", nullable: true),
                        "channel_secret": Schema.string("Write-only.", nullable: true),
                    ], closed: true)),
                ], closed: true)),
                "webhooks": Schema.nullable(Schema.object(["secret": Schema.string("Write-only; signs outgoing webhooks.", nullable: true)], closed: true)),
                "ai": Schema.nullable(Schema.object([
                    "provider": Schema.string(enumeration: ["template", "openai"], nullable: true),
                    "base_url": Schema.string("https URL of an OpenAI-compatible API; refused when it is or resolves to a private, loopback or other special-purpose address.", format: "uri", nullable: true),
                    "model": Schema.string(nullable: true),
                    "api_key": Schema.string("Write-only.", nullable: true),
                ], closed: true)),
                "embeddings": Schema.nullable(Schema.object([
                    "base_url": Schema.string("https URL of an OpenAI-compatible API (default https://api.openai.com) called at /v1/embeddings through the egress gate; the same address rules as `ai.base_url`.", format: "uri", nullable: true),
                    "model": Schema.string("Required with an endpoint.", nullable: true),
                    "api_key": Schema.string("Write-only; required with an endpoint.", nullable: true),
                ], closed: true, description: "With it, knowledge chunks get embeddings and searches rank by bm25 and cosine together.")),
            ], closed: true, description: "A JSON Merge Patch (RFC 7396) of the integrations; `null` removes a member."),
        ]
    }

    // MARK: - Webhook history

    static var historySchemas: [String: JSONValue] {
        let decision = Schema.object([
            "event_id": Schema.string(),
            "actions": Schema.array(Schema.object([
                "idempotency_key": Schema.string(), "rule_id": Schema.string(), "rule_name": Schema.string(),
                "action_index": Schema.integer(), "type": Schema.string(), "parameters": Schema.anyObject("The action as the rule wrote it.", nullable: true),
            ], required: ["idempotency_key", "rule_id", "rule_name", "action_index", "type"])),
            "timers": Schema.array(Schema.object([
                "key": Schema.string(), "rule_id": Schema.string(), "lead_id": Schema.string(), "due_at": Schema.string(format: "date-time"),
                "anchor": Schema.string(),
            ], required: ["key", "rule_id", "lead_id", "anchor"])),
            "explanations": Schema.array(Schema.object([
                "rule_id": Schema.string(), "rule_name": Schema.string(),
                "outcome": Schema.string("Why the rule fired or did not.",
                                         enumeration: PB.RuleOutcome.allCases.filter { $0 != .unspecified }.map(\.name)),
                "detail": Schema.string(), "failing_leaf": Schema.string(),
            ], required: ["rule_id", "rule_name", "outcome", "detail"])),
            "cascade": Schema.ref("Cascade"),
        ], required: ["event_id", "actions", "timers", "explanations"], description: "What the rules decided for one event, and why. `cascade` is present when the event echoes a write of ours.")
        return [
            "Cascade": Schema.object([
                "origin_event_id": Schema.string("The event that started the chain (empty when not known)."),
                "depth": Schema.integer("Writes of ours in the chain within the window.", minimum: 0),
                "max_depth": Schema.integer("The deepest chain rules still fire on.", minimum: 0),
                "stopped": Schema.boolean("The chain was deeper than max_depth: rules that would have fired did not (outcome loop_guard)."),
                "steps": Schema.array(Schema.object([
                    "rule_id": Schema.string("Empty for a write no rule planned."), "rule_name": Schema.string(),
                    "event_id": Schema.string("The event the rule fired on."), "at": Schema.string("When the write was made.", format: "date-time"),
                ], required: ["rule_id", "rule_name", "event_id"]), "Oldest first."),
            ], required: ["origin_event_id", "depth", "max_depth", "stopped", "steps"],
               description: "The chain of our own writes to Kommo that led to an event: each step a rule that fired and wrote, whose echo was the next event."),
            "CascadeStop": Schema.object([
                "rules": Schema.array(Schema.object([
                    "id": Schema.string(), "name": Schema.string(), "agent_id": Schema.string("Absent when the rule has been deleted."),
                ], required: ["id", "name"]), "Each rule of the cycle once, in the order they wrote."),
                "stops": Schema.integer("Events on which the bound stopped this cycle.", minimum: 1),
                "last_stopped_at": Schema.string(format: "date-time"),
                "last_event_id": Schema.string(),
                "last_lead_id": kommoID,
                "last_cascade": Schema.ref("Cascade"),
            ], required: ["rules", "stops", "last_event_id"], description: "A cycle of rules that kept undoing each other's writes."),
            "CascadeStopList": Schema.object(["items": Schema.array(Schema.ref("CascadeStop"))], required: ["items"]),
            "EventSummary": Schema.object([
                "id": Schema.string(), "type": Schema.string(), "entity_type": Schema.string(), "entity_id": Schema.string(),
                "lead_id": kommoID, "origin": Schema.string(enumeration: ["kommo", "timer", "manual", "replay"]),
                "occurred_at": Schema.string(format: "date-time"), "received_at": Schema.string(format: "date-time"),
                "status": Schema.string("The journey: `held` while the tenant is suspended or its plan's `webhook_events_per_month` is used up (its pending dispatches say which), `skipped` if it was resumed skipping them.",
                                        enumeration: ["pending", "held", "delivered", "failed", "skipped"]),
                "delivery_id": Schema.string(), "actions": Schema.integer(minimum: 0),
            ], required: ["id", "type", "entity_type", "entity_id", "origin", "status", "delivery_id", "actions"]),
            "EventPage": Schema.page(Schema.ref("EventSummary")),
            "Delivery": Schema.object([
                "id": Schema.string(), "status": Schema.string(enumeration: ["accepted", "duplicate", "unparsed", "rejected"]),
                "reason": Schema.string(), "origin": Schema.string(), "received_at": Schema.string(format: "date-time"),
                "content_type": Schema.string(), "body": Schema.string("The raw body, until retention removes it."),
                "body_expired": Schema.boolean(), "event_ids": Schema.array(Schema.string()), "remote_address": Schema.string(),
            ], required: ["id", "status", "origin", "content_type", "body_expired", "event_ids"]),
            "DeliveryPage": Schema.page(Schema.ref("Delivery")),
            "Decision": decision,
            "EventDetail": Schema.object([
                "event": Schema.ref("EventSummary"),
                "parsed": Schema.anyObject("The normalized event as the services see it."),
                "delivery": Schema.ref("Delivery"),
                "dispatches": Schema.array(Schema.object([
                    "destination": Schema.string(), "status": Schema.string(), "attempts": Schema.integer(minimum: 0),
                    "last_error": Schema.string(), "next_attempt_at": Schema.string(format: "date-time"),
                    "delivered_at": Schema.string(format: "date-time"),
                ], required: ["destination", "status", "attempts"])),
                "attempts": Schema.array(Schema.object([
                    "destination": Schema.string(), "at": Schema.string(format: "date-time"), "duration_ms": Schema.number(),
                    "status": Schema.string("The service's status code name (OK, UNAVAILABLE, …)."), "error": Schema.string(),
                ], required: ["destination", "duration_ms", "status"])),
                "decision": Schema.ref("Decision"),
            ], required: ["event", "dispatches", "attempts"]),
            "Replay": Schema.object([
                "mode": Schema.string("`dry_run` decides now and writes nothing; `live` sends the event on a new journey.",
                                      enumeration: ["dry_run", "live"]),
            ], required: ["mode"], closed: true),
            "ReplayByFilter": Schema.object([
                "mode": Schema.string(enumeration: ["dry_run", "live"]),
                "confirm": Schema.boolean("Without it a live replay only counts what it would replay."),
                "filter": Schema.object([
                    "type": Schema.string(), "entity_type": Schema.string(), "lead_id": kommoID, "status": Schema.string(),
                    "origin": Schema.string(), "from": Schema.string(format: "date-time"), "to": Schema.string(format: "date-time"),
                    "text": Schema.string(),
                ], closed: true),
            ], required: ["mode"], closed: true),
            "ReplayResult": Schema.object([
                "mode": Schema.string(), "matched": Schema.integer(minimum: 0),
                "new_event_ids": Schema.array(Schema.string()), "decisions": Schema.array(Schema.ref("Decision")),
            ], required: ["mode", "matched", "new_event_ids", "decisions"]),
            "ReparseResult": Schema.object([
                "status": Schema.string(), "delivery_id": Schema.string(), "event_ids": Schema.array(Schema.string()),
            ], required: ["status", "delivery_id", "event_ids"]),
            "WebhookStats": Schema.object([
                "counts": Schema.array(Schema.object([
                    "day": Schema.string(format: "date"), "type": Schema.string(), "status": Schema.string(), "count": Schema.integer(minimum: 0),
                ], required: ["day", "type", "status", "count"])),
                "deliveries": Schema.integer(minimum: 0), "duplicates": Schema.integer(minimum: 0), "unparsed": Schema.integer(minimum: 0),
                "rejected": Schema.integer(minimum: 0), "pending_dispatches": Schema.integer(minimum: 0), "failed_dispatches": Schema.integer(minimum: 0),
            ], required: ["counts", "deliveries", "duplicates", "unparsed", "rejected", "pending_dispatches", "failed_dispatches"]),
        ]
    }

    // MARK: - Agents and rules

    static var documentSchemas: [String: JSONValue] {
        let pipelines = Schema.array(Schema.object([
            "pipeline_id": Schema.integer(minimum: 1), "stage_ids": Schema.array(Schema.integer(minimum: 1)),
        ], required: ["pipeline_id"], closed: true), "Pipelines the agent works in; empty means all.")
        let workingHours = Schema.object([
            "time_zone": Schema.string("An IANA time zone."),
            "days": Schema.array(Schema.string(enumeration: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"])),
            "start": Schema.string(pattern: "^[0-9]{2}:[0-9]{2}$"), "end": Schema.string(pattern: "^[0-9]{2}:[0-9]{2}$"),
        ], closed: true, description: "When the agent answers; absent means always.")
        let agent = Schema.object([
            "name": Schema.string(minLength: 1, maxLength: Limits.nameLength, pattern: "\\S"), "description": Schema.string(), "status": Schema.string(enumeration: ["active", "paused"]),
            "persona": Schema.string(maxLength: Limits.personaLength),
            "language": Schema.string("The reply language: a language tag such as `es` or `pt-BR`, or `auto` (or empty) for the lead's own, detected from its messages."),
            "pipelines": pipelines,
            "channels": Schema.array(Schema.string(), "Origins the agent answers on (`waba`, `telegram`, `instagram`, `onlinechat`, …); empty means all. A message from another origin gets no AI reply."),
            "working_hours": workingHours,
            "pause_on_human_reply": Schema.object([
                "enabled": Schema.boolean("A manager's message to a lead holds the agent's messages to it (default true)."),
                "resume_after_seconds": Schema.integer("Quiet time after the manager's last message before the agent answers again (default 86400); 0 means only by hand or by stage.", minimum: 0, maximum: Int64(Limits.maxSeconds)),
                "resume_stage_ids": Schema.array(Schema.integer(minimum: 1), "Entering one of these stages after the manager's message resumes the agent.", maxItems: Limits.idItems),
            ], closed: true),
            "replies": Schema.object([
                "quiet_seconds": Schema.integer("An AI reply waits until the lead has written nothing for this long, then answers every message since our last one (default 0: at once).", minimum: 0, maximum: 3_600),
                "max_per_lead_per_day": Schema.integer("AI replies one lead gets per UTC day at most; the rest are skipped (default 0: no cap).", minimum: 0, maximum: 1_000),
            ], closed: true),
            "ai_actions": Schema.object([
                "tools": Schema.array(Schema.string(enumeration: AgentTool.allCases.map(\.rawValue)), "The tools an AI reply offers the model (OpenAI-compatible providers). Each call is checked against this policy and the Kommo catalog, then runs as an ordinary action (`update_lead_fields` as `kommo_action` `update_lead`, `move_to_stage` as `change_stage`, `create_task`, `add_tags`; `hand_off` as a task for the lead's responsible user, pausing the agent for the lead until resumed by hand). A refused call is logged with the reason and runs nothing.", maxItems: Limits.idItems),
                "field_ids": Schema.array(Schema.integer(minimum: 1), "Lead custom fields `update_lead_fields` may set (required with that tool).", maxItems: Limits.idItems),
                "stage_ids": Schema.array(Schema.integer(minimum: 1), "Stages `move_to_stage` may move the lead to (required with that tool).", maxItems: Limits.idItems),
            ], closed: true, description: "What the model may do besides writing; absent means no tools."),
        ], required: ["name"], closed: true, description: "An AI agent. Unknown members are refused by name.")
        let rule = Schema.object([
            "name": Schema.string(minLength: 1, maxLength: Limits.nameLength, pattern: "\\S"), "enabled": Schema.boolean(), "priority": Schema.integer("Higher runs first."),
            "trigger": Schema.object([
                "type": Schema.string(enumeration: ["lead_created", "lead_updated", "message_received", "stage_changed", "time_based", "manual",
                                                    "lead_mail_in", "lead_call_in", "lead_chat", "lead_site_visit", "customer_period"]),
                "pipeline_id": Schema.integer(minimum: 1), "stage_id": Schema.integer(minimum: 1),
                "anchor": Schema.string(enumeration: ["stage_entered", "lead_created", "last_inbound", "last_outbound"]),
                "after_seconds": Schema.integer(minimum: 1),
                "cancel_on": Schema.array(Schema.string(enumeration: ["inbound_message", "outbound_message", "stage_change"])),
            ], required: ["type"], closed: true),
            "conditions": Schema.anyObject("A condition tree: an object with exactly one of `all` (array), `any` (array), `not` (a node) or `type` (a leaf such as `field_value`, `message_text`, `within_working_hours`). Limits: depth \(Limits.conditionDepth), \(Limits.conditionNodes) nodes, \(Limits.groupItems) children per group; `keywords` at most \(Limits.keywordItems) of at most \(Limits.keywordLength) characters; `pattern` (RE2 syntax: no backreferences or lookaround) at most \(Limits.patternLength) characters; `values`, `origins` at most \(Limits.valueItems) of at most \(Limits.valueLength) characters; id lists at most \(Limits.idItems). Evaluating one rule on one event may spend \(Limits.ruleBudget) work units (one per condition plus one per byte scanned); a rule over it is explained as `budget_exceeded`."),
            "actions": Schema.array(Schema.anyObject("An action with its `type`: send_message, ai_response, create_task, add_note, change_stage, set_field, add_tags, remove_tags, webhook, start_sequence, stop_sequence or kommo_action. Texts and templates at most \(Limits.templateLength) characters; `tags` at most \(Limits.tagItems) of at most \(Limits.tagLength); `parameters` at most \(Limits.parameterItems); `url` at most \(Limits.urlLength)."), maxItems: Limits.actions),
            "cooldown_seconds": Schema.integer(minimum: 0), "max_fires_per_lead": Schema.integer(minimum: 1, nullable: true),
            "stop_processing": Schema.boolean(),
        ], required: ["name", "trigger", "actions"], closed: true, description: "A rule of an agent. Unknown members are refused by name, at any depth.")
        let stored: [String: JSONValue] = ["id": Schema.string(), "version": Schema.integer(minimum: 1), "created_at": time, "updated_at": time,
                                           "warnings": Schema.array(Schema.ref("FieldViolation"))]
        return [
            "AgentWrite": agent,
            "AgentPatch": Schema.mergePatch(of: agent),
            "Agent": Schema.object(stored.merging(["name": Schema.string(), "status": Schema.string()]) { _, new in new },
                                   required: ["id", "version", "name", "status"]),
            "AgentPage": Schema.page(Schema.ref("Agent")),
            "RuleWrite": rule,
            "RulePatch": Schema.mergePatch(of: rule),
            "Rule": Schema.object(stored.merging([
                "agent_id": Schema.string(), "name": Schema.string(), "enabled": Schema.boolean(), "trigger": Schema.anyObject("What starts it."),
                "actions": Schema.array(Schema.anyObject("An action.")),
            ]) { _, new in new }, required: ["id", "agent_id", "version", "name", "trigger", "actions"]),
            "RulePage": Schema.page(Schema.ref("Rule")),
            "RunRule": Schema.object(["lead_id": kommoID], required: ["lead_id"], closed: true),
            "RunResult": Schema.object(["event_id": Schema.string(), "status": Schema.string()], required: ["event_id", "status"]),
            "TestRule": Schema.object([
                "event": Schema.object([
                    "type": Schema.string("lead_created, lead_updated, message_received, stage_changed, …"),
                    "lead_id": kommoID, "pipeline_id": kommoID, "status_id": kommoID, "old_status_id": kommoID,
                    "text": Schema.string("The message text of a message event."), "origin": Schema.string("The message's channel."),
                    "fields": Schema.object([:], description: "Field values by name."),
                ], required: ["type"], closed: true),
                "event_id": Schema.string("An event of the history."),
                "last": Schema.integer("The tenant's last N events.", minimum: 1, maximum: 50),
            ], closed: true, description: "One of `event`, `event_id` or `last`."),
            "RuleTestResult": Schema.object(["results": Schema.array(Schema.ref("Decision"))], required: ["results"]),
            "Stats": Schema.anyObject("Counts by outcome and day over `from`…`to` (default the last 30 days)."),
        ]
    }

    // MARK: - Sequences

    static var sequenceSchemas: [String: JSONValue] {
        let sequence = Schema.object([
            "name": Schema.string(minLength: 1, maxLength: Limits.nameLength, pattern: "\\S"), "status": Schema.string(enumeration: ["draft", "active", "paused", "archived"]),
            "trigger": Schema.object([
                "type": Schema.string(enumeration: ["lead_created", "stage_changed", "manual", "rule"]),
                "pipeline_id": Schema.integer(minimum: 1), "stage_id": Schema.integer(minimum: 1),
            ], required: ["type"], closed: true),
            "entry_filters": Schema.object(["pipeline_id": Schema.integer(minimum: 1), "stage_id": Schema.integer(minimum: 1)], closed: true),
            "steps": Schema.array(Schema.object([
                "id": Schema.string("Stable across edits; assigned when absent."),
                "delay_seconds": Schema.integer(minimum: 0), "delay_minutes": Schema.integer(minimum: 0),
                "delay_hours": Schema.integer(minimum: 0), "delay_days": Schema.integer(minimum: 0),
                "action": Schema.anyObject("A rules' action (see rules), except start_sequence."),
            ], required: ["action"], closed: true), "Ordered steps: each waits its delay after the previous one, then acts.", maxItems: Limits.sequenceSteps),
            "send_window": Schema.nullable(Schema.object([
                "time_zone": Schema.string(), "days": Schema.array(Schema.string(enumeration: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"])),
                "start": Schema.string(pattern: "^[0-9]{2}:[0-9]{2}$"), "end": Schema.string(pattern: "^[0-9]{2}:[0-9]{2}$"),
            ], closed: true, description: "When messages may go out; absent means any time.")),
            "exit_conditions": Schema.array(Schema.anyObject("What takes a lead out: `lead_replied`, `stage_changed` (to `won`, `lost` or a stage id), …"), maxItems: Limits.exitConditions),
            "re_enrollment": Schema.string(enumeration: ["never_while_active", "after_finished", "never_again"]),
            "step_order": Schema.array(Schema.string(), "Step ids in their new order (PATCH)."),
            "move": Schema.anyObject("Moves one step (PATCH): `{\"step_id\", \"to\"}`."),
        ], required: ["name", "trigger"], closed: true, description: "A sequence of an agent. Unknown members are refused by name.")
        return [
            "SequenceWrite": sequence,
            "SequencePatch": Schema.mergePatch(of: sequence),
            "Sequence": Schema.object([
                "id": Schema.string(), "agent_id": Schema.string(), "version": Schema.integer(minimum: 1), "name": Schema.string(),
                "status": Schema.string(), "steps": Schema.array(Schema.anyObject("A step with its id.")), "created_at": time, "updated_at": time,
                "warnings": Schema.array(Schema.ref("FieldViolation")),
            ], required: ["id", "version", "name", "steps"]),
            "SequencePage": Schema.page(Schema.ref("Sequence")),
            "Enroll": Schema.object(["lead_id": ["oneOf": [Schema.integer(minimum: 1), kommoID]]], required: ["lead_id"], closed: true),
            "EnrollmentCommand": Schema.object(["reason": Schema.string(maxLength: 500)], closed: true),
            "Enrollment": Schema.object([
                "id": Schema.string(), "agent_id": Schema.string(), "sequence_id": Schema.string(), "lead_id": Schema.integer(),
                "state": Schema.string("active, paused, completed, exited or cancelled."), "current_step_id": Schema.string(nullable: true),
                "steps_done": Schema.integer(minimum: 0), "next_due_at": optionalTime, "enrolled_at": time, "finished_at": optionalTime,
                "reason": Schema.string(), "source": Schema.string(),
            ], required: ["id", "sequence_id", "lead_id", "state"]),
            "EnrollmentPage": Schema.page(Schema.ref("Enrollment")),
            "ActionLogEntry": Schema.object([
                "id": Schema.string(), "action_type": Schema.string(), "operation": Schema.string(),
                "outcome": Schema.string("succeeded, failed, skipped, retry, cancelled, or held (paused for the lead: a manager replied)."),
                "detail": Schema.string(), "at": Schema.string(format: "date-time"), "latency_ms": Schema.number(nullable: true),
                "http_status": Schema.integer(nullable: true), "idempotency_key": Schema.string(), "target": Schema.string(),
                "request_summary": Schema.string(),
            ], required: ["id"], description: "One attempt of an action: what, where, how it went."),
            "ActionPage": Schema.page(Schema.ref("ActionLogEntry")),
            "TimelineEntry": Schema.object([
                "kind": Schema.string(enumeration: ["event", "decision", "enrollment", "action", "message"]),
                "at": Schema.string(format: "date-time"), "at_micros": Schema.integer(),
                "author": Schema.string("A message someone other than the lead or us sent: manager, bot or integration."),
                "cascade": Schema.ref("Cascade"),
                "stopped": Schema.array(Schema.object([
                    "rule_id": Schema.string(), "rule_name": Schema.string(), "detail": Schema.string(),
                ], required: ["rule_id", "rule_name", "detail"]), "A decision the cascade bound stopped: the rules held back and why."),
            ], required: ["kind", "at"], description: "An event, the decision on it, an enrollment, an action attempt or a message. A decision on an echo of our writes carries its `cascade`."),
            "Usage": Schema.object([
                "from": Schema.string(format: "date-time"), "to": Schema.string(format: "date-time"),
                "days": Schema.array(Schema.object([
                    "day": Schema.string(format: "date"), "kind": Schema.string("ai_reply, ai_tokens or message_sent."),
                    "units": Schema.integer(minimum: 0), "entries": Schema.integer(minimum: 0),
                ], required: ["day", "kind", "units", "entries"]), "Per day and kind, oldest day first."),
                "totals": Schema.object([:], description: "Units per kind over the whole period."),
            ], required: ["days", "totals"]),
            "TimelinePage": Schema.page(Schema.ref("TimelineEntry")),
            "ActionCommand": Schema.object([
                "action_id": Schema.string(), "status": Schema.string("pending (sent again now) or dismissed.", enumeration: ["pending", "dismissed"]),
            ], required: ["action_id", "status"]),
            "LeadResume": Schema.object([
                "lead_id": Schema.string(), "released": Schema.integer("Held messages that run now.", minimum: 0), "resumed_at": time,
            ], required: ["lead_id", "released", "resumed_at"]),
        ]
    }

    // MARK: - Knowledge base

    static var knowledgeSchemas: [String: JSONValue] {
        let document = Schema.object([
            "title": Schema.string(minLength: 1, maxLength: Limits.nameLength, pattern: "\\S"),
            "format": Schema.string("How `content` is read: plain text, Markdown (headings kept), HTML (tags dropped, headings kept), a CSV product list (one chunk per row, with the header's names) or the text of a PDF (one section per page, headed \"Page N\").",
                                    enumeration: ["text", "markdown", "html", "csv", "pdf"]),
            "content": Schema.string("The document's text. Give either this or `content_base64`.", minLength: 1, maxLength: Limits.knowledgeDocumentLength),
            "content_base64": Schema.string("A PDF file in base64 (format `pdf`, which it implies), read by poppler-utils' `pdftotext -layout` into `content`, pages ended by form feeds; the file itself is not kept. At most the request body limit (`MAX_BODY_BYTES`, 1 MiB by default) and 500 pages. A file that is not a readable PDF is a field error; a gateway without `pdftotext` answers 503.", minLength: 1),
            "source": Schema.string("Where the text came from (a URL, a file name), for the operator.", maxLength: Limits.urlLength),
            "url": Schema.string("An http(s) page to fetch as the content, instead of `content`: read through sequence-service's egress gate (the outgoing webhooks' policy: no private addresses unless the operator allows them; redirects followed, at most 5, each checked again; at most 4 MiB within 15 s). HTML, Markdown, plain text, CSV or PDF by the page's Content-Type; the title defaults to the page's `<title>`. Kept with the document: re-indexing fetches it again (a new version). A refused address or a page that cannot be used is a field error on `url`.", maxLength: Limits.urlLength),
            "active": Schema.boolean("False keeps the document out of search and replies."),
        ], required: [], closed: true,
           description: "A document of an agent's knowledge base (at most \(Limits.knowledgeDocuments) per agent). Every change is a new version and is indexed again. Unknown members are refused by name.")
        return [
            "KnowledgeWrite": document,
            "KnowledgePatch": Schema.mergePatch(of: document),
            "Knowledge": Schema.object([
                "id": Schema.string(), "agent_id": Schema.string(), "version": Schema.integer(minimum: 1), "title": Schema.string(),
                "format": Schema.string(), "content": Schema.string("Absent in listings."), "source": Schema.string(),
                "url": Schema.string("The page the content is fetched from, when it is."), "active": Schema.boolean(),
                "chunk_count": Schema.integer("Chunks the current version was cut into.", minimum: 0),
                "vector_count": Schema.integer("Chunks holding an embedding from the tenant's embeddings endpoint (integrations `embeddings`); 0 without one. When the endpoint fails, `warnings` has an entry of field `embeddings` and the document is searched by bm25 alone until it is re-indexed.", minimum: 0),
                "created_at": time, "updated_at": time, "warnings": Schema.array(Schema.ref("FieldViolation")),
            ], required: ["id", "agent_id", "version", "title", "format", "chunk_count"]),
            "KnowledgePage": Schema.page(Schema.ref("Knowledge")),
            "KnowledgeVersions": Schema.object([
                "document_id": Schema.string(), "current_version": Schema.integer(minimum: 1),
                "items": Schema.array(Schema.object([
                    "version": Schema.integer(minimum: 1), "created_at": Schema.string(),
                    "document": Schema.anyObject("The document at that version, without `content`, with `characters`."),
                ], required: ["version", "created_at", "document"])),
            ], required: ["document_id", "current_version", "items"]),
            "KnowledgeSearch": Schema.object([
                "query": Schema.string(),
                "terms": Schema.array(Schema.string(), "The significant words the question was reduced to (folded)."),
                "items": Schema.array(Schema.object([
                    "document_id": Schema.string(), "title": Schema.string(), "version": Schema.integer("The document version the chunk was cut from.", minimum: 1),
                    "chunk": Schema.integer("The chunk's position in its document, from 0.", minimum: 0), "heading": Schema.string(),
                    "text": Schema.string(), "score": Schema.number("bm25 relevance; higher is better."),
                    "coverage": Schema.number("The share (0 to 1) of the question's significant words the chunk holds."),
                    "similarity": Schema.number("With hybrid ranking: the cosine similarity of the chunk's embedding to the question's (0 without one)."),
                    "hybrid": Schema.number("With hybrid ranking: 0.5 × score / best score + 0.5 × max(0, similarity), what the items are ordered by."),
                ], required: ["document_id", "title", "version", "chunk", "heading", "text", "score", "coverage"]), "Best first."),
                "ranking": Schema.string("`hybrid` when the tenant has an embeddings endpoint (candidates: bm25's best 50 and the 50 closest embeddings of the agent), else `bm25`.", enumeration: ["hybrid", "bm25"]),
                "warnings": Schema.array(Schema.string(), "Why the search fell back to bm25 (the embeddings endpoint failed)."),
            ], required: ["query", "terms", "ranking", "items"]),
        ]
    }

    // MARK: - Scripts

    static var scriptSchemas: [String: JSONValue] {
        let script = Schema.object([
            "name": Schema.string(minLength: 1, maxLength: Limits.nameLength, pattern: "\\S"),
            "type": Schema.string("The kind of script, in the order a sale uses them.",
                                  enumeration: ["greeting", "qualification", "presentation", "objection_handling", "closing"]),
            "body": Schema.string("The template text: `{{lead.name}}`, `{{contact.first_name|there}}` (with a default), …", maxLength: Limits.scriptLength),
            "stage_ids": Schema.array(Schema.integer(minimum: 1), "Empty means every stage.", maxItems: Limits.idItems),
            "pipeline_id": Schema.integer("Absent means every pipeline.", minimum: 1),
            "language": Schema.string(), "active": Schema.boolean(), "trigger_phrases": Schema.array(Schema.string(maxLength: Limits.keywordLength), maxItems: Limits.triggerPhrases),
            "block_on_missing": Schema.boolean("Refuse to render when a variable without a default has no value."),
            "variables": Schema.array(Schema.string(), "Names of the variables callers supply.", maxItems: Limits.scriptVariables),
        ], required: ["name", "type", "body"], closed: true, description: "A sales script of an agent. Unknown members are refused by name.")
        return [
            "ScriptWrite": script,
            "ScriptPatch": Schema.mergePatch(of: script),
            "Script": Schema.object([
                "id": Schema.string(), "agent_id": Schema.string(), "version": Schema.integer(minimum: 1), "name": Schema.string(),
                "type": Schema.string(), "body": Schema.string(), "active": Schema.boolean(), "created_at": time, "updated_at": time,
                "warnings": Schema.array(Schema.ref("FieldViolation")),
            ], required: ["id", "agent_id", "version", "name", "type", "body"]),
            "ScriptPage": Schema.page(Schema.ref("Script")),
            "RenderScript": Schema.object([
                "lead_id": ["oneOf": [Schema.integer(minimum: 1), kommoID]],
                "values": Schema.object([:], description: "Sample values by variable name (strings, numbers or booleans)."),
            ], closed: true),
            "RenderTemplate": Schema.object([
                "template": Schema.string(minLength: 1, maxLength: Limits.templateLength),
                "lead_id": ["oneOf": [Schema.integer(minimum: 1), kommoID]],
                "values": Schema.object([:], description: "Sample values by variable name (strings, numbers or booleans)."),
            ], required: ["template"], closed: true),
            "RenderedTemplate": Schema.object([
                "text": Schema.string("The text; a missing value renders as its default or empty."),
                "missing": Schema.array(Schema.string(), "Variables without a value or a default."),
            ], required: ["text", "missing"]),
            "Rendered": Schema.object([
                "text": Schema.string("The message; absent when blocked."), "blocked": Schema.boolean(),
                "missing": Schema.array(Schema.string(), "Variables without a value."), "reason": Schema.string(),
                "version": Schema.integer(minimum: 1),
            ], required: ["blocked", "missing", "version"]),
            "ScriptVersions": Schema.object([
                "script_id": Schema.string(), "current_version": Schema.integer(minimum: 1),
                "items": Schema.array(Schema.object([
                    "version": Schema.integer(minimum: 1), "created_at": Schema.string(), "script": Schema.anyObject("The script at that version."),
                ], required: ["version", "created_at", "script"])),
            ], required: ["script_id", "current_version", "items"]),
            "Rollback": Schema.object(["version": Schema.integer("The version to bring back.", minimum: 1)], required: ["version"], closed: true),
        ]
    }
}
