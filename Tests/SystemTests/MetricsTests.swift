import Foundation
import NIOHTTP1
import TestSupport
import Testing

/// One scrape of the gateway shows the whole system.
@Suite("Metrics", .serialized)
struct MetricsTests {
    /// The value of the first sample whose line starts with `name{` and holds every label given.
    static func value(_ text: String, _ name: String, _ labels: [String]) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix("\(name){") && labels.allSatisfy({ line.contains($0) }) {
            return line.split(separator: " ").last.flatMap { Double($0) }
        }
        return nil
    }

    @Test("after a webhook flows through, /metrics holds the counters of all four processes and their RPC calls")
    func wholeSystemInOneScrape() async throws {
        let system = try await FullSystem.make()
        try await system.run { client in
            let tenant = try await client.createTenant(admin: system.adminToken)
            let posted = try await client.postWebhook(secret: tenant.secret, body: try Fixtures.body("lead_status_changed"))
            #expect(posted.status == 200, "\(posted.text)")
            let flowed = try await eventually {
                let scrape = try await client.request(.GET, "/metrics", token: system.adminToken)
                return Self.value(scrape.text, "rules_evaluations_total", [#"service="rules-service""#]) ?? 0 >= 1
            }
            #expect(flowed)
            let scrape = try await client.request(.GET, "/metrics", token: system.adminToken)
            #expect(scrape.status == 200)
            #expect(scrape.headers.first(name: "Content-Type")?.hasPrefix("text/plain") == true)
            let text = scrape.text
            // The gateway's own HTTP metrics, by route template (never the secret).
            #expect(Self.value(text, "http_requests_total", [#"route="/webhooks/kommo/{secret}""#, #"status="200""#]) ?? 0 >= 1, "\(text)")
            #expect(!text.contains(tenant.secret))
            // Each service's counters.
            #expect(Self.value(text, "ingest_webhooks_received_total", [#"service="ingest-service""#, #"status="accepted""#]) ?? 0 >= 1)
            #expect(Self.value(text, "ingest_events_stored_total", [#"service="ingest-service""#]) ?? 0 >= 1)
            #expect(Self.value(text, "rules_evaluations_total", [#"service="rules-service""#]) ?? 0 >= 1)
            #expect(Self.value(text, "sequence_scheduler_lateness_seconds", [#"service="sequence-service""#]) != nil)
            for service in ["ingest-service", "rules-service", "sequence-service"] {
                #expect(Self.value(text, "service_up", [#"service="\#(service)""#]) == 1, "\(service)")
            }
            // RPC calls, served and made, by method and status code.
            #expect(Self.value(text, "rpc_server_calls_total", [#"service="ingest-service""#, "Ingest", #"code="OK""#]) ?? 0 >= 1, "\(text)")
            #expect(Self.value(text, "rpc_server_calls_total", [#"service="rules-service""#, "Evaluate", #"code="OK""#]) ?? 0 >= 1)
            #expect(Self.value(text, "rpc_client_calls_total", [#"peer="ingest-service""#, "Ingest", #"code="OK""#]) ?? 0 >= 1)
            #expect(Self.value(text, "rpc_client_duration_seconds_sum", [#"peer="ingest-service""#, "Ingest"]) ?? 0 > 0)
        }
    }
}
