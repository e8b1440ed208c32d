import Basics
import Domain
import Foundation
import Hummingbird
import Wire

/// A chunk a knowledge search found, as the preview shows it.
struct KnowledgeHitDTO: Codable, Sendable {
    var documentID: String
    var title: String
    var version: Int64
    var chunk: Int32
    var heading: String
    var text: String
    var score: Double
    var coverage: Double
    /// With hybrid ranking: the cosine similarity and the hybrid score the items are ordered by.
    var similarity: Double?
    var hybrid: Double?
    enum CodingKeys: String, CodingKey { case documentID = "document_id", title, version, chunk, heading, text, score, coverage, similarity, hybrid }
}

struct KnowledgeSearchDTO: Codable, Sendable {
    var query: String
    var terms: [String]
    /// "hybrid" (bm25 and cosine) or "bm25".
    var ranking: String
    var items: [KnowledgeHitDTO]
    var warnings: [String]?
}

struct KnowledgeVersionDTO: Codable, Sendable {
    var version: Int64
    var createdAt: String
    var document: JSONValue
    enum CodingKeys: String, CodingKey { case version, document, createdAt = "created_at" }
}

struct KnowledgeVersionsDTO: Codable, Sendable {
    var documentID: String
    var currentVersion: Int64
    var items: [KnowledgeVersionDTO]
    enum CodingKeys: String, CodingKey { case items, documentID = "document_id", currentVersion = "current_version" }
}

extension GatewayApp {
    /// Re-index and the search preview of an agent's knowledge base; the CRUD is the document routes.
    /// Every call names the agent, so another agent's or tenant's document answers 404.
    static func addKnowledgeRoutes(to api: RouterGroup<GatewayContext>, peers: Peers, pdf: PDFText = PDFText()) {
        let intake = KnowledgeIntake(sequences: peers.sequences, pdf: pdf)
        api.get("/agents/{id}/knowledge/search") { request, context -> Response in
            let reader = QueryReader(request)
            var query = PB.KnowledgeQuery()
            query.agentId = try context.parameters.require("id")
            query.text = try reader.string("q", maxLength: Limits.knowledgeQueryLength)
            query.limit = try reader.limit(default: 5, maximum: Int32(Limits.knowledgeResults))
            let options = try peers.options(context)
            // The question is embedded the way the chunks were, when the tenant has an embeddings endpoint.
            let (vector, warning) = try await intake.questionVector(query.text, options: options)
            if let vector {
                query.queryVector = vector.vector
                query.vectorModel = vector.model
            }
            let hits = try await peers.rules.searchKnowledge(query, options: options)
            let hybrid = hits.ranking == "hybrid"
            return try jsonResponse(KnowledgeSearchDTO(query: query.text, terms: hits.terms, ranking: hits.ranking.isEmpty ? "bm25" : hits.ranking, items: hits.items.map {
                KnowledgeHitDTO(documentID: $0.documentId, title: $0.title, version: $0.version, chunk: $0.chunk, heading: $0.heading,
                                text: $0.text, score: $0.score, coverage: $0.coverage,
                                similarity: hybrid ? $0.similarity : nil, hybrid: hybrid ? $0.hybrid : nil)
            }, warnings: warning.map { [$0] }))
        }
        api.get("/agents/{id}/knowledge/{docId}/versions") { _, context -> Response in
            var ref = PB.DocumentRef()
            ref.parentId = try context.parameters.require("id")
            ref.id = try context.parameters.require("docId")
            let list = try await peers.rules.listKnowledgeVersions(ref, options: peers.options(context))
            return try jsonResponse(KnowledgeVersionsDTO(documentID: list.documentId, currentVersion: list.currentVersion, items: list.items.map {
                KnowledgeVersionDTO(version: $0.version, createdAt: RFC3339.string(micros: $0.createdAtMicros) ?? "",
                                    document: JSONValue(parsing: $0.json) ?? .null)
            }))
        }
        api.post("/agents/{id}/knowledge/{docId}/reindex") { _, context -> Response in
            var ref = PB.DocumentRef()
            ref.parentId = try context.parameters.require("id")
            ref.id = try context.parameters.require("docId")
            let options = try peers.options(context)
            // A document fetched from a URL is fetched again: a new version when the page changed.
            let current = try await peers.rules.getKnowledge(ref, options: options)
            if case .object(let members)? = JSONValue(parsing: current.json), let url = members["url"]?.string {
                var write = PB.DocumentWrite()
                write.id = ref.id
                write.parentId = ref.parentId
                write.json = String(decoding: JSONValue.object(["url": .string(url)]).data(), as: UTF8.self)
                let updated = try await peers.rules.updateKnowledge(try await intake.prepared(write, options: options), options: options)
                return try documentResponse(try await intake.embedded(updated, agentID: ref.parentId, options: options, rules: peers.rules))
            }
            let reindexed = try await peers.rules.reindexKnowledge(ref, options: options)
            return try documentResponse(try await intake.embedded(reindexed, agentID: ref.parentId, options: options, rules: peers.rules))
        }
    }
}
