import Foundation

/// Timeouts and retries of the executors (where requests may go is the ``EgressGate``'s policy).
package struct ExecutorSettings: Sendable {
    /// Retries of one Kommo call inside one run. Its longest honoured `retry_after` stays well under the
    /// scheduler's lease: a run that outlives its lease is claimed again and would send twice.
    package var kommoRetry: RetryPolicy
    /// Retries of one webhook delivery inside one run.
    package var webhookRetry: RetryPolicy
    /// Retries of one LLM call inside one run.
    package var aiRetry: RetryPolicy
    /// Deadline of calls to rules-service.
    package var rulesTimeout: Duration
    /// Messages of the conversation given to the AI.
    package var conversationTurns: Int

    /// Creates settings; the defaults suit production.
    package init(kommoRetry: RetryPolicy = RetryPolicy(maxAttempts: 3, maxRetryAfter: .seconds(20)),
                 webhookRetry: RetryPolicy = RetryPolicy(maxAttempts: 3, maxRetryAfter: .seconds(20)),
                 aiRetry: RetryPolicy = RetryPolicy(maxAttempts: 2, maxRetryAfter: .seconds(10)),
                 rulesTimeout: Duration = .seconds(5), conversationTurns: Int = 30) {
        self.kommoRetry = kommoRetry
        self.webhookRetry = webhookRetry
        self.aiRetry = aiRetry
        self.rulesTimeout = rulesTimeout
        self.conversationTurns = conversationTurns
    }
}
