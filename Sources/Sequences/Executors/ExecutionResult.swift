import Basics
import Foundation

// MARK: - Outcome

/// How an executor call ended, as the action log records it.
package enum ExecutionOutcome: String, Sendable, Hashable, Codable, CaseIterable {
    /// The outside system accepted the request.
    case succeeded
    /// The request was refused for a reason retrying will not fix (bad token, validation error, forbidden
    /// target). The scheduler should not try again without a change.
    case failedPermanent = "failed_permanent"
    /// Every attempt failed for a reason that may pass (rate limit, 5xx, timeout, connection error). The
    /// scheduler may reschedule the action later, honouring ``ExecutionResult/retryAfter`` when set.
    case failedRetryable = "failed_retryable"
    /// Nothing was sent, on purpose: no credentials configured, a message blocked by a missing template
    /// value, and the like. ``ExecutionResult/detail`` says why.
    case skipped
    /// Not sent yet, on purpose: the agent is paused for the lead (a manager replied). The row waits
    /// until ``ExecutionResult/holdUntil``, or for a resume when that is `nil`, and then runs again.
    case held
    /// Not sent, because the Kommo account is paused (blocked after repeated 429s, or unpaid): the row
    /// waits, not failed, until ``ExecutionResult/holdUntil`` or until the account's probe resumes it.
    case deferred
    /// The request may or may not have taken effect (a 5xx or timeout on a Salesbot run, which may
    /// already have messaged the client): not sent again by itself; an operator retries or dismisses it.
    case inDoubt = "in_doubt"
}

// MARK: - Problem details

/// The error document an outside system answered with: RFC 9457 fields plus Kommo's validation errors.
package struct ProblemDetails: Sendable, Hashable, Codable {
    /// Short summary (`title`).
    package var title: String?
    /// Explanation for this occurrence (`detail`).
    package var detail: String?
    /// The status the document itself claims.
    package var status: Int?
    /// Kommo's `validation-errors`, flattened to `path: detail (code)` lines.
    package var validationErrors: [String]

    /// Creates problem details.
    package init(title: String? = nil, detail: String? = nil, status: Int? = nil, validationErrors: [String] = []) {
        self.title = title
        self.detail = detail
        self.status = status
        self.validationErrors = validationErrors
    }

    /// Reads a problem document (`application/problem+json` or a plain JSON error); `nil` when `json` has
    /// none of the known members. Understands OpenAI's `{"error":{"message","type"}}` too.
    package init?(json: JSONValue) {
        var problem = ProblemDetails()
        problem.title = json["title"]?.string
        problem.detail = json["detail"]?.string
        problem.status = json["status"]?.int64.map(Int.init)
        for entry in json["validation-errors"]?.array ?? [] {
            for error in entry["errors"]?.array ?? [] {
                let path = error["path"]?.string ?? "?"
                let detail = error["detail"]?.string ?? "invalid"
                let code = error["code"]?.string.map { " (\($0))" } ?? ""
                problem.validationErrors.append("\(path): \(detail)\(code)")
            }
        }
        if let error = json["error"] {
            problem.title = problem.title ?? error["type"]?.string ?? error.string
            problem.detail = problem.detail ?? error["message"]?.string
        }
        guard problem.title != nil || problem.detail != nil || !problem.validationErrors.isEmpty else { return nil }
        self = problem
    }

    /// One line for the action log: `title: detail; path: detail (code); …`.
    package var summary: String {
        var parts: [String] = []
        switch (title, detail) {
        case let (title?, detail?): parts.append("\(title): \(detail)")
        case let (title?, nil): parts.append(title)
        case let (nil, detail?): parts.append(detail)
        case (nil, nil): break
        }
        parts.append(contentsOf: validationErrors)
        return parts.joined(separator: "; ")
    }
}

// MARK: - Usage

/// Tokens an LLM call consumed, as its response reported them.
package struct TokenUsage: Sendable, Hashable, Codable {
    /// Tokens of the prompt.
    package var promptTokens: Int
    /// Tokens of the answer.
    package var completionTokens: Int
    /// Both together, as reported (not recomputed: providers may count extra tokens).
    package var totalTokens: Int

    /// Creates a usage record.
    package init(promptTokens: Int, completionTokens: Int, totalTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.totalTokens = totalTokens
    }
}

// MARK: - Result

