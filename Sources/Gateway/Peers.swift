import Logging
import ServiceLifecycle
import Wire

/// The gateway's connections to the three services, one shared connection per peer. A `Service` of the
/// gateway's group, added before the HTTP server, so it stops after the server has answered its last
/// request: then its connections close.
package struct Peers: Service, CustomStringConvertible {
    package let ingest: IngestClient
    package let rules: RulesClient
    package let sequences: SequencesClient
    package let health: [(name: String, client: HealthClient)]
    package let timeout: Duration

    package init(configuration: GatewayConfiguration, logger: Logger) {
        let security = configuration.rpcSecurity
        let ingest = configuration.ingestAddress.connection(security: security, serverName: "ingest-service", logger: logger)
        let rules = configuration.rulesAddress.connection(security: security, serverName: "rules-service", logger: logger)
        let sequences = configuration.sequenceAddress.connection(security: security, serverName: "sequence-service", logger: logger)
        self.ingest = IngestClient(connection: ingest)
        self.rules = RulesClient(connection: rules)
        self.sequences = SequencesClient(connection: sequences)
        self.health = [
            ("ingest-service", HealthClient(connection: ingest)),
            ("rules-service", HealthClient(connection: rules)),
            ("sequence-service", HealthClient(connection: sequences)),
        ]
        self.timeout = configuration.rpcTimeout
    }

    /// Call options for a request acting for a tenant.
    package func options(tenant: String?, requestID: String) -> CallOptions {
        CallOptions(timeout: timeout, traceID: requestID, tenantID: tenant ?? "")
    }

    /// Call options for an authenticated tenant request: its tenant and its request id as the trace.
    func options(_ context: GatewayContext) throws -> CallOptions {
        options(tenant: try context.tenant, requestID: context.requestID)
    }

    /// Closes every connection; calls in flight fail with UNAVAILABLE.
    package func close() {
        for (_, client) in health { client.connection.close() }
    }

    /// Holds the connections until shutdown (graceful or by cancellation), then closes them.
    package func run() async {
        defer { close() }
        do {
            try await gracefulShutdown()
        } catch {
            // It throws only CancellationError: the group is being torn down, and the connections close all the same.
        }
    }

    package var description: String { "Peers" }
}
