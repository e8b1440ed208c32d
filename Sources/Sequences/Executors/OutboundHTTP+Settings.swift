import Foundation

// MARK: - Settings and bodies shared by the executors

/// The deadline, retries and read cap of one executor's outbound calls, as its configuration holds them.
protocol OutboundSettings {
    /// Retries of one call.
    var retry: RetryPolicy { get }
    /// Deadline of one attempt.
    var requestTimeout: Duration { get }
    /// Largest answer read.
    var maxResponseBytes: Int { get }
}

extension OutboundHTTP {
    /// Calls through `gate` with the deadline, retries and read cap of `settings`.
    init(gate: EgressGate, settings: some OutboundSettings) {
        self.init(gate: gate, timeout: settings.requestTimeout, retry: settings.retry,
                  maxResponseBytes: settings.maxResponseBytes)
    }

    /// The bytes of a JSON request body. Keys are sorted so that a retried (or signed) body is the same
    /// bytes every time; slashes stay readable in URLs.
    static func jsonBody(_ body: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(body))
    }

    /// `baseURL` without trailing slashes, so that paths are appended with exactly one.
    static func trimmingTrailingSlashes(_ baseURL: String) -> String {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }
}
