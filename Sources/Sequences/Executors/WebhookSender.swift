import AsyncHTTPClient
import Basics
import Foundation
import Logging
import NIOHTTP1

/// Sends outgoing webhooks under the Standard Webhooks scheme (standardwebhooks.com).
///
/// Each request is a JSON `POST` with:
/// - `webhook-id`: our idempotency key, the same on every retry, so receivers can drop duplicates;
/// - `webhook-timestamp`: unix seconds of the attempt;
/// - `webhook-signature`: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the tenant's secret.
///
/// Requests go through the ``EgressGate``: targets on private, loopback, link-local (cloud metadata) and
/// other special-purpose addresses are refused before anything is sent, unless the operator allowed
/// private targets (tests, on-premises setups).
package struct WebhookSender: Sendable {
    /// Timeouts and retries.
    package struct Configuration: Sendable, Hashable, OutboundSettings {
        /// Retries of one delivery (5xx, 429, timeouts and connection errors are retried).
        package var retry: RetryPolicy
        /// Deadline of one attempt.
        package var requestTimeout: Duration
        /// Largest answer read; receivers' answers are only recorded, so a small cap suffices.
        package var maxResponseBytes: Int
        /// Largest payload sent.
        package var maxPayloadBytes: Int

        /// Creates a configuration.
        package init(retry: RetryPolicy = RetryPolicy(), requestTimeout: Duration = .seconds(10),
                     maxResponseBytes: Int = 64 * 1024, maxPayloadBytes: Int = 256 * 1024) {
            self.retry = retry
            self.requestTimeout = requestTimeout
            self.maxResponseBytes = maxResponseBytes
            self.maxPayloadBytes = maxPayloadBytes
        }
    }

    /// The settings in force.
    package let configuration: Configuration
    private let http: OutboundHTTP

    /// A sender going out through `egress`.
    package init(egress: EgressGate, configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.http = OutboundHTTP(gate: egress, settings: configuration)
    }

    /// Delivers `payload` (a JSON document) to `url`, signed with `secret`.
    ///
    /// - Parameter messageID: the idempotency key, sent as `webhook-id`.
    package func send(url: String, payload: [UInt8], messageID: String, secret: WebhookSecret,
                      logger: Logger) async -> ExecutionResult {
        let operation = "webhook.send"
        let target = "POST \(OutboundHTTP.redactedTarget(url))"
        let summary = "\(payload.count) bytes, webhook-id \(messageID)"
        func refused(_ reason: String) -> ExecutionResult {
            ExecutionResult(operation: operation, target: target, requestSummary: summary, outcome: .failedPermanent, detail: reason)
        }
        if payload.count > configuration.maxPayloadBytes {
            return refused("payload larger than \(configuration.maxPayloadBytes) bytes")
        }
        if JSONValue(parsing: payload) == nil {
            return refused("payload is not a JSON document")
        }
        switch await checkTarget(url) {
        case .refused(let reason):
            logger.warning("outgoing webhook target refused", metadata: ["http.target": "\(target)", "reason": "\(reason)"])
            return refused(reason)
        case .unresolved(let reason):
            // DNS failures pass (a name may be registered later); the scheduler may try again.
            return ExecutionResult(operation: operation, target: target, requestSummary: summary,
                                   outcome: .failedRetryable, detail: reason)
        case .allowed:
            break
        }
        let record = await http.exchange(
            logger: logger,
            makeRequest: {
                let timestamp = Int64(Date().timeIntervalSince1970)
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "webhook-id", value: messageID)
                headers.add(name: "webhook-timestamp", value: String(timestamp))
                headers.add(name: "webhook-signature", value: StandardWebhookSignature.signature(
                    id: messageID, timestamp: timestamp, body: payload, secret: secret))
                return OutboundRequest(method: .POST, url: url, headers: headers, body: payload)
            },
            classify: Self.classify)
        var result = KommoClient.result(operation: operation, target: target, summary: summary, record: record,
                                        kind: .write, limit: configuration.maxResponseBytes, service: "the receiver")
        // A receiver's answer body is its own business; only Kommo's are worth a remark.
        if result.outcome == .succeeded { result.detail = nil }
        if result.outcome == .failedPermanent, let status = result.httpStatus {
            result.detail = (300..<400).contains(status)
                ? "the receiver answered with a redirect (\(status)); redirects are not followed"
                : "the receiver refused the webhook (\(status))" + (result.problem.map { ": \($0.summary)" } ?? "")
        }
        return result
    }

    /// What the address check says about a URL.
    package enum TargetCheck: Sendable, Hashable {
        /// The URL may be called.
        case allowed
        /// The URL may never be called; the reason names the rule.
        case refused(String)
        /// The host did not resolve.
        case unresolved(String)
    }

    /// Checks a webhook URL without calling it: scheme, host, and every address the host resolves to.
    /// Usable on its own to validate a URL when a tenant saves it.
    package func checkTarget(_ url: String) async -> TargetCheck {
        guard let components = URLComponents(string: url),
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = components.host, !host.isEmpty
        else { return .refused("not an http(s) URL") }
        do {
            _ = try await http.gate.target(for: url)
            return .allowed
        } catch EgressError.refused(let reason) {
            return .refused(reason)
        } catch {
            return .unresolved("\(error)")
        }
    }

    /// Judges a receiver's answer.
    static func classify(_ response: OutboundResponse) -> AttemptVerdict {
        switch response.status {
        case 200..<300: .success
        case 429: .retry(after: KommoClient.retryAfter(of: response))
        case 408, 500..<600: .retry(after: nil)
        default: .permanent
        }
    }
}
