import Basics
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceKit
import Wire

/// The RPCs behind one kind of managed resource (agents, rules, scripts, sequences).
struct DocumentOperations: Sendable {
    var create: @Sendable (PB.DocumentWrite, CallOptions) async throws -> PB.Document
    var get: @Sendable (PB.DocumentRef, CallOptions) async throws -> PB.Document
    var list: @Sendable (PB.DocumentQuery, CallOptions) async throws -> PB.DocumentPage
    var update: @Sendable (PB.DocumentWrite, CallOptions) async throws -> PB.Document
    var delete: @Sendable (PB.DocumentRef, CallOptions) async throws -> PB.Empty
    /// Confirms the tenant owns the parent, for a service that does not keep the parent itself
    /// (sequences belong to agents, which rules-service keeps); throws NOT_FOUND otherwise.
    var requireParent: (@Sendable (PB.DocumentRef, CallOptions) async throws -> Void)?
    /// The plan limit a create of this body uses up (`agents`, `active_rules`…), if any.
    var planLimit: (@Sendable (JSONValue) -> String?)?
}

extension HTTPField.Name {
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
}

extension GatewayApp {
    /// A JSON document answer, with its version as the ETag and any warnings added to the body.
    static func documentResponse(_ document: PB.Document, status: HTTPResponse.Status = .ok) throws -> Response {
        var value = JSONValue(parsing: document.json) ?? .object([:])
        if case .object(var object) = value, !document.warnings.isEmpty {
            object["warnings"] = .array(document.warnings.map { .object(["field": .string($0.field), "message": .string($0.message)]) })
            value = .object(object)
        }
        var headers = HTTPFields()
        headers[.eTag] = "\"\(document.version)\""
        return try jsonResponse(value, status: status, headers: headers)
    }

    /// Reads a JSON object body as text for a service that owns its schema.
    static func documentBody(_ request: Request, context: GatewayContext) async throws -> String {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        let data = Data(buffer.readableBytesView)
        guard !data.isEmpty else { throw Problem(status: .badRequest, detail: "a JSON body is required") }
        try request.requireJSONMediaType()
        // A body that does not parse is the client's error: it is answered 400, not dropped.
        guard let object = try? JSONSerialization.jsonObject(with: data), object is [String: Any] else {
            throw Problem(status: .badRequest, detail: "body must be a JSON object", errors: [FieldViolation(field: "body", message: "must be a JSON object")])
        }
        return String(decoding: data, as: UTF8.self)
    }

    static func ifVersion(_ request: Request) throws -> Int64 {
        guard let header = request.headers[.ifMatch] else { return 0 }
        let trimmed = header.trimmingCharacters(in: CharacterSet(charactersIn: "\" W/"))
        guard let version = Int64(trimmed), version > 0 else { throw Problem.field("If-Match", "must be an ETag this API issued") }
        return version
    }

