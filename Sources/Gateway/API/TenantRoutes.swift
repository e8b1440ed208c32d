import Foundation
import Hummingbird
import ServiceKit
import Wire

// MARK: - Bodies and answers

struct CreateTenantBody: RequestBody {
    static let fields: Set<String> = ["name"]
    var name: String
}

struct CreateKeyBody: RequestBody {
    static let fields: Set<String> = ["name"]
    var name: String?
}

/// The optional body of `POST /tenants/{id}/resume`.
struct ResumeTenantBody: RequestBody {
    static let fields: Set<String> = ["held_events"]
    /// What becomes of the events that arrived while suspended: `dispatch` (default) or `skip`.
    var heldEvents: String?
    enum CodingKeys: String, CodingKey { case heldEvents = "held_events" }
}

struct TenantDTO: Codable, Sendable {
    var id: String
    var name: String
    var status: String
    var createdAt: String
    enum CodingKeys: String, CodingKey { case id, name, status, createdAt = "created_at" }
    init(_ record: TenantRecord) {
        id = record.id; name = record.name; status = record.status; createdAt = RFC3339.string(record.createdAt)
    }
}

struct CreatedTenantDTO: Codable, Sendable {
    var tenant: TenantDTO
    /// Shown once.
    var apiKey: String
    var webhookUrl: String
    enum CodingKeys: String, CodingKey { case tenant, apiKey = "api_key", webhookUrl = "webhook_url" }
}

struct APIKeyDTO: Codable, Sendable {
    var id: String
    var name: String
    var prefix: String
    var createdAt: String
    var lastUsedAt: String?
    var revokedAt: String?
    /// Only in the answer that created it.
    var key: String?
    enum CodingKeys: String, CodingKey {
        case id, name, prefix, key
        case createdAt = "created_at", lastUsedAt = "last_used_at", revokedAt = "revoked_at"
    }
    init(_ record: APIKeyRecord, key: String? = nil) {
        id = record.id; name = record.name; prefix = record.prefix; createdAt = RFC3339.string(record.createdAt)
        lastUsedAt = record.lastUsedAt.map(RFC3339.string); revokedAt = record.revokedAt.map(RFC3339.string); self.key = key
    }
}

struct ListDTO<Item: Codable & Sendable>: Codable, Sendable {
    var items: [Item]
    var nextCursor: String?
    enum CodingKeys: String, CodingKey { case items, nextCursor = "next_cursor" }

    init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }

    /// A page from a service, whose empty cursor means "last page".
    init(items: [Item], cursor: String) {
        self.init(items: items, nextCursor: cursor.isEmpty ? nil : cursor)
    }
}

// MARK: - Routes

