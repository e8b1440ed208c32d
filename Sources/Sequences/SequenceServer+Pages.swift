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
