import Basics
import Foundation
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

    /// The tenant's plan, as the gateway set it: a send beyond this UTC month's allowance of messages (and,
    /// for an AI reply, of AI replies), or while its sends are blocked, stops here, recorded
    /// `blocked (plan limit)`. Two sends racing for the last unit may both pass: the overshoot is at most
    /// the actions running at once.
    func checkPlan(aiReply: Bool, operation: String, in context: ExecutionContext) async throws(ExecutionStop) {
        let found: (plan: TenantPlanRecord, aiReplies: Int64, messages: Int64)?
        do {
            found = try await store.tenantPlan(tenantID: context.tenantID, usageSince: Self.monthStart(clock.now()).unixMicros)
        } catch {
            throw ExecutionStop(ExecutionResult(operation: operation, outcome: .failedRetryable, detail: "the tenant's plan could not be read"))
        }
        guard let found else { return }
        let plan = found.plan
        var reason: String?
        if plan.sendsBlocked {
            reason = plan.blockReason.isEmpty ? "sends are blocked" : plan.blockReason
        } else if plan.messagesPerMonth >= 0, found.messages >= plan.messagesPerMonth {
            reason = "messages_per_month: \(found.messages) of \(plan.messagesPerMonth) used this month on plan \(plan.planID)"
        } else if aiReply, plan.aiRepliesPerMonth >= 0, found.aiReplies >= plan.aiRepliesPerMonth {
            reason = "ai_replies_per_month: \(found.aiReplies) of \(plan.aiRepliesPerMonth) used this month on plan \(plan.planID)"
        }
        if let reason { throw .skipped(operation, reason: "\(Self.planLimitBlocked): \(reason)") }
    }

    /// How an action stopped by the plan reads in the action log.
    package static let planLimitBlocked = SequenceStore.planLimitBlocked

    static func monthStart(_ date: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: calendar.dateComponents([.year, .month], from: date)) ?? date
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
            try await store.recordUsage(tenantID: tenant, kind: "message_sent", units: 1, at: now, ref: "message:\(key)", agentID: context.agentID)
            if aiReply { try await store.recordUsage(tenantID: tenant, kind: "ai_reply", units: 1, at: now, ref: "ai_reply:\(key)", agentID: context.agentID) }
        } catch {
            metrics.failed(.messageLedger, error: error, logger: context.logger)
        }
    }
}