    /// GET/POST on the collection and GET/PATCH/DELETE on items, with `Idempotency-Key` on create and
    /// `If-Match` on update and delete. `parent` names the path parameter of the owning agent, if any.
    static func addDocumentRoutes(
        to api: RouterGroup<GatewayContext>, collection: String, item: String, parent: String?, operations: DocumentOperations,
        peers: Peers, store: GatewayStore, clock: any WallClock, billing: Billing? = nil, kommoIDs: KommoIDCheck? = nil
    ) {
        api.get(RouterPath(collection)) { request, context -> Response in
            let query = QueryReader(request)
            var list = PB.DocumentQuery()
            if let parent { list.parentId = try context.parameters.require(parent) }
            list.limit = try query.limit()
            list.cursor = try query.string("cursor", maxLength: 128)
            list.text = try query.string("q", maxLength: 200)
            for name in ["status", "type", "stage_id", "active", "enabled"] {
                let value = try query.string(name, maxLength: 64)
                if !value.isEmpty { list.filters.append(PB.KeyValue(key: name, value: value)) }
            }
            let options = try peers.options(context)
            try await requireParent(list.parentId, operations: operations, options: options)
            let page = try await operations.list(list, options)
            let items = page.items.map { JSONValue(parsing: $0.json) ?? .null }
            return try jsonResponse(ListDTO(items: items, cursor: page.nextCursor))
        }
        api.post(RouterPath(collection)) { request, context -> Response in
            let tenant = try context.tenant
            let json = try await documentBody(request, context: context)
            let key = request.headers[.idempotencyKey]
            let requestHash = GatewayStore.hash(collection + "|" + (parent.flatMap { context.parameters.get($0) } ?? "") + "|" + json)
            if let key {
                guard !key.isEmpty, key.count <= 128 else { throw Problem.field("Idempotency-Key", "must be 1 to 128 characters") }
                if let stored = try await store.storedAnswer(tenantID: tenant, key: key) {
                    guard stored.requestHash == requestHash else {
                        throw Problem(status: .unprocessableContent, detail: "this Idempotency-Key was used with a different request")
                    }
                    var headers = HTTPFields()
                    headers[.contentType] = "application/json"
                    headers[HTTPField.Name("Idempotent-Replayed")!] = "true"
                    return Response(status: HTTPResponse.Status(code: stored.status), headers: headers,
                                    body: ResponseBody(byteBuffer: ByteBuffer(bytes: stored.body)))
                }
            }
            var write = PB.DocumentWrite()
            if let parent { write.parentId = try context.parameters.require(parent) }
            write.json = json
            let options = peers.options(tenant: tenant, requestID: context.requestID)
            try await requireParent(write.parentId, operations: operations, options: options)
            let unknownIDs = try await kommoIDs?.check(json, options: options) ?? []
            var document: PB.Document
            if let billing, let limit = operations.planLimit?(JSONValue(parsing: json) ?? .null) {
                let write = write
                document = try await billing.withRoom(for: limit, tenantID: tenant, options: options) { try await operations.create(write, options) }
            } else {
                document = try await operations.create(write, options)
            }
            document.warnings += unknownIDs.map { PB.FieldViolation(field: $0.field, message: $0.message) }
            let response = try documentResponse(document, status: .created)
            if let key {
                let body = try JSONEncoder.api.encode(JSONValue(parsing: document.json) ?? .null)
                try await store.storeAnswer(tenantID: tenant, key: key, route: collection, requestHash: requestHash, status: 201, body: body, now: clock.now())
            }
            return response
        }
        api.get(RouterPath(item)) { _, context -> Response in
            var ref = PB.DocumentRef()
            ref.id = try context.parameters.require(itemParameter(item))
            if let parent { ref.parentId = try context.parameters.require(parent) }
            return try documentResponse(try await operations.get(ref, try peers.options(context)))
        }
        api.patch(RouterPath(item)) { request, context -> Response in
            var write = PB.DocumentWrite()
            write.id = try context.parameters.require(itemParameter(item))
            if let parent { write.parentId = try context.parameters.require(parent) }
            write.json = try await documentBody(request, context: context)
            write.ifVersion = try ifVersion(request)
            let options = try peers.options(context)
            let unknownIDs = try await kommoIDs?.check(write.json, options: options) ?? []
            func answer(_ changed: PB.Document) throws -> Response {
                var document = changed
                document.warnings += unknownIDs.map { PB.FieldViolation(field: $0.field, message: $0.message) }
                return try documentResponse(document)
            }
            if let billing, let planLimit = operations.planLimit,
               case .object(let patch)? = JSONValue(parsing: write.json) {
                // A patch that makes the resource count against the plan (a rule enabled, a sequence made
                // active) needs room as a create does; one that leaves it as it was does not.
                var ref = PB.DocumentRef()
                ref.id = write.id
                ref.parentId = write.parentId
                let current = JSONValue(parsing: try await operations.get(ref, options).json) ?? .object([:])
                var after = current.object ?? [:]
                for (key, value) in patch { after[key] = value }
                if planLimit(current) == nil, let limit = planLimit(.object(after)) {
                    let write = write
                    return try answer(try await billing.withRoom(for: limit, tenantID: try context.tenant, options: options) {
                        try await operations.update(write, options)
                    })
                }
            }
            return try answer(try await operations.update(write, options))
        }
        api.delete(RouterPath(item)) { request, context -> Response in
            var ref = PB.DocumentRef()
            ref.id = try context.parameters.require(itemParameter(item))
            if let parent { ref.parentId = try context.parameters.require(parent) }
            let cascade = request.uri.queryParameters["cascade"] ?? ""
            guard ["", "true", "false"].contains(cascade) else { throw Problem.field("cascade", "must be true or false") }
            ref.cascade = cascade == "true"
            _ = try await operations.delete(ref, try peers.options(context))
            return Response(status: .noContent)
        }
    }

