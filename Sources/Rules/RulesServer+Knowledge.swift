import Basics
import Domain
import Foundation
import ServiceKit
import Wire

extension RulesServer {
    // MARK: - Knowledge base

    package func createKnowledge(_ request: PB.DocumentWrite, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        let agentID = try Self.requireParent(request.parentId)
        let (resource, doc) = try Self.valid(KnowledgeResource.self, try JSONValue.parse(request.json))
        let now = clock.now().unixMicros
        let record = DocumentRecord(kind: .knowledge, id: RandomID.make("kno_"), tenantID: tenantID, agentID: agentID, doc: doc,
                                    createdAt: now, updatedAt: now, enabled: resource.active)
        try await mapped { try await store.insert(record) }
        context.logger.info("knowledge.created", metadata: [
            "tenant.id": "\(tenantID)", "agent.id": "\(agentID)", "knowledge.id": "\(record.id)",
            "knowledge.chunks": "\(resource.chunks().count)",
        ])
        return try await knowledgeAnswer(record)
    }

    package func getKnowledge(_ request: PB.DocumentRef, context: RPCContext) async throws -> PB.Document {
        let record = try await required(.knowledge, tenantID: try context.requireTenant(), id: request.id, agentID: Self.optional(request.parentId))
        return try await knowledgeAnswer(record)
    }

    /// Documents in creation order, without their content (which can be long), with their chunk counts.
    package func listKnowledge(_ request: PB.DocumentQuery, context: RPCContext) async throws -> PB.DocumentPage {
        var page = try await list(.knowledge, request, tenantID: try context.requireTenant(), agentID: try Self.requireParent(request.parentId),
                                  filterKey: "active")
        let counts = try await store.knowledgeChunkCounts(ids: page.items.map(\.id))
        page.items = page.items.map { item in
            var item = item
            if case .object(var members)? = JSONValue(parsing: item.json) {
                members["content"] = nil
                members["chunk_count"] = .int(Int64(counts[item.id] ?? 0))
                item.json = String(decoding: JSONValue.object(members).data(), as: UTF8.self)
            }
            return item
        }
        return page
    }

    package func updateKnowledge(_ request: PB.DocumentWrite, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        let record = try await updated(.knowledge, request, tenantID: tenantID, agentID: Self.optional(request.parentId)) { current, merged, _ in
            let (resource, doc) = try Self.valid(KnowledgeResource.self, merged)
            var next = current
            next.doc = doc
            next.enabled = resource.active
            return next
        }
        context.logger.info("knowledge.updated", metadata: [
            "tenant.id": "\(tenantID)", "knowledge.id": "\(record.id)", "knowledge.version": "\(record.version)",
        ])
        return try await knowledgeAnswer(record)
    }

    package func deleteKnowledge(_ request: PB.DocumentRef, context: RPCContext) async throws -> PB.Empty {
        let tenantID = try context.requireTenant()
        try await mapped {
            try await store.delete(.knowledge, tenantID: tenantID, id: request.id, agentID: Self.optional(request.parentId), cascade: false)
        }
        return PB.Empty()
    }

    package func reindexKnowledge(_ request: PB.DocumentRef, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        guard !request.id.isEmpty else { throw RPCError.invalid(field: "id", "is required") }
        let record = try await mapped { try await store.reindexKnowledge(tenantID: tenantID, id: request.id, agentID: Self.optional(request.parentId)) }
        context.logger.info("knowledge.reindexed", metadata: ["tenant.id": "\(tenantID)", "knowledge.id": "\(record.id)"])
        return try await knowledgeAnswer(record)
    }

    /// The latest saved versions of a document, newest first, without their content (a version can be
    /// 200,000 characters) but with its length. Errors: NOT_FOUND.
    package func listKnowledgeVersions(_ request: PB.DocumentRef, context: RPCContext) async throws -> PB.KnowledgeVersionList {
        let tenantID = try context.requireTenant()
        guard !request.id.isEmpty else { throw RPCError.invalid(field: "id", "is required") }
        let (document, versions) = try await mapped {
            try await store.knowledgeVersions(tenantID: tenantID, id: request.id, agentID: Self.optional(request.parentId), limit: 100)
        }
        var answer = PB.KnowledgeVersionList()
        answer.documentId = document.id
        answer.currentVersion = document.version
        answer.items = versions.map { stored in
            var version = PB.ScriptVersion()
            version.version = stored.version
            version.createdAtMicros = stored.createdAt
            var members = (try? JSONValue.parseObject(stored.doc)) ?? [:]
            members["characters"] = .int(Int64(members["content"]?.string?.count ?? 0))
            members["content"] = nil
            version.json = String(decoding: JSONValue.object(members).data(), as: UTF8.self)
            return version
        }
        return answer
    }

    /// Chunks shown by default and at most.
    static let defaultKnowledgeResults = 5

