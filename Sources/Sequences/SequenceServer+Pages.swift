import Domain
import Foundation
import ServiceKit
import Wire

extension SequenceServer {
    // MARK: - Pages for knowledge documents

    /// Reads a page through the egress gate for the gateway, which makes a knowledge document of it.
    package func fetchPage(_ request: PB.PageFetch, context: RPCContext) async throws -> PB.FetchedPage {
        let tenantID = try context.requireTenant()
        guard !request.url.isEmpty else { throw RPCError.invalid(field: "url", "is required") }
        do {
            let page = try await pages.fetch(request.url, maxBytes: request.maxBytes == 0 ? PageFetcher.maximumBytes : Int(request.maxBytes),
                                             logger: context.logger)
            context.logger.info("knowledge.page_fetched", metadata: ["tenant.id": "\(tenantID)", "page.bytes": "\(page.body.count)"])
            var answer = PB.FetchedPage()
            answer.url = page.url
            answer.contentType = page.contentType
            answer.body = page.body
            return answer
        } catch let failure as PageFetcher.Failure {
            context.logger.info("knowledge.page_fetch_failed", metadata: ["tenant.id": "\(tenantID)", "error": "\(failure)"])
            switch failure {
            case .refused(let reason): throw RPCError.invalid(field: "url", reason)
            case .unusable(let reason): throw RPCError.invalid(field: "url", "the page \(reason)")
            case .unreachable(let reason): throw RPCError(.unavailable, "the page could not be fetched: \(reason)")
            }
        }
    }
}

extension SequenceServer {
    // MARK: - Embeddings for knowledge search

    /// Embeds texts with the tenant's embeddings endpoint through the egress gate, for the gateway (the
    /// chunks of a document it wrote, a previewed question). Without an endpoint: `configured` false.
    package func embed(_ request: PB.EmbedRequest, context: RPCContext) async throws -> PB.Embeddings {
        let tenantID = try context.requireTenant()
        if request.texts.count > KnowledgeEmbedder.maximumTexts {
            throw RPCError.invalid(field: "texts", "must be at most \(KnowledgeEmbedder.maximumTexts)")
        }
        if request.texts.contains(where: { TextFold.isBlank($0) || $0.count > KnowledgeEmbedder.maximumTextLength }) {
            throw RPCError.invalid(field: "texts", "must each hold 1…\(KnowledgeEmbedder.maximumTextLength) characters")
        }
        var answer = PB.Embeddings()
        guard let endpoint = try await integrations.runtime(tenantID: tenantID).embeddings else { return answer }
        answer.configured = true
        answer.model = endpoint.model
        guard !request.texts.isEmpty else { return answer }
        do {
            let vectors = try await embedder.embed(request.texts, with: endpoint, logger: context.logger)
            answer.dimensions = Int32(vectors.first?.count ?? 0)
            answer.vectors = vectors.map { KnowledgeVector.bytes($0) }
            context.logger.info("knowledge.embedded", metadata: ["tenant.id": "\(tenantID)", "embedding.texts": "\(vectors.count)"])
            return answer
        } catch {
            context.logger.warning("knowledge.embed_failed", metadata: ["tenant.id": "\(tenantID)", "error": "\(error)"])
            // Not UNAVAILABLE: clients retry that, and an endpoint refusing the key refuses it again.
            throw RPCError(.failedPrecondition, error.description)
        }
    }
}
