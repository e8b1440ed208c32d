import Domain
import ServiceKit
import Wire

// The one place where sequence-service's wire messages become domain values for its store and executors.

extension PlannedActionRecord {
    /// A rule decision's action as the schedule stores it. Throws INVALID_ARGUMENT naming `field` when the action
    /// has no key or no action type.
    init(_ message: PB.PlannedAction, field: String) throws {
        guard !message.idempotencyKey.isEmpty else { throw RPCError.invalid(field: "\(field).idempotency_key", "is required") }
        guard let action = message.action else { throw RPCError.invalid(field: "\(field).action", "is required") }
        self.init(idempotencyKey: message.idempotencyKey, ruleID: message.ruleId, agentID: message.agentId, eventID: message.eventId,
                  leadID: message.leadId > 0 ? message.leadId : nil, action: try Action(action, field: "\(field).action"))
    }
}
