import Foundation
import GRDB
import Wire

/// The `Health` RPC of a service process: SERVING when its store answers a query.
package struct HealthServer: HealthHandler {
    let service: String
    let started: ContinuousClock.Instant
    let store: any DatabaseReader
    let metrics: @Sendable () async -> [PB.Metric]

    package init(service: String, store: any DatabaseReader, metrics: @escaping @Sendable () async -> [PB.Metric] = { [] }) {
        self.service = service
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
            response.status = "SERVING"
        } catch {
            response.status = "NOT_SERVING"
            response.detail = "store: \(error)"
        }
        response.metrics = await metrics()
        return response
    }
}

extension PB.Metric {
    /// A metric sample with labels.
    package static func sample(_ name: String, _ value: Double, kind: String = "counter", help: String = "", labels: [String: String] = [:]) -> PB.Metric {
        var metric = PB.Metric()
        metric.name = name
        metric.value = value
        metric.kind = kind
        metric.help = help
        metric.labels = labels.sorted { $0.key < $1.key }.map { PB.KeyValue(key: $0.key, value: $0.value) }
        return metric
    }
}
