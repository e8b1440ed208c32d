import Foundation
import Hummingbird
import Prometheus
import Wire

extension GatewayApp {
    /// `GET /metrics`: the gateway's own metrics (HTTP by route template and status, latencies, RPC
    /// calls) and every service's counters, gathered through their Health RPC, in one scrape. The totals
    /// span tenants, so a scrape needs the metrics token (`--metrics-token`) or the admin token.
    static func addMetricsRoutes(to router: Router<GatewayContext>, peers: Peers, registry: PrometheusCollectorRegistry,
                                 authenticator: Authenticator, token: String?) {
        router.get("/metrics") { request, context -> Response in
            try authenticator.requireAdminOr(token, request, context: context)
            var text = registry.emitToString()
            // The gateway's own calls to each service, by method and status code.
            var clientMetrics: [PB.Metric] = []
            for peer in peers.health {
                clientMetrics += PB.Metric.rpc(peer.client.connection.stats, prefix: "rpc_client", labels: ["peer": peer.name])
            }
            var describedClient = Set<String>()
            for metric in clientMetrics {
                if describedClient.insert(metric.name).inserted {
                    text += "# HELP \(metric.name) \(metric.help)\n# TYPE \(metric.name) \(metric.kind == "gauge" ? "gauge" : "counter")\n"
                }
                text += "\(metric.name){\(Self.labelText(metric.labels))} \(metric.value)\n"
            }
            let reports = await withTaskGroup(of: (String, [PB.Metric]).self) { group in
                for peer in peers.health {
                    group.addTask {
                        // A service that does not answer is reported, not hidden: its `service_up` is 0 (and
                        // the client's RPC counters show the failed call by code).
                        let answer = try? await peer.client.check(PB.HealthCheckRequest(), options: CallOptions(timeout: .seconds(1)))
                        var metrics = answer?.metrics ?? []
                        metrics.append(.sample("service_up", answer?.status == "SERVING" ? 1 : 0, kind: "gauge", help: "1 when the service answers Health"))
                        return (peer.name, metrics)
                    }
                }
                var reports: [(String, [PB.Metric])] = []
                for await report in group { reports.append(report) }
                return reports.sorted { $0.0 < $1.0 }
            }
            var described = Set<String>()
            for (service, metrics) in reports {
                for metric in metrics {
                    if described.insert(metric.name).inserted {
                        if !metric.help.isEmpty { text += "# HELP \(metric.name) \(metric.help)\n" }
                        text += "# TYPE \(metric.name) \(metric.kind == "gauge" ? "gauge" : "counter")\n"
                    }
                    text += "\(metric.name){\(Self.labelText([PB.KeyValue(key: "service", value: service)] + metric.labels))} \(metric.value)\n"
                }
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
    }

    /// Prometheus label text: `a="1",b="x"`, with backslashes and quotes escaped.
    static func labelText(_ labels: [PB.KeyValue]) -> String {
        labels.map { "\($0.key)=\"\($0.value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\"" }
            .joined(separator: ",")
    }
}
