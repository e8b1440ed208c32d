import Basics
import Domain
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceKit
import Synchronization
import Wire

// MARK: - Answers

struct EventSummaryDTO: Codable, Sendable {
    var id: String
    var type: String
    var entityType: String
    var entityId: String
    var leadId: String?
    var origin: String
    var occurredAt: String?
    var receivedAt: String?
    var status: String
    var deliveryId: String
    var actions: Int
    enum CodingKeys: String, CodingKey {
        case id, type, origin, status, actions
        case entityType = "entity_type", entityId = "entity_id", leadId = "lead_id", occurredAt = "occurred_at"
        case receivedAt = "received_at", deliveryId = "delivery_id"
    }
    init(_ summary: PB.EventSummary) {
        id = summary.id; type = summary.type.name; entityType = summary.entityType; entityId = summary.entityId
        leadId = summary.leadId == 0 ? nil : String(summary.leadId); origin = summary.origin.name
        occurredAt = RFC3339.string(micros: summary.occurredAtMicros); receivedAt = RFC3339.string(micros: summary.receivedAtMicros)
        status = summary.status.name; deliveryId = summary.deliveryId; actions = Int(summary.actions)
    }
}

struct DeliveryDTO: Codable, Sendable {
    var id: String
    var status: String
    var reason: String?
    var origin: String
    var receivedAt: String?
    var contentType: String
    var body: String?
    var bodyExpired: Bool
    var eventIds: [String]
    /// The client's address as the gateway decided it (the socket peer, or a trusted proxy's forwarded-for).
    var remoteAddress: String?
    enum CodingKeys: String, CodingKey {
        case id, status, reason, origin, body
        case receivedAt = "received_at", contentType = "content_type", bodyExpired = "body_expired", eventIds = "event_ids"
        case remoteAddress = "remote_address"
    }
    init(_ delivery: PB.Delivery) {
        id = delivery.id; status = delivery.status.name; reason = delivery.reason.isEmpty ? nil : delivery.reason
        origin = delivery.origin.name; receivedAt = RFC3339.string(micros: delivery.receivedAtMicros); contentType = delivery.contentType
        body = delivery.body.isEmpty ? nil : String(decoding: delivery.body, as: UTF8.self)
        bodyExpired = delivery.bodyExpired; eventIds = delivery.eventIds
        remoteAddress = delivery.remoteAddress.isEmpty ? nil : delivery.remoteAddress
    }
}

struct AttemptDTO: Codable, Sendable {
    var destination: String
    var at: String?
    var durationMs: Double
    var status: String
    var error: String?
    enum CodingKeys: String, CodingKey { case destination, at, status, error, durationMs = "duration_ms" }
}

struct DispatchDTO: Codable, Sendable {
    var destination: String
    var status: String
    var attempts: Int
    var lastError: String?
    var nextAttemptAt: String?
    var deliveredAt: String?
    enum CodingKeys: String, CodingKey {
        case destination, status, attempts
        case lastError = "last_error", nextAttemptAt = "next_attempt_at", deliveredAt = "delivered_at"
    }
}

struct ActionDTO: Codable, Sendable {
    var idempotencyKey: String
    var ruleId: String
    var ruleName: String
    var actionIndex: Int
    var type: String
    var parameters: JSONValue?
    enum CodingKeys: String, CodingKey {
        case type, parameters
        case idempotencyKey = "idempotency_key", ruleId = "rule_id", ruleName = "rule_name", actionIndex = "action_index"
    }
    init(_ action: PB.PlannedAction) {
        idempotencyKey = action.idempotencyKey; ruleId = action.ruleId; ruleName = action.ruleName
        actionIndex = Int(action.actionIndex); type = ""; parameters = nil
        // The REST shape is the rule's action document, as users wrote it. A decision stored before
        // actions were typed on the wire has no action to show.
        guard let message = action.action else { return }
        do {
            let typed = try Domain.Action(message)
            type = typed.type.rawValue
            parameters = JSONValue(parsing: String(decoding: try RuleJSON.encoder().encode(typed), as: UTF8.self))
        } catch {
            type = "unknown"
        }
    }
}

struct TimerDTO: Codable, Sendable {
    var key: String
    var ruleId: String
    var leadId: String
    var dueAt: String?
    var anchor: String
    enum CodingKeys: String, CodingKey { case key, anchor, ruleId = "rule_id", leadId = "lead_id", dueAt = "due_at" }
}

