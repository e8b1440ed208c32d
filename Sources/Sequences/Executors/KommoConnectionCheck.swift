import Basics
import Logging
import Wire

/// "Test connection": reads the tenant's Kommo account with its stored credentials, through the same
/// limiter its actions use.
package struct KommoConnectionCheck: Sendable {
    private let integrations: Integrations
    private let clients: KommoClients

    package init(integrations: Integrations, clients: KommoClients) {
        self.integrations = integrations
        self.clients = clients
    }

    /// What the check found: `ok`, `base_url`, `latency_ms`, the status, and the account or why there is
    /// none. Throws FAILED_PRECONDITION when Kommo is not connected.
    package func run(tenantID: String, logger: Logger) async throws -> JSONValue {
        let tenant = try await integrations.runtime(tenantID: tenantID)
        guard let connection = tenant.kommo else {
            throw RPCError(.failedPrecondition, "Kommo is not connected: set kommo.base_url (or subdomain) and kommo.access_token")
        }
        let read = await clients.client(rate: tenant.kommoRatePerSecond).getAccount(account: connection, logger: logger)
        let result = read.result
        var answer: [String: JSONValue] = [
            "ok": .bool(read.entity != nil),
            "base_url": .string(connection.baseURL),
            "latency_ms": .double(result.latencyMilliseconds.rounded()),
        ]
        if let status = result.httpStatus { answer["status"] = .int(Int64(status)) }
        if let entity = read.entity {
            answer["account"] = .object(["id": .string(String(entity.id)), "name": .string(entity.name), "subdomain": .string(entity.subdomain)])
        } else {
            answer["detail"] = .string(result.problem?.detail ?? result.detail ?? "Kommo answered without an account")
        }
        return .object(answer)
    }
}
