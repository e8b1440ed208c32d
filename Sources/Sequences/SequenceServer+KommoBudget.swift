import Basics
import Foundation
import Wire

// MARK: - Kommo account alerts

extension SequenceServer {
    /// The alerts of the tenant's Kommo account: a pause (blocked or unpaid) with its reason and since when.
    func kommoAlerts(tenantID: String) async throws -> [JSONValue] {
        guard let budget else { return [] }
        let key = try await integrations.runtime(tenantID: tenantID).kommo?.rateLimitKey
        guard let pause = key.flatMap(budget.pauses.pause(for:)) ?? budget.pauses.pause(tenantID: tenantID) else { return [] }
        return [.object([
            "kind": "kommo_account_paused",
            "http_status": .int(Int64(pause.httpStatus)),
            "reason": .string(pause.reason),
            "since": .string(Self.timestamp(pause.since)),
            "next_probe_at": .string(Self.timestamp(pause.nextProbeAt)),
            "probes": .int(Int64(pause.probes)),
        ])]
    }

    /// The integrations document with its `alerts` member.
    static func document(_ state: IntegrationState, alerts: [JSONValue]) -> PB.Document {
        var document = document(state)
        if case .object(var members)? = JSONValue(parsing: Array(document.json.utf8)) {
            members["alerts"] = .array(alerts)
            document.json = JSONValue.object(members).text()
        }
        return document
    }
}
