import Basics
import Logging
import ServiceKit

/// Puts a rendered text into the lead's chat the tenant's way and records it as sent: shared by the
/// message and AI reply executors.
package struct ChatDelivery: Sendable {
    private let egress: EgressGate
    private let retry: RetryPolicy
    private let store: SequenceStore
    private let clock: any WallClock
    private let metrics: ExecutorMetrics

    /// Delivery through `egress` (the Chats API) or the tenant's Kommo client (Salesbot field), retrying
    /// each post by `retry`.
    package init(egress: EgressGate, retry: RetryPolicy, store: SequenceStore, clock: any WallClock, metrics: ExecutorMetrics) {
        self.egress = egress
        self.retry = retry
        self.store = store
        self.clock = clock
        self.metrics = metrics
    }

    /// Sends `text` to `lead`'s chat under the action's key.
    func send(_ text: String, to lead: Int64, in context: ExecutionContext) async -> ExecutionResult {
        var receiver: ChatSender.ChatParticipant?
        if case .chatsAPI = context.integrations.chatMode {
            // Our own channel: conversations and clients are ours to name, one conversation per lead.
            receiver = ChatSender.ChatParticipant(id: "lead-\(lead)")
        }
        let message = ChatSender.Message(leadID: lead, text: text, idempotencyKey: context.idempotencyKey,
                                         conversationID: "lead-\(lead)", receiver: receiver)
        let sender = ChatSender(kommo: context.kommo, egress: egress, configuration: ChatSender.Configuration(retry: retry))
        return await sender.send(message, mode: context.integrations.chatMode, account: context.kommoConnection, logger: context.logger)
    }

    /// Records a sent message in the conversation and the usage ledger (once per action: the rows are
    /// keyed by the action's key). The message has gone out either way, so a failed write is logged and
    /// counted rather than failing the action.
    func recordSent(_ text: String, to lead: Int64, aiReply: Bool, in context: ExecutionContext) async {
        let now = clock.now().unixMicros
        let tenant = context.tenantID
        let key = context.idempotencyKey
        do {
            try await store.recordOutbound(tenantID: tenant, leadID: lead, text: text, at: now, ref: "action:\(key)")
            try await store.recordUsage(tenantID: tenant, kind: "message_sent", units: 1, at: now, ref: "message:\(key)")
            if aiReply { try await store.recordUsage(tenantID: tenant, kind: "ai_reply", units: 1, at: now, ref: "ai_reply:\(key)") }
        } catch {
            metrics.failed(.messageLedger, error: error, logger: context.logger)
        }
    }
}
