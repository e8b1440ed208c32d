import Basics
import Foundation
import ServiceKit
import Wire

// MARK: - Kommo OAuth connection and catalog

extension SequenceServer {
    private func connector() throws -> KommoConnector {
        guard let kommo else { throw RPCError(.unimplemented, "this process carries out no Kommo actions") }
        return kommo
    }

    private static func answer(_ id: String, _ json: JSONValue) -> PB.Document {
        var document = PB.Document()
        document.id = id
        document.json = json.text()
        return document
    }

    package func connectKommo(_ request: PB.KommoConnectRequest, context: RPCContext) async throws -> PB.Document {
        guard !request.tenantId.isEmpty else { throw RPCError.invalid(field: "tenant_id", "is required") }
        let json = try await connector().connect(tenantID: request.tenantId, code: request.code, referer: request.referer,
                                                 webhookURL: request.webhookUrl, logger: context.logger)
        return Self.answer(request.tenantId, json)
    }

    package func disconnectKommo(_ request: PB.KommoDisconnectRequest, context: RPCContext) async throws -> PB.Document {
        let kommo = try connector()
        if !request.tenantId.isEmpty {
            return Self.answer(request.tenantId, try await kommo.disconnect(tenantID: request.tenantId, logger: context.logger))
        }
        let tenants = try await kommo.uninstall(accountID: request.accountId, clientUUID: request.clientUuid,
                                                signature: request.signature, logger: context.logger)
        return Self.answer(tenants.joined(separator: ","),
                           .object(["disconnected": .bool(true), "tenants": .array(tenants.map(JSONValue.string))]))
    }

    package func kommoCatalog(_ request: PB.DocumentRef, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        return Self.answer("kommo_catalog", try await connector().catalog(tenantID: tenantID))
    }

    package func refreshKommoCatalog(_ request: PB.DocumentRef, context: RPCContext) async throws -> PB.Document {
        let tenantID = try context.requireTenant()
        return Self.answer("kommo_catalog", try await connector().refreshCatalog(tenantID: tenantID, logger: context.logger))
    }
}
