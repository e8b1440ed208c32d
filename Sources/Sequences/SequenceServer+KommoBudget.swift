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

// MARK: - In-doubt actions

extension SequenceServer {
    /// Retries or dismisses an action left `in_doubt` (a Salesbot run that answered 5xx or timed out, which
    /// may have messaged the client already). Errors: INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION.
    package func commandAction(_ request: PB.ActionCommand, context: RPCContext) async throws -> PB.ActionCommandResponse {
        let tenantID = try context.requireTenant()
        guard request.actionId > 0 else { throw RPCError.invalid(field: "action_id", "must be a positive integer") }
        let command: SequenceStore.InDoubtCommand
        switch request.command {
        case .retry: command = .retry
        case .dismiss: command = .dismiss
        default: throw RPCError.invalid(field: "command", "must be retry or dismiss")
        }
        guard let outcome = try await store.commandInDoubt(tenantID: tenantID, actionID: request.actionId, command: command,
                                                           now: clock.now().unixMicros)
        else { throw RPCError(.notFound, "no action \(request.actionId)") }
        guard outcome.changed else {
            throw RPCError(.failedPrecondition, "action \(request.actionId) is \(outcome.status), not in doubt: only an in-doubt action can be retried or dismissed")
        }
        context.logger.notice("action.in_doubt_commanded", metadata: [
            "tenant.id": "\(tenantID)", "action.id": "\(request.actionId)", "command": "\(command.rawValue)",
        ])
        if command == .retry { scheduler.nudge.signal() }
        var response = PB.ActionCommandResponse()
        response.actionId = request.actionId
        response.status = outcome.status
        return response
    }
}