extension GatewayApp {
    static func validateName(_ name: String, field: String = "name") throws -> String {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw Problem.field(field, "must not be empty") }
        guard trimmed.count <= 200 else { throw Problem.field(field, "must be at most 200 characters") }
        return trimmed
    }

    /// Creates a tenant with a first API key and its Kommo webhook source.
    static func createTenant(name: String, store: GatewayStore, peers: Peers, configuration: GatewayConfiguration,
                             clock: any WallClock, requestID: String) async throws -> CreatedTenantDTO {
        let now = clock.now()
        let tenant = try await store.createTenant(name: name, now: now)
        let (_, key) = try await store.createKey(tenantID: tenant.id, name: "first key", now: now)
        var request = PB.TenantRequest()
        request.tenantId = tenant.id
        let source = try await peers.ingest.ensureWebhookSource(request, options: peers.options(tenant: tenant.id, requestID: requestID))
        // Its plan's allowances hold from its first send. With billing off a tenant never told is unlimited.
        if configuration.billing.enabled {
            try await pushTenantPlan(tenantID: tenant.id, store: store, billing: configuration.billing, peers: peers, clock: clock, requestID: requestID)
        }
        return CreatedTenantDTO(tenant: TenantDTO(tenant), apiKey: key, webhookUrl: webhookURL(configuration, secret: source.secret))
    }

    /// Tells the services whether a tenant is suspended. On suspend ingest goes first (no more
    /// dispatch), on resume last (the actions its held events cause can run at once).
    static func pushTenantState(tenantID: String, suspended: Bool, heldEvents: String, peers: Peers, requestID: String) async throws {
        var state = PB.TenantState()
        state.tenantId = tenantID
        state.suspended = suspended
        let options = peers.options(tenant: tenantID, requestID: requestID)
        if suspended {
            _ = try await peers.ingest.setTenantState(state, options: options)
            _ = try await peers.sequences.setTenantState(state, options: options)
        } else {
            _ = try await peers.sequences.setTenantState(state, options: options)
            state.heldEvents = WireNames.heldEvents(heldEvents) ?? .dispatch
            _ = try await peers.ingest.setTenantState(state, options: options)
        }
    }

    static func webhookURL(_ configuration: GatewayConfiguration, secret: String) -> String {
        configuration.publicBaseURL.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/webhooks/kommo/" + secret
    }

    static func addTenantRoutes(to api: RouterGroup<GatewayContext>, tenantAPI: RouterGroup<GatewayContext>, store: GatewayStore,
                                authenticator: Authenticator, peers: Peers, configuration: GatewayConfiguration, clock: any WallClock) {
        // Operator routes (admin token).
        api.post("/tenants") { request, context -> Response in
            try authenticator.requireAdmin(request, context: context)
            let body = try await request.decodeBody(CreateTenantBody.self, context: context)
            let created = try await createTenant(name: try validateName(body.name), store: store, peers: peers,
                                                 configuration: configuration, clock: clock, requestID: context.requestID)
            return try jsonResponse(created, status: .created)
        }
        api.get("/tenants") { request, context -> Response in
            try authenticator.requireAdmin(request, context: context)
            let query = QueryReader(request)
            let limit = Int(try query.limit())
            let after = try query.string("cursor", maxLength: 64)
            let tenants = try await store.tenants(limit: limit + 1, after: after.isEmpty ? nil : after)
            let page = Array(tenants.prefix(limit))
            return try jsonResponse(ListDTO(items: page.map(TenantDTO.init), nextCursor: tenants.count > limit ? page.last?.id : nil))
        }
        // Suspension stops the tenant: its keys answer 401 (here), its webhooks are stored but held
        // (ingest) and its due actions wait (sequence-service). The status is stored first, so a
        // failed call to a service is healed by a retry or by the push at the gateway's start.
        api.post("/tenants/{id}/suspend") { request, context -> Response in
            try authenticator.requireAdmin(request, context: context)
            let id = try context.parameters.require("id")
            guard let tenant = try await store.setTenantStatus(id: id, status: "suspended") else {
                throw Problem(status: .notFound, detail: "no such tenant")
            }
            try await pushTenantState(tenantID: id, suspended: true, heldEvents: "", peers: peers, requestID: context.requestID)
            return try jsonResponse(TenantDTO(tenant))
        }
        api.post("/tenants/{id}/resume") { request, context -> Response in
            try authenticator.requireAdmin(request, context: context)
            let id = try context.parameters.require("id")
            // The body is optional: none means the held events are dispatched.
            var request = request
            let buffer = try await request.body.collect(upTo: context.maxUploadSize)
            var heldEvents = "dispatch"
            if buffer.readableBytes > 0 {
                request.body = Hummingbird.RequestBody(buffer: buffer)
                let body = try await request.decodeBody(ResumeTenantBody.self, context: context)
                heldEvents = body.heldEvents ?? "dispatch"
                guard ["dispatch", "skip"].contains(heldEvents) else { throw Problem.field("held_events", "must be dispatch or skip") }
            }
            guard let tenant = try await store.setTenantStatus(id: id, status: "active") else {
                throw Problem(status: .notFound, detail: "no such tenant")
            }
            try await pushTenantState(tenantID: id, suspended: false, heldEvents: heldEvents, peers: peers, requestID: context.requestID)
            return try jsonResponse(TenantDTO(tenant))
        }

        // A tenant's own API keys.
        tenantAPI.post("/api-keys") { request, context -> Response in
            let body = try await request.decodeBody(CreateKeyBody.self, context: context)
            let now = clock.now()
            // A key without a name is told apart from the others by when it was made.
            let name = try validateName(body.name ?? "key created \(unnamedKeyStamp(now))")
            let (record, key) = try await store.createKey(tenantID: try context.tenant, name: name, now: now,
                                                           limit: configuration.maxAPIKeys)
            return try jsonResponse(APIKeyDTO(record, key: key), status: .created)
        }
        tenantAPI.get("/api-keys") { _, context -> Response in
            try jsonResponse(ListDTO(items: try await store.keys(tenantID: try context.tenant).map { APIKeyDTO($0) }, nextCursor: nil))
        }
        tenantAPI.delete("/api-keys/{id}") { _, context -> Response in
            let id = try context.parameters.require("id")
            guard let record = try await store.revokeKey(tenantID: try context.tenant, id: id, now: clock.now()) else {
                throw Problem(status: .notFound, detail: "no such API key")
            }
            return try jsonResponse(APIKeyDTO(record))
        }
    }
}

/// `2026-12-03 06:03:42 UTC`: the default name of a key created without one.
func unnamedKeyStamp(_ date: Date) -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
    return String(format: "%04d-%02d-%02d %02d:%02d:%02d UTC", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
}
