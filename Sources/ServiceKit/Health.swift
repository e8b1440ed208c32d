import Foundation
import GRDB
import Wire

/// The `Health` RPC of a service process: SERVING when its store answers a query.
package struct HealthServer: HealthHandler {
    let service: String
    let started: ContinuousClock.Instant
    let store: any DatabaseReader
    let metrics: @Sendable () async -> [PB.Metric]
    /// What the process counted through swift-metrics, when it has that backend.
    let recorded: ProcessMetrics?
    /// The calls the process's listener served, reported with its own metrics.
    package let rpcStats = RPCStats()

    package init(service: String, store: any DatabaseReader, recorded: ProcessMetrics? = nil,
                 metrics: @escaping @Sendable () async -> [PB.Metric] = { [] }) {
        self.service = service
        self.recorded = recorded
        self.started = .now
        self.store = store
        self.metrics = metrics
    }

    package func check(_ request: PB.HealthCheckRequest, context: RPCContext) async throws -> PB.HealthCheckResponse {
        var response = PB.HealthCheckResponse()
        response.service = service
        response.uptimeSeconds = (ContinuousClock.now - started).components.seconds
        do {
            _ = try await store.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
            response.status = .serving
        } catch {
            response.status = .notServing
            response.detail = "store: \(error)"
        }
        response.metrics = await metrics() + (recorded?.samples() ?? []) + PB.Metric.rpc(rpcStats, prefix: "rpc_server")
        return response
    }
}

extension PB.Metric {
    /// A metric sample with labels.
    package static func sample(_ name: String, _ value: Double, kind: PB.MetricKind = .counter, help: String = "", labels: [String: String] = [:]) -> PB.Metric {
        var metric = PB.Metric()
        metric.name = name
        metric.value = value
        metric.kind = kind
        metric.help = help
        metric.labels = labels.sorted { $0.key < $1.key }.map { PB.KeyValue(key: $0.key, value: $0.value) }
        return metric
    }
}

extension PB.Metric {
    /// Calls, total seconds and the slowest call by method and status code, as `<prefix>_calls_total`,
    /// `<prefix>_duration_seconds_sum` and `<prefix>_duration_seconds_max`.
    package static func rpc(_ stats: RPCStats, prefix: String, labels: [String: String] = [:]) -> [PB.Metric] {
        let undelivered = stats.undelivered.map { entry -> PB.Metric in
            var labels = labels
            labels["method"] = entry.method
            return .sample("\(prefix)_answers_undelivered_total", Double(entry.count),
                           help: "RPC answers that could not be written or read", labels: labels)
        }
        return undelivered + stats.snapshot.flatMap { entry -> [PB.Metric] in
            var labels = labels
            labels["method"] = entry.method
            labels["code"] = "\(entry.code)"
            return [
                .sample("\(prefix)_calls_total", Double(entry.calls), help: "RPC calls by method and status code", labels: labels),
                .sample("\(prefix)_duration_seconds_sum", entry.totalSeconds, help: "Seconds spent in RPC calls", labels: labels),
                .sample("\(prefix)_duration_seconds_max", entry.maximumSeconds, kind: .gauge, help: "The slowest RPC call", labels: labels),
            ]
        }
    }
}