    private static func requireParent(_ id: String, operations: DocumentOperations, options: CallOptions) async throws {
        guard let check = operations.requireParent, !id.isEmpty else { return }
        var ref = PB.DocumentRef()
        ref.id = id
        try await check(ref, options)
    }

    /// The last path parameter of an item route: `/agents/{id}/rules/{ruleId}` → `ruleId`.
    static func itemParameter(_ item: String) -> String {
        String(item.split(separator: "/").last?.dropFirst().dropLast() ?? "id")
    }

    static func addResourceRoutes(to api: RouterGroup<GatewayContext>, peers: Peers, store: GatewayStore, clock: any WallClock,
                                  billing: Billing? = nil, kommoIDs mode: UnknownKommoIDs = .warn,
                                  kommoCatalogRecheck: Duration = .seconds(30), pdf: PDFText = PDFText()) {
        let kommoIDs = KommoIDCheck(mode: mode, sequences: peers.sequences, clock: clock, refreshAfter: kommoCatalogRecheck)
        let rules = peers.rules
        let sequences = peers.sequences
        let intake = KnowledgeIntake(sequences: sequences, pdf: pdf)
        addDocumentRoutes(to: api, collection: "/agents", item: "/agents/{id}", parent: nil, operations: DocumentOperations(
            create: { try await rules.createAgent($0, options: $1) }, get: { try await rules.getAgent($0, options: $1) },
            list: { try await rules.listAgents($0, options: $1) }, update: { try await rules.updateAgent($0, options: $1) },
            delete: { try await rules.deleteAgent($0, options: $1) }, planLimit: { _ in "agents" }),
            peers: peers, store: store, clock: clock, billing: billing, kommoIDs: kommoIDs)
        addDocumentRoutes(to: api, collection: "/agents/{id}/rules", item: "/agents/{id}/rules/{ruleId}", parent: "id", operations: DocumentOperations(
            create: { try await rules.createRule($0, options: $1) }, get: { try await rules.getRule($0, options: $1) },
            list: { try await rules.listRules($0, options: $1) }, update: { try await rules.updateRule($0, options: $1) },
            delete: { try await rules.deleteRule($0, options: $1) }, planLimit: { $0["enabled"]?.bool == false ? nil : "active_rules" }),
            peers: peers, store: store, clock: clock, billing: billing, kommoIDs: kommoIDs)
        addDocumentRoutes(to: api, collection: "/agents/{id}/scripts", item: "/agents/{id}/scripts/{scriptId}", parent: "id", operations: DocumentOperations(
            create: { try await rules.createScript($0, options: $1) }, get: { try await rules.getScript($0, options: $1) },
            list: { try await rules.listScripts($0, options: $1) }, update: { try await rules.updateScript($0, options: $1) },
            delete: { try await rules.deleteScript($0, options: $1) }), peers: peers, store: store, clock: clock, kommoIDs: kommoIDs)
        addDocumentRoutes(to: api, collection: "/agents/{id}/knowledge", item: "/agents/{id}/knowledge/{docId}", parent: "id", operations: DocumentOperations(
            create: { try await intake.embedded(try await rules.createKnowledge(try await intake.prepared($0, options: $1), options: $1),
                                                agentID: $0.parentId, options: $1, rules: rules) },
            get: { try await rules.getKnowledge($0, options: $1) },
            list: { try await rules.listKnowledge($0, options: $1) },
            update: { try await intake.embedded(try await rules.updateKnowledge(try await intake.prepared($0, options: $1), options: $1),
                                                agentID: $0.parentId, options: $1, rules: rules) },
            delete: { try await rules.deleteKnowledge($0, options: $1) }), peers: peers, store: store, clock: clock)
        addDocumentRoutes(to: api, collection: "/agents/{id}/sequences", item: "/agents/{id}/sequences/{sequenceId}", parent: "id", operations: DocumentOperations(
            create: { try await sequences.createSequence($0, options: $1) }, get: { try await sequences.getSequence($0, options: $1) },
            list: { try await sequences.listSequences($0, options: $1) }, update: { try await sequences.updateSequence($0, options: $1) },
            delete: { try await sequences.deleteSequence($0, options: $1) },
            requireParent: { _ = try await rules.getAgent($0, options: $1) },
            planLimit: { $0["status"]?.string == "active" ? "active_sequences" : nil }), peers: peers, store: store, clock: clock, billing: billing, kommoIDs: kommoIDs)
    }
}