struct ExplanationDTO: Codable, Sendable {
    var ruleId: String
    var ruleName: String
    var outcome: String
    var detail: String
    var failingLeaf: String?
    enum CodingKeys: String, CodingKey { case outcome, detail, ruleId = "rule_id", ruleName = "rule_name", failingLeaf = "failing_leaf" }
}

struct DecisionDTO: Codable, Sendable {
    var eventId: String
    var actions: [ActionDTO]
    var timers: [TimerDTO]
    var explanations: [ExplanationDTO]
    /// Present when the event echoes a write of ours: the chain of our writes that led to it.
    var cascade: CascadeDTO?
    enum CodingKeys: String, CodingKey { case actions, timers, explanations, cascade, eventId = "event_id" }
    init(_ decision: PB.Decision) {
        cascade = decision.cascade.map(CascadeDTO.init)
        eventId = decision.eventId
        actions = decision.actions.map(ActionDTO.init)
        timers = decision.timers.map { TimerDTO(key: $0.key, ruleId: $0.ruleId, leadId: String($0.leadId), dueAt: RFC3339.string(micros: $0.dueAtMicros), anchor: $0.anchor) }
        explanations = decision.explanations.map {
            ExplanationDTO(ruleId: $0.ruleId, ruleName: $0.ruleName, outcome: $0.outcome.name, detail: $0.detail,
                           failingLeaf: $0.failingLeaf.isEmpty ? nil : $0.failingLeaf)
        }
    }
}

struct EventDetailDTO: Codable, Sendable {
    var event: EventSummaryDTO
    var parsed: PB.Event?
    var delivery: DeliveryDTO?
    var dispatches: [DispatchDTO]
    var attempts: [AttemptDTO]
    var decision: DecisionDTO?
    init(_ detail: PB.EventDetail) {
        event = EventSummaryDTO(detail.summary ?? PB.EventSummary())
        parsed = detail.event
        delivery = detail.delivery.map(DeliveryDTO.init)
        dispatches = detail.dispatches.map {
            DispatchDTO(destination: $0.destination.restName, status: $0.status.name, attempts: Int($0.attempts), lastError: $0.lastError.isEmpty ? nil : $0.lastError,
                        nextAttemptAt: RFC3339.string(micros: $0.nextAttemptAtMicros), deliveredAt: RFC3339.string(micros: $0.deliveredAtMicros))
        }
        attempts = detail.attempts.map {
            AttemptDTO(destination: $0.destination.restName, at: RFC3339.string(micros: $0.atMicros), durationMs: Double($0.durationMicros) / 1000,
                       status: (StatusCode(rawValue: $0.statusCode) ?? .unknown).description, error: $0.error.isEmpty ? nil : $0.error)
        }
        decision = detail.decision.map(DecisionDTO.init)
    }
}

struct WebhookSourceDTO: Codable, Sendable {
    var url: String
    var accountId: String?
    var subdomain: String?
    var previousSecretExpiresAt: String?
    enum CodingKeys: String, CodingKey { case url, subdomain, accountId = "account_id", previousSecretExpiresAt = "previous_secret_expires_at" }
}

struct RotateBody: RequestBody {
    static let fields: Set<String> = ["grace_seconds"]
    var graceSeconds: Int64?
    enum CodingKeys: String, CodingKey { case graceSeconds = "grace_seconds" }
}

struct ReplayBody: RequestBody {
    static let fields: Set<String> = ["mode", "filter", "confirm"]
    var mode: String
    var filter: ReplayFilter?
    var confirm: Bool?
}

struct ReplayFilter: Codable, Sendable {
    var type: String?
    var entityType: String?
    var leadId: String?
    var status: String?
    var origin: String?
    var from: String?
    var to: String?
    var text: String?
    enum CodingKeys: String, CodingKey { case type, status, origin, from, to, text, entityType = "entity_type", leadId = "lead_id" }

