import Metrics

/// HTTP request metrics by route template and status (never by raw path, which may hold ids or secrets).
package enum HTTPMetrics {
    package static func record(method: String, route: String, status: Int, duration: Duration) {
        let dimensions = [("method", method), ("route", route), ("status", String(status))]
        Counter(label: "http_requests_total", dimensions: dimensions).increment()
        Metrics.Timer(label: "http_request_duration_seconds", dimensions: [("method", method), ("route", route)])
            .recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}
