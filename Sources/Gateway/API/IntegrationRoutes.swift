import Basics
import Foundation
import Hummingbird
import Wire

extension GatewayApp {
    /// Outbound integrations (Kommo credentials, message mode, webhook secret, AI provider; secrets are
    /// write-only) and the action log — all owned by sequence-service. A lead's timeline, which merges
    /// sequence-service's part with ingest's, is in `LeadTimelineRoutes.swift`.
    static func addIntegrationRoutes(to api: RouterGroup<GatewayContext>, peers: Peers) {
        api.get("/integrations") { _, context -> Response in
            var ref = PB.DocumentRef()
            ref.id = try context.tenant
            return try documentResponse(try await peers.sequences.getIntegrations(ref, options: peers.options(tenant: context.tenantID, requestID: context.requestID)))
        }
        api.patch("/integrations") { request, context -> Response in
            var write = PB.DocumentWrite()
            write.id = try context.tenant
            write.json = try await documentBody(request, context: context)
            write.ifVersion = try ifVersion(request)
            return try documentResponse(try await peers.sequences.updateIntegrations(write, options: peers.options(tenant: context.tenantID, requestID: context.requestID)))
        }
        api.post("/integrations/kommo/test") { _, context -> Response in
            var ref = PB.DocumentRef()
            ref.id = try context.tenant
            let answer = try await peers.sequences.testKommoConnection(ref, options: peers.options(tenant: context.tenantID, requestID: context.requestID))
            return try jsonResponse(JSONValue(parsing: answer.json) ?? .object([:]))
        }
        api.post("/integrations/webhooks/rotate") { _, context -> Response in
            // Removing the secret makes sequence-service generate a new one, shown in this answer only.
            var write = PB.DocumentWrite()
            write.id = try context.tenant
            write.json = #"{"webhooks": {"secret": null}}"#
            let document = try await peers.sequences.updateIntegrations(write, options: peers.options(tenant: context.tenantID, requestID: context.requestID))
            guard case .object(let root)? = JSONValue(parsing: document.json), case .object(let webhooks)? = root["webhooks"],
                  case .string(let secret)? = webhooks["generated_secret"] else {
                throw HTTPError(.internalServerError, message: "no secret was generated")
            }
            return try jsonResponse(JSONValue.object(["secret": .string(secret), "version": .int(document.version)]))
        }
        api.get("/actions") { request, context -> Response in
            let query = QueryReader(request)
            var list = PB.DocumentQuery()
            list.limit = try query.limit()
            list.cursor = try query.string("cursor", maxLength: 128)
            if let lead = try query.int("lead_id", range: 1...Int64.max) { list.filters = [PB.KeyValue(key: "lead_id", value: String(lead))] }
            // The attempts with one outcome or of one action type: the list behind the Dashboard's action figures.
            for name in ["outcome", "type"] {
                let value = try query.string(name, maxLength: 64)
                if !value.isEmpty { list.filters.append(PB.KeyValue(key: name, value: value)) }
            }
            let page = try await peers.sequences.listActions(list, options: peers.options(context))
            return try jsonResponse(ListDTO(items: page.items.map { JSONValue(parsing: $0.json) ?? .null }, cursor: page.nextCursor))
        }
    }
}
