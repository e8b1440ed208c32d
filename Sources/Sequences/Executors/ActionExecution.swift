import Domain
import Logging
import ServiceKit
import Wire

/// The one path every action run takes, whichever family carries it out: the scheduler has claimed the
/// row and marked the attempt started (so a crash from here on leaves it in doubt rather than lost); this
/// decodes the stored action once, reads the tenant's integrations, hands the action with its
/// ``ExecutionContext`` (idempotency key, attempt, in-doubt flag, clients) to the executor the
/// ``ExecutorRegistry`` names, counts the run, and turns its ``ExecutionResult`` into the scheduler's
/// retry-or-finish terms. Retries inside a run (HTTP, with backoff) happen in the clients the executors
/// share; retries across runs are the scheduler's, honouring ``ExecutionResult/retryAfter``.
package final class ActionExecution: ActionRunner {
    private let registry: ExecutorRegistry
    private let integrations: Integrations
    private let kommo: KommoClients
    private let metrics: ExecutorMetrics

    /// How long a run waits before trying again when the tenant's integrations cannot be read.
    static let integrationsRetry: Duration = .seconds(60)

    package init(registry: ExecutorRegistry, integrations: Integrations, kommo: KommoClients, metrics: ExecutorMetrics) {
        self.registry = registry
        self.integrations = integrations
        self.kommo = kommo
        self.metrics = metrics
    }

    package func run(_ scheduled: ScheduledAction, logger: Logger) async -> ActionRunResult {
        var logger = logger
        logger[metadataKey: "tenant.id"] = "\(scheduled.tenantID)"
        logger[metadataKey: "action.key"] = "\(scheduled.idempotencyKey)"
        logger[metadataKey: "action.type"] = "\(scheduled.actionType)"
        guard let action = scheduled.action else {
            let problem = scheduled.actionProblem ?? "the row has no action"
            metrics.failed(.decode, error: ActionRowProblem(description: problem), logger: logger)
            return ActionRunResult(status: "failed", operation: scheduled.actionType, detail: problem)
        }
        let tenant: TenantIntegrations
        do {
            tenant = try await integrations.runtime(tenantID: scheduled.tenantID)
        } catch {
            metrics.failed(.integrations, error: error, logger: logger)
            return ActionRunResult(status: "retry", operation: scheduled.actionType, detail: "integrations unreadable: \(error)",
                                   retryAfter: Self.integrationsRetry)
        }
        let context = ExecutionContext(
            actionType: action.type, tenantID: scheduled.tenantID, leadID: scheduled.leadID, eventID: scheduled.eventID,
            ruleID: scheduled.ruleID, agentID: scheduled.agentID, idempotencyKey: scheduled.idempotencyKey,
            attempt: scheduled.attempts, inDoubt: scheduled.inDoubt, wasHeld: scheduled.wasHeld, integrations: tenant,
            kommo: kommo.client(rate: tenant.kommoRatePerSecond), logger: logger)
        let executor = registry.executor(for: action.type)
        let name = ExecutorRegistry.name(of: executor)
        if context.inDoubt { metrics.repeatingInDoubt(name, logger: logger) }
        let result = await executor.execute(action, in: context)
        metrics.ran(name, outcome: result.outcome)
        return Self.runResult(result)
    }

    /// The executor's result in the scheduler's terms.
    static func runResult(_ result: ExecutionResult) -> ActionRunResult {
        let status = switch result.outcome {
        case .succeeded: "succeeded"
        case .failedPermanent: "failed"
        case .failedRetryable: "retry"
        case .skipped: "skipped"
        case .held: "held"
        case .deferred: "deferred"
        case .inDoubt: "in_doubt"
        }
        var detail = result.detail ?? result.problem?.summary ?? ""
        if result.outcome == .skipped, detail == SkipReason.noKommoCredentials { detail = "skipped (no Kommo credentials)" }
        return ActionRunResult(status: status, operation: result.operation, target: result.target, requestSummary: result.requestSummary,
                               httpStatus: result.httpStatus, detail: detail, retryAfter: result.retryAfter,
                               holdUntil: result.holdUntil?.unixMicros)
    }
}

// MARK: - The executors of sequence-service

extension ExecutorRegistry {
    /// Every action family's executor over the process's dependencies: what the composition root
    /// registers, and what tests check covers every action type.
    package static func executors(store: SequenceStore, egress: EgressGate, rules: RulesClient, settings: ExecutorSettings,
                                  clock: any WallClock, metrics: ExecutorMetrics) -> [any ActionExecutor] {
        let templates = LeadTemplates(store: store, metrics: metrics)
        let feedback = RulesFeedback(rules: rules, timeout: settings.rulesTimeout, clock: clock, metrics: metrics,
                                     embedder: KnowledgeEmbedder(gate: egress))
        let delivery = ChatDelivery(egress: egress, retry: settings.kommoRetry, store: store, clock: clock, metrics: metrics)
        let tasks = KommoTaskExecutor(templates: templates, clock: clock)
        let leads = KommoLeadExecutor(templates: templates, rules: feedback)
        return [
            tasks,
            leads,
            KommoOperationExecutor(tasks: tasks, leads: leads, templates: templates, rules: feedback),
            ChatMessageExecutor(delivery: delivery, templates: templates, rules: feedback, messaging: AgentMessaging(store: store, clock: clock)),
            AIReplyExecutor(delivery: delivery, templates: templates, rules: feedback, store: store, egress: egress,
                            settings: settings, clock: clock, metrics: metrics),
            WebhookExecutor(sender: WebhookSender(egress: egress, configuration: .init(retry: settings.webhookRetry)), templates: templates),
            SequenceCommandExecutor(store: store, clock: clock),
        ]
    }
}

/// A claimed row whose stored action could not be read (see `ScheduledAction.actionProblem`).
struct ActionRowProblem: Error, CustomStringConvertible {
    var description: String
}
