import Logging
import Metrics

/// What rules-service counts through swift-metrics besides its evaluation counters: stored documents that
/// no longer decode and steps that failed without failing their call, so that none of them fails quietly.
///
/// The factory comes from the composition root (`MetricsSystem.factory` unless a test passes its own).
package struct RulesMetrics: Sendable {
    /// `rules_unreadable_documents_total{kind}`: stored agents, rules and scripts that did not decode.
    package static let unreadableDocuments = "rules_unreadable_documents_total"
    /// `rules_step_failures_total{step}`.
    package static let stepFailures = "rules_step_failures_total"

    /// The steps that can fail without failing their call, as the `step` label names them.
    package enum Step: String, Sendable, CaseIterable {
        /// The stored totals could not be read for the health metrics (their gauges are left out).
        case totals
    }

    private let factory: any MetricsFactory

    /// Metrics made by `factory`.
    package init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
    }

    /// Logs and counts a stored document that does not decode; the caller goes on without it.
    func unreadable(_ record: DocumentRecord, error: any Error, logger: Logger) {
        logger.error("rules.document_unreadable", metadata: [
            "tenant.id": "\(record.tenantID)", "document.kind": "\(record.kind.rawValue)", "document.id": "\(record.id)",
            "error": "\(error)",
        ])
        Counter(label: Self.unreadableDocuments, dimensions: [("kind", record.kind.rawValue)], factory: factory).increment()
    }

    /// Logs and counts a step that failed while its call went on.
    func failed(_ step: Step, error: any Error, logger: Logger) {
        logger.error("rules.step_failed", metadata: ["step": "\(step.rawValue)", "error": "\(error)"])
        Counter(label: Self.stepFailures, dimensions: [("step", step.rawValue)], factory: factory).increment()
    }
}
