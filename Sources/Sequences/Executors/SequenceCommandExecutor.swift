import Domain
import ServiceKit

/// `start_sequence` enrolls the lead through the same path as a manual enroll; `stop_sequence` ends its
/// live enrollments in the named sequence, or in all of them. Both stay inside this service's store.
package struct SequenceCommandExecutor: ActionExecutor {
    package var actionTypes: Set<ActionType> { [.startSequence, .stopSequence] }

    private let enrollments: Enrollments

    package init(store: SequenceStore, clock: any WallClock) {
        self.enrollments = Enrollments(store: store, clock: clock)
    }

    package func execute(_ action: Action, in context: ExecutionContext) async -> ExecutionResult {
        let starting = action.type == .startSequence
        let operation = "sequence.\(starting ? "start" : "stop")"
        guard let lead = context.leadID, lead > 0 else {
            return ExecutionStop.invalid("\(action.type.rawValue) needs a lead", in: context).result
        }
        do {
            if starting {
                guard let sequenceID = action.sequenceID, !sequenceID.isEmpty else {
                    return ExecutionStop.invalid("start_sequence needs sequence_id", in: context).result
                }
                // The action's key makes a repeated run find the enrollment it made instead of refusing.
                switch try await enrollments.enroll(tenantID: context.tenantID, sequenceID: sequenceID, agentID: nil, leadID: lead,
                                                    source: "rule", eventID: context.idempotencyKey, logBlocked: false) {
                case .enrolled(let record):
                    return ExecutionResult(operation: operation, outcome: .succeeded, detail: "enrolled \(record.id)")
                case .alreadyEnrolled(let record):
                    return ExecutionResult(operation: operation, outcome: .succeeded, detail: "already enrolled (\(record.id))")
                case .refused(let reason), .blocked(let reason):
                    return .skipped(operation, reason: reason)
                }
            } else {
                let stopped = try await enrollments.stop(tenantID: context.tenantID, leadID: lead, sequenceID: action.sequenceID,
                                                         reason: "stopped by rule \(context.ruleID)")
                return ExecutionResult(operation: operation, outcome: .succeeded,
                                       detail: stopped.isEmpty ? "no active enrollment" : "stopped \(stopped.joined(separator: ", "))")
            }
        } catch let error as SequenceStoreError {
            return ExecutionResult(operation: operation, outcome: .failedPermanent, detail: "\(error)")
        } catch {
            context.logger.error("executor.sequence_command_failed", metadata: ["error": "\(error)"])
            return ExecutionResult(operation: operation, outcome: .failedRetryable, detail: "store unavailable")
        }
    }
}
