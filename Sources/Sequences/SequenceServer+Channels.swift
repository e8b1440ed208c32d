import Basics
import Foundation
import ServiceKit
import Wire

// MARK: - Chats API channel webhooks and resuming paused agents

extension SequenceServer {
    /// Checks a Chats API channel webhook: `X-Signature` must be the lowercase hex HMAC-SHA1 of the raw
    /// body with the channel secret of the tenant whose integrations name `scope_id` (compared in
    /// constant time; the secret stays here, sealed at rest). Errors: INVALID_ARGUMENT (no scope id),
    /// NOT_FOUND (no tenant has that channel, or it has no secret).
    package func verifyChatsWebhook(_ request: PB.ChatsWebhookCheck, context: RPCContext) async throws -> PB.ChatsWebhookVerdict {
        guard !request.scopeId.isEmpty, request.scopeId.count <= 256 else {
            throw RPCError.invalid(field: "scope_id", "is required (at most 256 characters)")
        }
        guard let tenantID = try await store.tenant(chatsScopeID: request.scopeId),
              let secret = try await integrations.state(tenantID: tenantID).document.string("messages", "chats_api", "channel_secret")
        else { throw RPCError(.notFound, "no Chats API channel with that scope id") }
        let expected = ChatsAPISignature.bodySignature(request.body, secret: secret)
        var verdict = PB.ChatsWebhookVerdict()
        verdict.tenantId = tenantID
        verdict.valid = constantTimeEquals(expected, request.signature.lowercased())
        return verdict
    }

    /// Resumes the agents for a lead that a manager's reply paused: the messages they held run now (and
    /// are sent unless something else stops them). Errors: INVALID_ARGUMENT (no lead id).
    package func resumeLead(_ request: PB.LeadResume, context: RPCContext) async throws -> PB.LeadResumeResponse {
        let tenantID = try context.requireTenant()
        guard request.leadId > 0 else { throw RPCError.invalid(field: "lead_id", "is required") }
        let now = clock.now().unixMicros
        let released = try await store.resumeLead(tenantID: tenantID, leadID: request.leadId, now: now)
        if released > 0 { scheduler.nudge.signal() }
        context.logger.info("sequence.lead_resumed", metadata: [
            "tenant.id": "\(tenantID)", "lead.id": "\(request.leadId)", "released.count": "\(released)",
        ])
        var response = PB.LeadResumeResponse()
        response.released = Int32(released)
        response.resumedAtMicros = now
        return response
    }
}
