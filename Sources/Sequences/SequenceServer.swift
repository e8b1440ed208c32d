import Foundation
import Logging
import ServiceKit
import Wire

/// The `Sequences` RPC service: takes decisions' actions and timers, and every event for exits and
/// auto-enrollment.
package struct SequenceServer: SequencesHandler {
    let store: SequenceStore
    let scheduler: Scheduler
    let clock: any WallClock

    package func schedule(_ request: PB.ScheduleRequest, context: RPCContext) async throws -> PB.ScheduleResponse {
        let tenantID = try context.requireTenant()
        var violations: [FieldViolation] = []
        for (index, action) in request.actions.enumerated() {
            if action.idempotencyKey.isEmpty { violations.append(FieldViolation(field: "actions[\(index)].idempotency_key", message: "is required")) }
            if action.actionType.isEmpty { violations.append(FieldViolation(field: "actions[\(index)].action_type", message: "is required")) }
        }
        for (index, timer) in request.timers.enumerated() where timer.key.isEmpty || timer.dueAtMicros == 0 {
            violations.append(FieldViolation(field: "timers[\(index)]", message: "needs a key and a due time"))
        }
        guard violations.isEmpty else { throw RPCError.invalid(violations) }
        let (accepted, duplicates) = try await store.schedule(tenantID: tenantID, actions: request.actions, timers: request.timers,
                                                              now: clock.now().unixMicros)
        if accepted > 0 { scheduler.nudge.signal() }
        var response = PB.ScheduleResponse()
        response.accepted = Int32(accepted)
        response.duplicates = Int32(duplicates)
        return response
    }

    package func onEvent(_ request: PB.OnEventRequest, context: RPCContext) async throws -> PB.OnEventResponse {
        _ = try context.requireTenant()
        guard let event = request.event, !event.id.isEmpty else { throw RPCError.invalid(field: "event.id", "is required") }
        _ = try await store.firstSight(of: event, now: clock.now().unixMicros)
        return PB.OnEventResponse()
    }
}
