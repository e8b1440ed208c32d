import AsyncHTTPClient
import Foundation
import Logging
import NIOHTTP1

/// Calls the Kommo REST API (v4, and v2 for Salesbot runs) for any tenant's account.
///
/// One instance serves the whole process: it sends through the process's ``EgressGate`` and holds the
/// shared ``KommoRateLimiter``, and takes the account on
/// every call. Calls never throw: each returns an ``ExecutionResult`` for the action log, with the
/// outcome classified as Kommo's documentation describes:
///
/// | answer | outcome |
/// |---|---|
/// | 2xx (204 for reads: no such entity) | `succeeded` |
/// | 429 | wait `retry_after` (body) or `Retry-After` (header), capped, then retry; the whole account pauses |
/// | 5xx, timeout, connection error | retry with capped exponential backoff and jitter |
/// | attempts exhausted on the above | `failed_retryable` |
/// | 401 | `failed_permanent`, "bad token" |
/// | 402 | `failed_permanent`, "account unpaid" |
/// | other 3xx/4xx | `failed_permanent` with Kommo's problem details |
///
/// Passing `nil` for the account gives a `skipped` result ("no Kommo credentials"), so a tenant that has
/// not connected Kommo sees its actions recorded rather than lost.
package struct KommoClient: Sendable {
    /// Timeouts, retries and limits of Kommo calls.
    package struct Configuration: Sendable, Hashable, OutboundSettings {
        /// Retries of one call.
        package var retry: RetryPolicy
        /// Deadline of one attempt, connecting and reading the answer included.
        package var requestTimeout: Duration
        /// Largest answer read; the rest of a longer one is dropped and the call recorded as such.
        package var maxResponseBytes: Int

        /// Creates a configuration.
        package init(retry: RetryPolicy = RetryPolicy(), requestTimeout: Duration = .seconds(15),
                     maxResponseBytes: Int = 1 << 20) {
            self.retry = retry
            self.requestTimeout = requestTimeout
            self.maxResponseBytes = maxResponseBytes
        }
    }

    /// The settings in force.
    package let configuration: Configuration
    private let http: OutboundHTTP
    private let rateLimiter: KommoRateLimiter
    private let renewer: (any KommoTokenRenewer)?
    /// Batches, the lead cache and paused accounts, shared by every client of the process.
    package let budget: KommoBudget

    /// A client sending through `egress`, admitting requests through `rateLimiter` (share one limiter
    /// among everything in the process that calls Kommo). With a `renewer`, a call that Kommo refuses
    /// with 401 on an account that can be renewed (``KommoConnection/renewableTenant``) is sent once more
    /// with the renewed token.
    package init(egress: EgressGate, rateLimiter: KommoRateLimiter, configuration: Configuration = Configuration(),
                 renewer: (any KommoTokenRenewer)? = nil, budget: KommoBudget = KommoBudget()) {
        self.configuration = configuration
        self.budget = budget
        self.rateLimiter = rateLimiter
        self.renewer = renewer
        self.http = OutboundHTTP(gate: egress, settings: configuration)
    }

    // MARK: - One call

    /// Whether a call reads or writes, which decides what an unreadable 2xx answer means.
    enum CallKind {
        /// A read: its answer is the point, so an unreadable one fails the call.
        case read
        /// A write: a 2xx means Kommo applied it, so an unreadable answer is only remarked on (retrying
        /// would apply it twice).
        case write
    }

    /// One Kommo call with rate limiting, retries and classification; the response is returned for
    /// operations that read ids or entities from it.
    ///
    /// A paused account (``KommoAccountPauses``) sends nothing: the call ends `deferred` until its probe
    /// (`probe: true`, the one call that still goes out) finds it answering. A 402, or a 403 soon after a
    /// 429, pauses the account. `batch` calls end at a 504 at once, so the batcher can resend in halves.
    func call(
        operation: String, account: KommoConnection?, method: HTTPMethod, path: String, query: String? = nil,
        body: (some Encodable)?, summary: String, kind: CallKind, logger: Logger, renewed: Bool = false,
        batch: Bool = false, probe: Bool = false, retry: RetryPolicy? = nil
    ) async -> (ExecutionResult, OutboundResponse?) {
        guard let account else {
            return (.skipped(operation, reason: SkipReason.noKommoCredentials, requestSummary: summary), nil)
        }
        let target = "\(method.rawValue) \(path)\(query.map { "?\($0)" } ?? "")"
        let pauses = budget.pauses
        if !probe, let pause = pauses.pause(for: account.rateLimitKey) {
            if let tenant = account.tenantID { pauses.deferred(tenantID: tenant, accountKey: account.rateLimitKey) }
            return (Self.deferred(operation: operation, target: target, summary: summary, pause: pause), nil)
        }
        if let problem = http.gate.policy.kommoBaseURLProblem(account.baseURL) {
            // A base URL stored before this rule existed: the token is not sent off Kommo's domains.
            return (ExecutionResult(operation: operation, target: target, requestSummary: summary, outcome: .failedPermanent,
                                    detail: "kommo.base_url \(problem); nothing was sent"), nil)
        }
        var encoded: [UInt8]?
        if let body {
            do {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                encoded = Array(try encoder.encode(body))
            } catch {
                return (ExecutionResult(operation: operation, target: target, requestSummary: summary,
                                        outcome: .failedPermanent, detail: "could not encode the request: \(error)"), nil)
            }
        }
        let url = account.baseURL + path + (query.map { "?\($0)" } ?? "")
        let key = account.rateLimitKey
        let http = retry.map { OutboundHTTP(gate: self.http.gate, timeout: self.http.timeout, retry: $0,
                                            maxResponseBytes: self.http.maxResponseBytes) } ?? self.http
        let record = await http.exchange(
            logger: logger,
            makeRequest: {
                var headers = HTTPHeaders()
                headers.add(name: "Authorization", value: "Bearer \(account.accessToken)")
                headers.add(name: "Accept", value: "application/hal+json, application/json")
                if encoded != nil { headers.add(name: "Content-Type", value: "application/json") }
                return OutboundRequest(method: method, url: url, headers: headers, body: encoded)
            },
            limiter: (rateLimiter, key),
            classify: batch ? Self.classifyBatch : Self.classify,
            onRetryAfter: { wait in
                rateLimiter.pause(key, for: wait)
                pauses.rateLimited(key)
            })
        if record.response?.status == 401, !renewed, let renewer, account.renewableTenant != nil,
           let fresh = await renewer.renew(account, logger: logger) {
            // An expired access token: renewed once, and the call made again with the new one.
            var (result, response) = await call(operation: operation, account: fresh, method: method, path: path, query: query, body: body,
                                                summary: summary, kind: kind, logger: logger, renewed: true, batch: batch, probe: probe,
                                                retry: retry)
            result.attempts += record.attempts
            result.detail = "access token renewed after a 401" + (result.detail.map { "; \($0)" } ?? "")
            return (result, response)
        }
        var result = Self.result(operation: operation, target: target, summary: summary, record: record,
                                 kind: kind, limit: configuration.maxResponseBytes)
        if let status = record.response?.status, status == 402 || status == 403, !probe,
           let pause = await pauses.refused(status: status, accountKey: key, tenantID: account.tenantID, logger: logger) {
            // The whole account refuses us: this action waits with the others rather than fail.
            var deferred = Self.deferred(operation: operation, target: target, summary: summary, pause: pause)
            deferred.httpStatus = status
            deferred.attempts = result.attempts
            deferred.problem = result.problem
            result = deferred
        }
        if result.outcome != .succeeded {
            logger.warning("kommo call did not succeed", metadata: [
                "kommo.operation": "\(operation)", "http.target": "\(target)",
                "http.status": "\(result.httpStatus.map(String.init) ?? "none")",
                "outcome": "\(result.outcome.rawValue)", "attempts": "\(result.attempts)",
            ])
        }
        return (result, record.response)
    }

    /// Judges one Kommo answer for the retry loop.
    static func classify(_ response: OutboundResponse) -> AttemptVerdict {
        switch response.status {
        case 200..<300: .success
        case 429: .retry(after: retryAfter(of: response))
        case 408, 500..<600: .retry(after: nil)
        default: .permanent
        }
    }

    /// ``classify(_:)`` for batch requests: a 504 is not retried as it is, but resent in smaller batches.
    static func classifyBatch(_ response: OutboundResponse) -> AttemptVerdict {
        response.status == 504 ? .permanent : classify(response)
    }

    /// The result of a call a paused account did not receive.
    static func deferred(operation: String, target: String, summary: String, pause: KommoAccountPause) -> ExecutionResult {
        var result = ExecutionResult.deferred(
            operation, reason: "deferred: the Kommo account is paused since \(Date(unixMicros: pause.since).formatted(.iso8601)) (\(pause.reason)); nothing was sent",
            until: Date(unixMicros: pause.nextProbeAt).addingTimeInterval(1))
        result.target = target
        result.requestSummary = summary
        return result
    }

    /// Waits until the account's allowance has room for a request, without taking it.
    func waitForRoom(_ account: KommoConnection) async {
        do { try await rateLimiter.waitForRoom(account.rateLimitKey) } catch {
            // Cancelled: the request that follows finds out and records it.
        }
    }

    /// The wait a 429 asks for: `retry_after` in the body (Kommo), else a `Retry-After` header in seconds.
    static func retryAfter(of response: OutboundResponse) -> Duration? {
        if let seconds = response.json?["retry_after"], let value = seconds.int64 ?? seconds.string.flatMap(Int64.init) {
            return .seconds(max(0, value))
        }
        if let header = response.headers.first(name: "Retry-After"), let value = Double(header.trimmingCharacters(in: .whitespaces)) {
            return .seconds(double: value)
        }
        return nil
    }

    /// Turns the end of a retry loop into the action-log record.
    ///
    /// `service` names the other side in details; the 401/402/403 wording is Kommo's only for Kommo.
    static func result(operation: String, target: String, summary: String, record: ExchangeRecord,
                       kind: CallKind, limit: Int, service: String = "Kommo") -> ExecutionResult {
        var result = ExecutionResult(
            operation: operation, target: target, requestSummary: summary, httpStatus: record.response?.status,
            latency: record.latency, elapsed: record.elapsed, attempts: record.attempts, outcome: .succeeded)
        let response = record.response
        if let json = response?.json, response.map({ $0.status >= 300 }) ?? false {
            result.problem = ProblemDetails(json: json)
        }
        if let refusal = record.refusal {
            result.outcome = .failedPermanent
            result.detail = "refused by the egress gate, nothing was sent: \(refusal)"
            return result
        }
        if record.cancelled {
            result.outcome = .failedRetryable
            result.detail = "cancelled before completion"
            return result
        }
        switch record.verdict {
        case .success:
            let remark = response?.unreadableBodyRemark(limit: limit)
            if kind == .read, let remark, response?.status != 204 {
                result.outcome = .failedPermanent
                result.detail = remark
            } else {
                result.detail = remark
            }
        case .retry:
            result.outcome = .failedRetryable
            result.retryAfter = response?.status == 429 ? record.retryAfter : nil
            if let error = record.transportError {
                result.detail = error
            } else if let status = response?.status {
                result.detail = status == 429
                    ? "rate limited by \(service) (429) on every attempt"
                    : "\(service) answered \(status) on every attempt"
            }
        case .permanent:
            result.outcome = .failedPermanent
            let status = response?.status ?? 0
            let problem = result.problem?.summary
            let isKommo = service == "Kommo"
            let base: String = switch status {
            case 401 where isKommo: "bad token: Kommo refused the access token (401)"
            case 401: "bad credentials: \(service) refused the key (401)"
            case 402 where isKommo: "account unpaid: Kommo refused the call (402)"
            case 403 where isKommo: "forbidden (403): the token lacks access, or Kommo blocked the integration after repeated rate-limit violations"
            case 404: "not found (404)"
            case 300..<400: "unexpected redirect (\(status)); check the configured base URL"
            default: "\(service) refused the request (\(status))"
            }
            result.detail = problem.map { $0.isEmpty ? base : "\(base): \($0)" } ?? base
        }
        return result
    }
}