    /// The best chunks of the agent's active documents for a client's words, each with how much of the
    /// question it covers. A text with no significant word ("hi!") finds nothing rather than everything.
    package func searchKnowledge(_ request: PB.KnowledgeQuery, context: RPCContext) async throws -> PB.KnowledgeHits {
        let tenantID = try context.requireTenant()
        // Whose agent it is comes first: another tenant learns nothing from how its query would be judged.
        _ = try await required(.agent, tenantID: tenantID, id: request.agentId, agentID: nil)
        var violations: [FieldViolation] = []
        if TextFold.isBlank(request.text) { violations.append(FieldViolation(field: "q", message: "must not be empty")) }
        else if request.text.count > Limits.knowledgeQueryLength {
            violations.append(FieldViolation(field: "q", message: "must be at most \(Limits.knowledgeQueryLength) characters"))
        }
        if request.limit < 0 || request.limit > Limits.knowledgeResults {
            violations.append(FieldViolation(field: "limit", message: "must be between 1 and \(Limits.knowledgeResults)"))
        }
        var vector: KnowledgeQueryVector?
        if !request.queryVector.isEmpty {
            if let values = KnowledgeVector.values(request.queryVector), values.count <= Self.maximumDimensions, !request.vectorModel.isEmpty {
                vector = KnowledgeQueryVector(model: request.vectorModel, values: values)
            } else {
                violations.append(FieldViolation(field: "query_vector", message: "must be 1…\(Self.maximumDimensions) Float32s with a vector_model"))
            }
        }
        guard violations.isEmpty else { throw RPCError.invalid(violations) }
        let terms = KnowledgeQuery.terms(request.text)
        var answer = PB.KnowledgeHits()
        answer.terms = terms
        answer.ranking = vector == nil ? "bm25" : "hybrid"
        guard let match = KnowledgeQuery.matchExpression(terms) else { return answer }
        let limit = request.limit == 0 ? Self.defaultKnowledgeResults : Int(request.limit)
        let hits = try await mapped {
            try await store.searchKnowledge(tenantID: tenantID, agentID: request.agentId, match: match, limit: limit, vector: vector)
        }
        answer.items = hits.map { hit in
            var item = PB.KnowledgeHit()
            item.documentId = hit.documentID
            item.title = hit.title
            item.version = hit.version
            item.chunk = Int32(hit.chunk)
            item.heading = hit.heading
            item.text = hit.text
            item.score = (hit.score * 10_000).rounded() / 10_000
            item.coverage = (KnowledgeQuery.coverage(of: terms, in: hit.heading + "\n" + hit.text) * 10_000).rounded() / 10_000
            item.similarity = ((hit.similarity ?? 0) * 10_000).rounded() / 10_000
            item.hybrid = ((hit.hybrid ?? 0) * 10_000).rounded() / 10_000
            return item
        }
        return answer
    }

    // MARK: - Vectors

    /// Most dimensions of a stored or compared vector.
    static let maximumDimensions = 4096
    /// Most chunks of one `StoreKnowledgeVectors` call.
    static let maximumVectorsPerCall = 1000

    /// The chunks of a document's current version with the text their embeddings are made from.
    package func listKnowledgeChunks(_ request: PB.DocumentRef, context: RPCContext) async throws -> PB.KnowledgeChunkList {
        let tenantID = try context.requireTenant()
        guard !request.id.isEmpty else { throw RPCError.invalid(field: "id", "is required") }
        let (record, chunks) = try await mapped {
            try await store.knowledgeChunkTexts(tenantID: tenantID, id: request.id, agentID: Self.optional(request.parentId))
        }
        var answer = PB.KnowledgeChunkList()
        answer.documentId = record.id
        answer.version = record.version
        answer.items = chunks.map { chunk in
            var item = PB.KnowledgeChunkText()
            item.id = chunk.id
            item.text = chunk.text
            return item
        }
        return answer
    }

    /// Stores vectors beside a document's chunks.
    package func storeKnowledgeVectors(_ request: PB.KnowledgeVectors, context: RPCContext) async throws -> PB.KnowledgeVectorsStored {
        let tenantID = try context.requireTenant()
        var violations: [FieldViolation] = []
        if request.documentId.isEmpty { violations.append(FieldViolation(field: "document_id", message: "is required")) }
        if TextFold.isBlank(request.model) || request.model.count > Limits.nameLength {
            violations.append(FieldViolation(field: "model", message: "must be 1…\(Limits.nameLength) characters"))
        }
        if request.chunkIds.count != request.vectors.count {
            violations.append(FieldViolation(field: "vectors", message: "must be one per chunk id"))
        } else if request.vectors.count > Self.maximumVectorsPerCall {
            violations.append(FieldViolation(field: "vectors", message: "must be at most \(Self.maximumVectorsPerCall)"))
        }
        let length = request.vectors.first?.count ?? 0
        if request.vectors.contains(where: { $0.count != length || $0.isEmpty || $0.count % 4 != 0 || $0.count / 4 > Self.maximumDimensions }) {
            violations.append(FieldViolation(field: "vectors", message: "must be Float32s of one length, at most \(Self.maximumDimensions)"))
        }
        guard violations.isEmpty else { throw RPCError.invalid(violations) }
        let stored = try await mapped {
            try await store.storeKnowledgeVectors(tenantID: tenantID, id: request.documentId, agentID: Self.optional(request.agentId),
                                                  model: request.model, vectors: Array(zip(request.chunkIds, request.vectors)))
        }
        context.logger.info("knowledge.vectors_stored", metadata: [
            "tenant.id": "\(tenantID)", "knowledge.id": "\(request.documentId)", "knowledge.vectors": "\(stored)",
        ])
        var answer = PB.KnowledgeVectorsStored()
        answer.stored = Int32(stored)
        return answer
    }

    /// A document as answered: its JSON with identity members and its chunk count.
    func knowledgeAnswer(_ record: DocumentRecord) async throws -> PB.Document {
        var document = try PB.Document(record)
        let count = try await store.knowledgeChunkCounts(ids: [record.id])[record.id] ?? 0
        let vectors = try await store.knowledgeVectorCounts(ids: [record.id])[record.id] ?? 0
        if case .object(var members)? = JSONValue(parsing: document.json) {
            members["chunk_count"] = .int(Int64(count))
            members["vector_count"] = .int(Int64(vectors))
            document.json = String(decoding: JSONValue.object(members).data(), as: UTF8.self)
        }
        return document
    }
}

extension KnowledgeResource: DocumentResource {}
