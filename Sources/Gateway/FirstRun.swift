import Foundation
import Logging
import ServiceLifecycle
import Wire

/// On an empty store, creates a `demo` tenant once the services answer, and writes what a newcomer
/// needs (its API key and a ready curl line posting a Kommo webhook) to `first-run.txt`.
struct FirstRun: Service {
    let store: GatewayStore
    let peers: Peers
    let configuration: GatewayConfiguration
    let logger: Logger

    func run() async throws {
        if configuration.firstRunDemo, try await store.tenantCount() == 0 {
            await createDemo()
        }
        // A service that returns ends its group: stay until shutdown.
        try? await gracefulShutdown()
    }

    private func createDemo() async {
        // Wait (bounded) for ingest to answer: the demo tenant needs its webhook source.
        for _ in 0..<120 {
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            if await peers.readiness(timeout: .milliseconds(500)).status == "ready" { break }
            try? await Task.sleep(for: .milliseconds(500))
        }
        do {
            let created = try await GatewayApp.createTenant(name: "demo", store: store, peers: peers,
                                                            configuration: configuration, requestID: "first-run")
            let text = """

              First run: created tenant "demo" (\(created.tenant.id)).
              Demo API key  \(created.apiKey)
              Try it:
                curl -s -X POST '\(created.webhookUrl)' -H 'Content-Type: application/x-www-form-urlencoded' \\
                     --data-binary @Tests/Fixtures/kommo/lead_status_changed.form
                curl -s -H 'Authorization: Bearer \(created.apiKey)' \(configuration.publicBaseURL)/api/v1/webhooks/events

            """
            let path = (configuration.dataDir as NSString).appendingPathComponent("first-run.txt")
            FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
            logger.info("gateway.first_run", metadata: ["tenant.id": "\(created.tenant.id)"])
        } catch {
            logger.error("gateway.first_run_failed", metadata: ["error": "\(error)"])
        }
    }
}
