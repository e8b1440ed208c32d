import Basics
import Foundation
import Logging
import NIOHTTP1

// MARK: - Batch requests

extension KommoClient {
    /// Sends one batch: the items' elements as the array body of a write, or their lead ids as
    /// `filter[id][]` of a read. The batcher maps the answer back to the items.
    func sendBatch(_ kind: KommoBatchKind, _ items: [KommoBatchItem], account: KommoConnection,
                   logger: Logger) async -> (ExecutionResult, OutboundResponse?) {
        switch kind {
        case .leadReads:
            let ids = Array(Set(items.compactMap(\.entityID))).sorted()
            // Brackets percent-encoded, as a URL's query must carry them; Kommo reads them as PHP does.
            let query = ids.map { "filter%5Bid%5D%5B%5D=\($0)" }.joined(separator: "&") + "&with=contacts"
            let summary = ids.count == 1 ? "lead \(ids[0])" : "\(ids.count) leads: " + ids.prefix(5).map(String.init).joined(separator: ", ") + (ids.count > 5 ? ", …" : "")
            return await call(operation: kind.operation, account: account, method: .GET, path: kind.path, query: query,
                              body: NoBody?.none, summary: summary, kind: .read, logger: logger, batch: true)
        case .tasks, .notes, .leadUpdates:
            return await call(operation: kind.operation, account: account, method: kind.method, path: kind.path,
                              body: items.map(\.element), summary: "\(items.count) items", kind: .write, logger: logger, batch: true)
        }
    }

    /// Sends one write through the account's batcher and returns its own result.
    func batched(_ kind: KommoBatchKind, requestID: String, element: some Encodable, entityID: Int64?, operation: String,
                 summary: String, account: KommoConnection?, logger: Logger) async -> KommoBatchOutcome {
        guard let account else {
            return KommoBatchOutcome(result: .skipped(operation, reason: SkipReason.noKommoCredentials, requestSummary: summary), answer: nil)
        }
        let json: JSONValue
        do {
            json = try JSONValue(encoding: element)
        } catch {
            return KommoBatchOutcome(result: ExecutionResult(operation: operation, requestSummary: summary, outcome: .failedPermanent,
                                                             detail: "could not encode the request: \(error)"), answer: nil)
        }
        let item = KommoBatchItem(requestID: requestID, element: json, entityID: entityID, operation: operation, summary: summary)
        return await budget.batcher.submit(item, kind: kind, account: account, client: self, logger: logger)
    }

    // MARK: - Lead reads

    /// A lead for templates: from the tenant's lead cache while fresh (see ``KommoLeadCache``), else read
    /// with other leads of the account in one `GET /api/v4/leads?filter[id][]=…&with=contacts`. An unknown
    /// id is a success with no entity.
    package func readLead(id: Int64, tenantID: String, account: KommoConnection?, logger: Logger) async -> KommoRead<KommoLead> {
        let operation = "kommo.get_lead"
        guard let account else {
            return KommoRead(result: .skipped(operation, reason: SkipReason.noKommoCredentials), entity: nil)
        }
        if let cached = budget.leads.lead(tenantID: tenantID, leadID: id) {
            return KommoRead(result: ExecutionResult(operation: operation, requestSummary: "lead \(id)", outcome: .succeeded,
                                                     detail: "from the lead cache"), entity: cached)
        }
        let generation = budget.leads.generation(tenantID: tenantID, leadID: id)
        let item = KommoBatchItem(requestID: "lead:\(id)", element: .null, entityID: id, operation: operation, summary: "lead \(id)")
        let outcome = await budget.batcher.submit(item, kind: .leadReads, account: account, client: self, logger: logger)
        guard outcome.result.succeeded, let json = outcome.answer else { return KommoRead(result: outcome.result, entity: nil) }
        guard let lead = KommoLead(json: json) else {
            var result = outcome.result
            result.outcome = .failedPermanent
            result.detail = "the answer has no lead id"
            return KommoRead(result: result, entity: nil)
        }
        budget.leads.store(lead, tenantID: tenantID, ifGeneration: generation)
        return KommoRead(result: outcome.result, entity: lead)
    }
}
