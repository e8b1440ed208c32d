import Basics
import Domain
import Foundation

/// `webhook`: a signed `POST` to the rule's URL, its body the rendered `payload_template` (each inserted
/// value escaped for a JSON string) or, without one, the action's key, event, rule and lead. The action's
/// key is the `webhook-id`, so receivers can drop repeats.
package struct WebhookExecutor: ActionExecutor {
    package var actionTypes: Set<ActionType> { [.webhook] }

    private let sender: WebhookSender
    private let templates: LeadTemplates

    package init(sender: WebhookSender, templates: LeadTemplates) {
        self.sender = sender
        self.templates = templates
    }

    package func execute(_ action: Action, in context: ExecutionContext) async -> ExecutionResult {
        let operation = "webhook.send"
        guard let url = action.url, !url.isEmpty else { return ExecutionStop.invalid("webhook needs url", in: context).result }
        guard let secret = context.integrations.webhookSecret else {
            return .skipped(operation, reason: "no outgoing webhook secret configured (save the integrations once to generate one)")
        }
        let payload: String
        if let source = action.payloadTemplate, !source.isEmpty {
            do throws(ExecutionStop) {
                let template = try templates.parse(source, operation: operation, what: "payload_template")
                payload = Self.renderJSONEscaped(template, values: try await templates.values(for: [template], in: context))
            } catch {
                return error.result
            }
        } else {
            var body: [String: JSONValue] = ["action_key": .string(context.idempotencyKey), "event_id": .string(context.eventID),
                                             "rule_id": .string(context.ruleID)]
            if let lead = context.leadID { body["lead_id"] = .int(lead) }
            payload = JSONValue.object(body).text()
        }
        return await sender.send(url: url, payload: Array(payload.utf8), messageID: context.idempotencyKey, secret: secret,
                                 logger: context.logger)
    }

    /// Renders a JSON template, escaping each inserted value for a JSON string, so that a lead named
    /// `Ann "the" O'Neil` cannot break the payload (or add members to it).
    static func renderJSONEscaped(_ template: Template, values: TemplateValues) -> String {
        var output = ""
        for segment in template.segments {
            switch segment {
            case .literal(let text):
                output += text
            case .variable(let variable):
                let value = values.resolve(variable.path) ?? variable.defaultValue ?? ""
                output += JSONValue.string(value).text().dropFirst().dropLast()
            }
        }
        return output
    }
}