/// What one executor call did, for the action log: one HTTP exchange with its retries, or (``steps``)
/// several exchanges that together make one action.
///
/// It never holds a secret: ``target`` is a method and a path (no token, no query secret, no user info),
/// ``requestSummary`` is written by the executor to be short and safe to show an operator.
package struct ExecutionResult: Sendable, Hashable, Codable {
    /// What was attempted, e.g. `kommo.create_task`, `chat.salesbot_field`, `webhook.send`.
    package var operation: String
    /// Method and path of the last request, e.g. `POST /api/v4/tasks`; for webhooks the URL without
    /// user info and query; empty when nothing was sent.
    package var target: String
    /// A short description of what was sent, without secrets.
    package var requestSummary: String
    /// The status of the last response; `nil` when no response arrived.
    package var httpStatus: Int?
    /// Time taken by the last attempt.
    package var latency: Duration
    /// Time from the first attempt to the end, waits for rate limits and backoff included.
    package var elapsed: Duration
    /// HTTP attempts made (0 when skipped or refused before sending).
    package var attempts: Int
    /// How it ended.
    package var outcome: ExecutionOutcome
    /// Why it was skipped or failed, or a remark on a success (e.g. an unreadable answer); `nil` when
    /// there is nothing to say.
    package var detail: String?
    /// The outside system's error document, when it sent one.
    package var problem: ProblemDetails?
    /// Ids the call created in Kommo (task ids), in the order the answer listed them.
    package var createdIDs: [Int64]
    /// When the outside system asked us to wait (HTTP 429) and attempts ran out, how long it asked for:
    /// a hint for the scheduler's next try.
    package var retryAfter: Duration?
    /// LLM token usage, for AI calls that reported it.
    package var usage: TokenUsage?
    /// For a ``ExecutionOutcome/held`` run: when the pause ends by itself; `nil` when only a resume ends it.
    package var holdUntil: Date?
    /// The exchanges of a multi-step action (e.g. write the field, then run the Salesbot), in order.
    package var steps: [ExecutionResult]

    /// Creates a result; executors fill in what applies.
    package init(
        operation: String, target: String = "", requestSummary: String = "", httpStatus: Int? = nil,
        latency: Duration = .zero, elapsed: Duration = .zero, attempts: Int = 0, outcome: ExecutionOutcome,
        detail: String? = nil, problem: ProblemDetails? = nil, createdIDs: [Int64] = [],
        retryAfter: Duration? = nil, usage: TokenUsage? = nil, steps: [ExecutionResult] = []
    ) {
        self.operation = operation
        self.target = target
        self.requestSummary = requestSummary
        self.httpStatus = httpStatus
        self.latency = latency
        self.elapsed = elapsed
        self.attempts = attempts
        self.outcome = outcome
        self.detail = detail
        self.problem = problem
        self.createdIDs = createdIDs
        self.retryAfter = retryAfter
        self.usage = usage
        self.steps = steps
    }

    /// A result for an action held by a pause until `until` (or a resume, when `nil`).
    package static func held(_ operation: String, reason: String, until: Date?) -> ExecutionResult {
        var result = ExecutionResult(operation: operation, outcome: .held, detail: reason)
        result.holdUntil = until
        return result
    }

    /// A result for an action not sent because its Kommo account is paused, to run again at `until`.
    package static func deferred(_ operation: String, reason: String, until: Date?) -> ExecutionResult {
        var result = ExecutionResult(operation: operation, outcome: .deferred, detail: reason)
        result.holdUntil = until
        return result
    }

    /// A result for an action that was deliberately not sent.
    package static func skipped(_ operation: String, reason: String, requestSummary: String = "") -> ExecutionResult {
        ExecutionResult(operation: operation, requestSummary: requestSummary, outcome: .skipped, detail: reason)
    }

    /// Whether the call succeeded.
    package var succeeded: Bool { outcome == .succeeded }

    /// ``latency`` in milliseconds, as the action log stores it.
    package var latencyMilliseconds: Double {
        latency.millis
    }

    /// The one id created, when there is one (the task id of `kommo.create_task`).
    package var createdID: Int64? { createdIDs.first }
}

/// Reasons used in ``ExecutionResult/detail`` of skipped results, so the log reads the same everywhere.
package enum SkipReason {
    /// The tenant has not connected Kommo.
    package static let noKommoCredentials = "no Kommo credentials"
}
