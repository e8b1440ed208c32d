import Logging
import Metrics

/// What the executors count, through swift-metrics: runs by executor and outcome, in-doubt repeats,
/// and every step that failed without ending its action (a usage write, a stored-values read), so that
/// none of them fails quietly.
///
/// The factory comes from the composition root (`MetricsSystem.factory` unless a test passes its own).
package struct ExecutorMetrics: Sendable {
    /// `sequence_executor_runs_total{executor, outcome}`.
    package static let runs = "sequence_executor_runs_total"
    /// `sequence_executor_in_doubt_repeats_total{executor}`.
    package static let inDoubtRepeats = "sequence_executor_in_doubt_repeats_total"
    /// `sequence_executor_step_failures_total{step}`.
    package static let stepFailures = "sequence_executor_step_failures_total"

    /// The steps that can fail, as the `step` label names them.
    package enum Step: String, Sendable, CaseIterable {
        /// The stored action is not a valid action (the run fails).
        case decode
        /// The tenant's integrations could not be read (the run is retried).
        case integrations
        /// The lead's stored values could not be read (templates render from the event's values alone).
        case leadValues = "lead_values"
        /// The conversation could not be read (the AI answers without it).
        case conversation
        /// The AI instructions template does not parse (it is passed on as written).
        case instructionsTemplate = "instructions_template"
        /// A sales script does not parse as a template (the AI sees it as written).
        case scriptTemplate = "script_template"
        /// The tokens an AI call spent could not be recorded.
        case aiTokenUsage = "ai_token_usage"
        /// A sent message or its usage could not be recorded.
        case messageLedger = "message_ledger"
        /// rules-service was not told about our own writes (its loop guard misses them).
        case ownWriteReport = "own_write_report"
        /// The agent's knowledge base could not be searched (the AI answers from its scripts alone).
        case knowledgeSearch = "knowledge_search"
        /// The Kommo catalog could not be read for checking the AI's tool calls (they are checked against the
        /// agent's policy alone).
        case toolCatalog = "tool_catalog"
    }

    private let factory: any MetricsFactory

    /// Metrics made by `factory`.
    package init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
    }

    /// Counts one finished run of `executor`.
    func ran(_ executor: String, outcome: ExecutionOutcome) {
        Counter(label: Self.runs, dimensions: [("executor", executor), ("outcome", outcome.rawValue)], factory: factory).increment()
    }

    /// Counts and logs a run that repeats an interrupted attempt under the same key.
    func repeatingInDoubt(_ executor: String, logger: Logger) {
        logger.notice("executor.in_doubt_repeat", metadata: ["executor": "\(executor)"])
        Counter(label: Self.inDoubtRepeats, dimensions: [("executor", executor)], factory: factory).increment()
    }

    /// Logs `error` with its step and counts it: for every failure the run goes on without, and for the
    /// ones that end it before an executor is chosen.
    func failed(_ step: Step, error: any Error, logger: Logger, level: Logger.Level = .error) {
        logger.log(level: level, "executor.step_failed", metadata: ["step": "\(step.rawValue)", "error": "\(error)"])
        Counter(label: Self.stepFailures, dimensions: [("step", step.rawValue)], factory: factory).increment()
    }
}
