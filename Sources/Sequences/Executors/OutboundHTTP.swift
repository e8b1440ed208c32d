import AsyncHTTPClient
import Basics
import Foundation
import Logging
import NIOCore
import NIOHTTP1

// MARK: - One exchange with retries

/// A request as executors build it; rebuilt for every attempt so that signatures can carry fresh dates.
package struct OutboundRequest: Sendable {
    package var method: HTTPMethod
    package var url: String
    package var headers: HTTPHeaders
    package var body: [UInt8]?

    /// A request; `body` `nil` sends none.
    package init(method: HTTPMethod, url: String, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8]? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// A response with its body read up to the configured cap.
package struct OutboundResponse: Sendable {
    package var status: Int
    package var headers: HTTPHeaders
    /// The body, at most the cap in bytes.
    package var body: [UInt8]
    /// Whether the body was longer than the cap and was cut.
    package var truncated: Bool

    /// The body as JSON, or `nil` when it is empty, cut or not JSON.
    package var json: JSONValue? { truncated ? nil : JSONValue(parsing: body) }

    /// A remark for the action log when the body could not be read as JSON.
    func unreadableBodyRemark(limit: Int) -> String? {
        if truncated { return "response body larger than \(limit) bytes, not read past the limit" }
        if body.isEmpty { return nil }
        if json == nil { return "response body is not JSON (\(body.count) bytes)" }
        return nil
    }
}

/// What a response means for the retry loop.
enum AttemptVerdict: Sendable {
    /// Done, successfully.
    case success
    /// Worth another try, after the server's requested wait when it gave one.
    case retry(after: Duration?)
    /// Done, unsuccessfully; retrying would not help.
    case permanent
}

/// The end of a retry loop.
struct ExchangeRecord: Sendable {
    var attempts = 0
    var latency: Duration = .zero
    var elapsed: Duration = .zero
    /// The last response, when one arrived.
    var response: OutboundResponse?
    /// The last transport error (timeout, refused connection), when the last attempt had one.
    var transportError: String?
    /// How the last attempt was judged.
    var verdict: AttemptVerdict = .permanent
    /// The server's last requested wait, when it gave one.
    var retryAfter: Duration?
    /// Set when the loop stopped because the task was cancelled.
    var cancelled = false
    /// Why the egress gate sent nothing (a refused target); the loop stops at once.
    var refusal: String?
}

/// Sends one request through the ``EgressGate`` with timeouts, a bounded body read and retries; shared by
/// every executor.
struct OutboundHTTP: Sendable {
    let gate: EgressGate
    let timeout: Duration
    let retry: RetryPolicy
    let maxResponseBytes: Int

    /// Runs the retry loop.
    ///
    /// - Parameters:
    ///   - makeRequest: builds the request for each attempt.
    ///   - limiter: the rate limit and key each attempt is admitted through, when there is one.
    ///   - classify: judges a response.
    ///   - onRetryAfter: told when the server asked to wait, so shared limiters can pause every caller.
    func exchange(
        logger: Logger,
        makeRequest: () -> OutboundRequest,
        limiter: (KommoRateLimiter, key: String)? = nil,
        classify: (OutboundResponse) -> AttemptVerdict,
        onRetryAfter: (Duration) -> Void = { _ in }
    ) async -> ExchangeRecord {
        let clock = ContinuousClock()
        let start = clock.now
        var record = ExchangeRecord()
        while true {
            if Task.isCancelled {
                record.cancelled = true
                record.verdict = .retry(after: nil)
                break
            }
            let request = makeRequest()
            var attemptStart = clock.now
            do {
                let response: OutboundResponse
                if let (limiter, key) = limiter {
                    response = try await limiter.withPermit(key) {
                        // The wait for a token is not the server's latency.
                        attemptStart = clock.now
                        record.attempts += 1
                        return try await send(request, logger: logger)
                    }
                } else {
                    record.attempts += 1
                    response = try await send(request, logger: logger)
                }
                record.response = response
                record.transportError = nil
                record.verdict = classify(response)
                if case .retry(let after?) = record.verdict {
                    record.retryAfter = after
                    onRetryAfter(retry.honouring(retryAfter: after))
                }
            } catch EgressError.refused(let reason) {
                // Nothing left; the same target would be refused again.
                record.response = nil
                record.transportError = reason
                record.refusal = reason
                record.verdict = .permanent
            } catch {
                record.response = nil
                record.transportError = Self.describe(error)
                record.verdict = .retry(after: nil)
                record.cancelled = Task.isCancelled
            }
            record.latency = clock.now - attemptStart
            guard case .retry(let after) = record.verdict, !record.cancelled,
                  record.attempts < retry.maxAttempts else { break }
            let wait = after.map(retry.honouring(retryAfter:)) ?? retry.backoff(afterAttempt: record.attempts)
            logger.debug("outbound request will be retried", metadata: [
                "http.target": "\(request.method.rawValue) \(Self.redactedTarget(request.url))",
                "http.status": "\(record.response.map { String($0.status) } ?? "none")",
                "retry.attempt": "\(record.attempts)",
                "retry.wait_ms": "\(Int64(wait.millis.rounded()))",
            ])
            do {
                try await Task.sleep(for: wait)
            } catch {
                record.cancelled = true
                break
            }
        }
        record.elapsed = clock.now - start
        return record
    }

    private func send(_ request: OutboundRequest, logger: Logger) async throws -> OutboundResponse {
        try await gate.send(request, timeout: timeout, maxResponseBytes: maxResponseBytes, logger: logger)
    }

    /// A short, secret-free description of a transport error.
    static func describe(_ error: any Error) -> String {
        if error is CancellationError { return "cancelled" }
        if let error = error as? EgressError { return error.description }
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout: return "timed out"
            case .cancelled: return "cancelled"
            default: return "HTTP client error: \(error)"
            }
        }
        return "transport error: \(String(describing: error).prefix(200))"
    }

    /// The URL without user info, query or fragment, for logs.
    static func redactedTarget(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return "<invalid url>" }
        components.user = nil
        components.password = nil
        components.query = nil
        components.fragment = nil
        return components.string ?? "<invalid url>"
    }
}

// MARK: - Helpers

// `TimeAmount(Duration)` comes from NIOCore itself.

extension Duration {
    /// A duration from a number of seconds that may be fractional; negative and non-finite become zero.
    static func seconds(double value: Double) -> Duration {
        guard value.isFinite, value > 0 else { return .zero }
        return .milliseconds(Int64(min(value, 1e9) * 1000))
    }
}