    /// The history query this filter selects; a bad value is a problem at `filter.<field>`.
    func eventQuery() throws -> PB.EventQuery {
        var query = PB.EventQuery()
        query.type = try WireNames.eventType(type ?? "", field: "filter.type")
        query.entityType = entityType ?? ""
        if let leadId {
            guard let value = Int64(leadId), value > 0 else { throw Problem.field("filter.lead_id", "must be a Kommo lead id") }
            query.leadId = value
        }
        query.status = try WireNames.journeyStatus(status ?? "", field: "filter.status")
        query.origin = try WireNames.origin(origin ?? "", field: "filter.origin")
        query.text = text ?? ""
        query.fromMicros = try Self.micros(from, field: "filter.from") ?? 0
        query.toMicros = try Self.micros(to, field: "filter.to") ?? 0
        return query
    }

    private static func micros(_ text: String?, field: String) throws -> Int64? {
        guard let text else { return nil }
        guard let date = RFC3339.parse(text) else { throw Problem.field(field, "must be an RFC 3339 time") }
        return date.unixMicros
    }
}

struct ReparseDTO: Codable, Sendable {
    var status: String
    var deliveryId: String
    var eventIds: [String]
    enum CodingKeys: String, CodingKey { case status, deliveryId = "delivery_id", eventIds = "event_ids" }
}

struct ReplayDTO: Codable, Sendable {
    var mode: String
    var matched: Int
    var newEventIds: [String]
    var decisions: [DecisionDTO]
    enum CodingKeys: String, CodingKey { case mode, matched, decisions, newEventIds = "new_event_ids" }
}

// MARK: - Routes

extension GatewayApp {
    /// Kommo's form posts: authenticated by the secret in the path, answered as soon as ingest committed.
    /// The secret is checked before a byte of the body is read (ingest's probe, remembered briefly), so an
    /// unknown secret is answered 404 at once and its body is never buffered.
    static func addInboundWebhookRoutes(to router: Router<GatewayContext>, peers: Peers, timeout: Duration) {
        let known = KnownSecrets()
        router.post("/webhooks/kommo/{secret}") { request, context -> Response in
            let secret = try context.parameters.require("secret")
            guard secret.count <= 128 else { throw Problem(status: .notFound, detail: "no such webhook") }
            let contentType = request.headers[.contentType] ?? ""
            guard contentType.lowercased().hasPrefix("application/x-www-form-urlencoded") else {
                throw Problem(status: .unsupportedMediaType, detail: "Kommo webhooks are application/x-www-form-urlencoded")
            }
            let options = CallOptions(timeout: timeout, traceID: context.requestID)
            if !known.contains(secret) {
                var probe = PB.IngestRequest()
                probe.sourceSecret = secret
                probe.probe = true
                do {
                    _ = try await peers.ingest.ingest(probe, options: options)
                    known.insert(secret)
                } catch let error as RPCError where error.code == .notFound {
                    throw Problem(status: .notFound, detail: "no such webhook")
                }
            }
            let body = try await request.body.collect(upTo: 1024 * 1024)
            var ingest = PB.IngestRequest()
            ingest.sourceSecret = secret
            ingest.body = Array(body.readableBytesView)
            ingest.contentType = contentType
            ingest.userAgent = request.headers[.userAgent] ?? ""
            ingest.remoteAddress = context.clientAddress
            do {
                let answer = try await peers.ingest.ingest(ingest, options: options)
                return try jsonResponse(["status": answer.status.name, "delivery_id": answer.deliveryId])
            } catch let error as RPCError where error.code == .notFound {
                known.remove(secret)  // rotated away since it was remembered
                throw Problem(status: .notFound, detail: "no such webhook")
            }
        }
    }

    /// The largest Chats API channel webhook accepted; Kommo's are a few kilobytes of JSON.
    static let maxChatsWebhookBytes = 256 * 1024

