import Domain
import Logging

/// Renders the templates of actions (task and note texts, messages, webhook payloads) with the lead's
/// values, for every executor that writes one.
package struct LeadTemplates: Sendable {
    private let store: SequenceStore
    private let metrics: ExecutorMetrics

    package init(store: SequenceStore, metrics: ExecutorMetrics) {
        self.store = store
        self.metrics = metrics
    }

    /// Renders `source` with the lead's values; a template that does not parse fails the action, one that
    /// `policy` blocks skips it.
    func render(_ source: String, policy: MissingValuePolicy, operation: String,
                in context: ExecutionContext) async throws(ExecutionStop) -> String {
        let template = try parse(source, operation: operation, what: "template")
        let values = try await values(for: [template], in: context)
        switch template.render(values: values, policy: policy) {
        case .rendered(let text):
            return text
        case let blocked:
            throw ExecutionStop(ExecutionResult(operation: operation, outcome: .skipped, detail: blocked.reason))
        }
    }

    /// `source` parsed; a template that does not parse fails the action (`what` names it in the log).
    func parse(_ source: String, operation: String, what: String) throws(ExecutionStop) -> Template {
        do {
            return try Template(parsing: source)
        } catch {
            throw ExecutionStop(ExecutionResult(operation: operation, outcome: .failedPermanent, detail: "\(what): \(error.message)"))
        }
    }

    /// The lead's values for `templates` (`nil`: any template): the latest event values, with a fresh read
    /// of the lead (and its main contact, when a template names contact values) from Kommo on top when the
    /// tenant is connected. Templates without placeholders cost no Kommo request. A read that may pass
    /// (Kommo busy) stops the action so the scheduler tries again.
    func values(for templates: [Template]?, in context: ExecutionContext) async throws(ExecutionStop) -> TemplateValues {
        var values = TemplateValues()
        if let lead = context.leadID { values[TemplateVocabulary.leadID] = String(lead) }
        let variables = templates?.flatMap(\.variables).map { TemplateVocabulary.normalize($0.path) }
        if let variables, variables.allSatisfy({ $0 == TemplateVocabulary.leadID }) { return values }
        guard let lead = context.leadID else { return values }
        do {
            values = TemplateValues(try await store.leadValues(tenantID: context.tenantID, leadID: lead)).merging(values)
        } catch {
            // Kommo's fresh read below still applies; without it the template renders what it can.
            metrics.failed(.leadValues, error: error, logger: context.logger)
        }
        guard let connection = context.kommoConnection else { return values }
        if let variables, !variables.isEmpty, variables.allSatisfy({ !(values[$0] ?? "").isEmpty }) {
            // Every value the templates name came with the lead's webhooks, which Kommo sends on each
            // change: no read needed.
            return values
        }
        let read = await context.kommo.readLead(id: lead, tenantID: context.tenantID, account: connection, logger: context.logger)
        if read.result.outcome == .failedRetryable { throw ExecutionStop(read.result) }
        guard let entity = read.entity else {
            // The stored values are the best we have; the failed read is in the process log.
            return values
        }
        var contact: KommoContact?
        let needsContact = variables.map { $0.contains { $0.hasPrefix("contact.") } } ?? true
        if needsContact, let contactID = entity.mainContactID {
            let contactRead = await context.kommo.getContact(id: contactID, account: connection, logger: context.logger)
            if contactRead.result.outcome == .failedRetryable { throw ExecutionStop(contactRead.result) }
            contact = contactRead.entity
        }
        return values.merging(entity.templateValues(contact: contact))
    }
}
