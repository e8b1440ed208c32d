import Prometheus

/// HTTP request metrics by route template and status (never by raw path, which may hold ids or secrets),
/// kept in the registry `/metrics` emits.
package struct HTTPMetrics: Sendable {
    let registry: PrometheusCollectorRegistry

    static var requests: MetricNameDescriptor { MetricNameDescriptor(metricName: "http_requests", unitName: "total",
                                               helpText: "HTTP requests by method, route template and status") }
    static var duration: MetricNameDescriptor { MetricNameDescriptor(metricName: "http_request_duration", unitName: "seconds",
                                               helpText: "HTTP request latency by method and route template") }
    static let buckets: [Duration] = [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                                      .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
                                      .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10)]

    package init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    package func record(method: String, route: String, status: Int, duration: Duration) {
        registry.makeCounter(descriptor: Self.requests, labels: [("method", method), ("route", route), ("status", String(status))])
            .increment()
        registry.makeDurationHistogram(descriptor: Self.duration, labels: [("method", method), ("route", route)], buckets: Self.buckets)
            .record(duration)
    }
}