    /// Webhooks of a tenant's own Chats API channel (Kommo's amojo), `POST /webhooks/kommo-chats/{scope_id}`:
    /// JSON signed with `X-Signature`, the lowercase hex HMAC-SHA1 of the body with the channel secret.
    /// Kommo sends each once and waits at most 5 seconds, so the body is stored through ingest before the
    /// answer, as Kommo's account webhooks are. The signature is checked by sequence-service, which keeps
    /// the secret: a bad one is 401 (ingest records a rejected delivery without its body), an unknown
    /// scope id 404.
    static func addChatsWebhookRoutes(to router: Router<GatewayContext>, peers: Peers, timeout: Duration) {
        router.post("/webhooks/kommo-chats/{scope_id}") { request, context -> Response in
            let scopeID = try context.parameters.require("scope_id")
            guard !scopeID.isEmpty, scopeID.count <= 256 else { throw Problem(status: .notFound, detail: "no such channel") }
            guard let signature = request.headers[HTTPField.Name("X-Signature")!], !signature.isEmpty, signature.count <= 128 else {
                throw Problem(status: .unauthorized, detail: "a Chats API webhook needs its X-Signature")
            }
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: maxChatsWebhookBytes)
            } catch {
                throw Problem(status: .contentTooLarge, detail: "a Chats API webhook is at most \(maxChatsWebhookBytes) bytes")
            }
            var ingest = PB.IngestRequest()
            ingest.chatsScopeId = scopeID
            ingest.signature = signature
            ingest.body = Array(body.readableBytesView)
            ingest.contentType = request.headers[.contentType] ?? ""
            ingest.userAgent = request.headers[.userAgent] ?? ""
            ingest.remoteAddress = context.clientAddress
            // Kommo gives up after 5 s and never retries: the whole journey to the commit stays inside it.
            let options = CallOptions(timeout: min(timeout, .milliseconds(4500)), traceID: context.requestID)
            do {
                let answer = try await peers.ingest.ingest(ingest, options: options)
                return try jsonResponse(["status": answer.status.name, "delivery_id": answer.deliveryId])
            } catch let error as RPCError where error.code == .notFound {
                throw Problem(status: .notFound, detail: "no such channel")
            } catch let error as RPCError where error.code == .unauthenticated {
                throw Problem(status: .unauthorized, detail: "X-Signature does not match the channel secret")
            }
        }
    }

    static func addWebhookHistoryRoutes(to api: RouterGroup<GatewayContext>, peers: Peers, configuration: GatewayConfiguration) {
        api.get("/integrations/kommo/webhook") { _, context -> Response in
            var request = PB.TenantRequest()
            request.tenantId = try context.tenant
            let source = try await peers.ingest.ensureWebhookSource(request, options: peers.options(tenant: context.tenantID, requestID: context.requestID))
            return try jsonResponse(sourceDTO(source, configuration))
        }
        api.post("/integrations/kommo/webhook/rotate") { request, context -> Response in
            let body = request.headers[.contentLength] == "0" || request.headers[.contentType] == nil
                ? RotateBody(graceSeconds: nil) : try await request.decodeBody(RotateBody.self, context: context)
            var rotate = PB.RotateRequest()
            rotate.tenantId = try context.tenant
            rotate.graceSeconds = body.graceSeconds ?? 86_400
            let options = peers.options(tenant: context.tenantID, requestID: context.requestID)
            var ensure = PB.TenantRequest()
            ensure.tenantId = rotate.tenantId
            _ = try await peers.ingest.ensureWebhookSource(ensure, options: options)
            let source = try await peers.ingest.rotateWebhookSource(rotate, options: options)
            return try jsonResponse(sourceDTO(source, configuration))
        }
        api.get("/webhooks/events") { request, context -> Response in
            let query = QueryReader(request)
            var filter = PB.EventQuery()
            filter.type = try WireNames.eventType(query.string("type", maxLength: 64), field: "type")
            filter.entityType = try query.string("entity_type", maxLength: 64)
            filter.leadId = try query.int("lead_id", range: 1...Int64.max) ?? 0
            filter.status = try WireNames.journeyStatus(query.string("status", maxLength: 32), field: "status")
            filter.origin = try WireNames.origin(query.string("origin", maxLength: 32), field: "origin")
            filter.fromMicros = try query.time("from") ?? 0
            filter.toMicros = try query.time("to") ?? 0
            filter.text = try query.string("text", maxLength: 200)
            filter.limit = try query.limit()
            filter.cursor = try query.string("cursor", maxLength: 64)
            let page = try await peers.ingest.listEvents(filter, options: peers.options(context))
            return try jsonResponse(ListDTO(items: page.items.map(EventSummaryDTO.init), cursor: page.nextCursor))
        }
        api.get("/webhooks/events/{id}") { _, context -> Response in
            var request = PB.IdRequest()
            request.id = try context.parameters.require("id")
            let detail = try await peers.ingest.getEvent(request, options: peers.options(context))
            return try jsonResponse(EventDetailDTO(detail))
        }
        api.post("/webhooks/events/{id}/replay") { request, context -> Response in
            let body = try await request.decodeBody(ReplayBody.self, context: context)
            var replay = PB.ReplayRequest()
            replay.eventId = try context.parameters.require("id")
            replay.mode = try WireNames.replayMode(body.mode, field: "mode")
            let answer = try await peers.ingest.replay(replay, options: peers.options(context))
            return try jsonResponse(replayDTO(answer), status: body.mode == "live" ? .accepted : .ok)
        }
        api.post("/webhooks/replay") { request, context -> Response in
            let body = try await request.decodeBody(ReplayBody.self, context: context)
            var replay = PB.ReplayRequest()
            replay.mode = try WireNames.replayMode(body.mode, field: "mode")
            replay.confirm = body.confirm ?? false
            replay.filter = try body.filter?.eventQuery() ?? PB.EventQuery()
            let answer = try await peers.ingest.replay(replay, options: peers.options(context))
            return try jsonResponse(replayDTO(answer), status: replay.confirm && body.mode == "live" ? .accepted : .ok)
        }
        api.get("/webhooks/deliveries") { request, context -> Response in
            let query = QueryReader(request)
            var filter = PB.DeliveryQuery()
            filter.status = try WireNames.deliveryStatus(query.string("status", maxLength: 32), field: "status")
            filter.limit = try query.limit()
            filter.cursor = try query.string("cursor", maxLength: 64)
            let page = try await peers.ingest.listDeliveries(filter, options: peers.options(context))
            return try jsonResponse(ListDTO(items: page.items.map(DeliveryDTO.init), cursor: page.nextCursor))
        }
        api.post("/webhooks/deliveries/{id}/reparse") { _, context -> Response in
            var request = PB.IdRequest()
            request.id = try context.parameters.require("id")
            let answer = try await peers.ingest.reparse(request, options: peers.options(context))
            return try jsonResponse(ReparseDTO(status: answer.status.name, deliveryId: answer.deliveryId, eventIds: answer.eventIds))
        }
        api.get("/webhooks/stats") { request, context -> Response in
            let query = QueryReader(request)
            var stats = PB.StatsRequest()
            stats.fromMicros = try query.time("from") ?? 0
            stats.toMicros = try query.time("to") ?? 0
            let answer = try await peers.ingest.stats(stats, options: peers.options(context))
            return try jsonResponse(answer)
        }
    }

    static func sourceDTO(_ source: PB.WebhookSource, _ configuration: GatewayConfiguration) -> WebhookSourceDTO {
        WebhookSourceDTO(url: webhookURL(configuration, secret: source.secret),
                         accountId: source.accountId == 0 ? nil : String(source.accountId),
                         subdomain: source.subdomain.isEmpty ? nil : source.subdomain,
                         previousSecretExpiresAt: RFC3339.string(micros: source.previousExpiresAtMicros))
    }

    static func replayDTO(_ answer: PB.ReplayResponse) -> ReplayDTO {
        ReplayDTO(mode: answer.mode.name, matched: Int(answer.matched), newEventIds: answer.newEventIds, decisions: answer.decisions.map(DecisionDTO.init))
    }
}

/// Webhook secrets ingest confirmed lately, by hash, each for `ttl`: a busy source costs one probe a
/// minute, not one per webhook. A rotated-away secret is forgotten when ingest refuses it.
final class KnownSecrets: Sendable {
    private let entries = Mutex<[String: ContinuousClock.Instant]>([:])
    let ttl: Duration
    let capacity: Int

    init(ttl: Duration = .seconds(60), capacity: Int = 10_000) {
        self.ttl = ttl
        self.capacity = capacity
    }

    private static func key(_ secret: String) -> String { GatewayStore.hash(secret) }

    func contains(_ secret: String, now: ContinuousClock.Instant = .now) -> Bool {
        entries.withLock { ($0[Self.key(secret)]).map { now - $0 < ttl } ?? false }
    }

    func insert(_ secret: String, now: ContinuousClock.Instant = .now) {
        entries.withLock { entries in
            if entries.count >= capacity { entries = entries.filter { now - $0.value < ttl } }
            if entries.count < capacity { entries[Self.key(secret)] = now }
        }
    }

    func remove(_ secret: String) {
        _ = entries.withLock { $0.removeValue(forKey: Self.key(secret)) }
    }
}
