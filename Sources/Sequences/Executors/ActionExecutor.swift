import Domain
import Logging

// MARK: - Executor

/// Carries out the actions of one family (Kommo tasks, Kommo lead writes, chat messages, AI replies,
/// webhooks, sequence commands) with the outside system that family talks to.
///
/// An executor holds only what is specific to its family. What every action shares — the attempt mark
/// before anything is sent, the idempotency key, retries, in-doubt repeats and the outcome in the action
/// log — is done once, around it, by ``ActionExecution`` and the ``Scheduler``; the executor receives the
/// decoded action and the ``ExecutionContext`` of this run.
///
/// Adding an action type means one executor file (or one more type in an existing family's
/// ``actionTypes``); the ``ExecutorRegistry`` refuses to start while any type has no executor.
package protocol ActionExecutor: Sendable {
    /// The action types this executor carries out. Every ``ActionType`` belongs to exactly one executor.
    var actionTypes: Set<ActionType> { get }

    /// Carries out `action`, one of ``actionTypes``, for the run described by `context`.
    ///
    /// Never throws: every way a run ends — sent, refused, worth retrying, skipped on purpose — is an
    /// ``ExecutionResult`` for the action log. Wherever the outside system keeps an idempotency key, the
    /// executor sends ``ExecutionContext/idempotencyKey`` as that key, so that a repeated run (a retry, or
    /// a repeat of an interrupted attempt) does not act twice.
    func execute(_ action: Action, in context: ExecutionContext) async -> ExecutionResult
}

// MARK: - Context

/// Everything one run of one action knows besides the action itself.
package struct ExecutionContext: Sendable {
    /// The type of the action being run: the operation logged when it cannot run as written.
    package var actionType: ActionType
    /// The tenant whose action this is.
    package var tenantID: String
    /// The lead the action is about; `nil` for actions without one.
    package var leadID: Int64?
    /// The event that caused the action.
    package var eventID: String
    /// The rule that planned it (for own-write reports and the log).
    package var ruleID: String
    /// The agent whose context and scripts apply; empty when the rule names none.
    package var agentID: String
    /// The scheduled row's key, the same on every run of the action: Kommo's `request_id`, the Chats
    /// API `msgid`, the `webhook-id` header.
    package var idempotencyKey: String
    /// Which run of the action this is (1 for the first), as the scheduler counts claims.
    package var attempt: Int
    /// An earlier run began its side effect and was interrupted before its outcome was recorded: this
    /// run repeats it under the same key.
    package var inDoubt: Bool
    /// A manager's reply held this action before; it runs now because the pause ended.
    package var wasHeld: Bool = false
    /// The tenant's integrations as of this run.
    package var integrations: TenantIntegrations
    /// The Kommo client at the tenant's rate limit.
    package var kommo: KommoClient
    /// The process logger with the run's metadata (`tenant.id`, `action.key`, `action.type`).
    package var logger: Logger

    /// The tenant's Kommo connection; `nil` when Kommo is not connected.
    package var kommoConnection: KommoConnection? { integrations.kommo }
}

// MARK: - Early end

/// The end of a run before its main request: a missing parameter, a template that blocks, a failed
/// read the action depends on. It carries the ``ExecutionResult`` to log instead.
///
/// The shared steps (rendering templates, reading the agent's context) throw it, typed, so an executor
/// reads as the straight line of its steps and ends early with one `catch`; ``ActionExecutor/execute``
/// itself never throws.
package struct ExecutionStop: Error {
    /// What the action log records for this run.
    package var result: ExecutionResult

    /// A stop that logs `result`.
    package init(_ result: ExecutionResult) { self.result = result }

    /// An action that cannot run as written: retrying without a change would fail the same way.
    package static func invalid(_ detail: String, in context: ExecutionContext) -> ExecutionStop {
        ExecutionStop(ExecutionResult(operation: context.actionType.rawValue, outcome: .failedPermanent, detail: detail))
    }

    /// An action deliberately not sent.
    package static func skipped(_ operation: String, reason: String) -> ExecutionStop {
        ExecutionStop(.skipped(operation, reason: reason))
    }
}
