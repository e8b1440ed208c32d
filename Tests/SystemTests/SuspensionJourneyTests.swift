import Foundation
import Gateway
import NIOHTTP1
import ServiceKit
import TestSupport
import Testing
import Wire

/// Suspension stops a tenant: its webhooks are stored but held, none of its rules' actions reach Kommo,
/// and on resume what arrived meanwhile is dispatched, or skipped where the operator says so.
@Suite("Suspension journey", .serialized)
struct SuspensionJourneyTests {
    static var rule: [String: Any] { [
        "name": "Qualified: call within the hour",
        "trigger": ["type": "stage_changed", "pipeline_id": 7100001, "stage_id": 61234502],
        "actions": [["type": "create_task", "text": "Call {{lead.name}} about the budget", "due_in_seconds": 3600, "task_type": 1]],
    ] }

    /// A tenant connected to the emulator with an agent and a rule that creates a Kommo task on the fixture's stage change.
    static func prepare(_ client: HTTPTestClient, admin: String, kommoPort: Int, token: String) async throws -> (id: String, key: String, secret: String) {
        let tenant = try await client.createTenant(admin: admin)
        let connect = try await client.json(.PATCH, "/api/v1/integrations", [
            "kommo": ["base_url": "http://127.0.0.1:\(kommoPort)", "access_token": token],
        ], token: tenant.key)
        #expect(connect.status == 200, "\(connect.text)")
        let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sales bot", "status": "active"], token: tenant.key)
        let rule = try await client.json(.POST, "/api/v1/agents/\(agent.json["id"] as? String ?? "")/rules", rule, token: tenant.key)
        #expect(rule.status == 201, "\(rule.text)")
        return tenant
    }

    /// Suspends the tenant, posts the webhook and checks it is answered and stored but held, with nothing sent to Kommo.
    static func postWhileSuspended(_ client: HTTPTestClient, system: FullSystem, tenant: (id: String, key: String, secret: String),
                                   kommo: KommoEmulator) async throws -> String {
        let admin = system.adminToken
        let suspended = try await client.request(.POST, "/api/v1/tenants/\(tenant.id)/suspend", token: admin)
        #expect(suspended.status == 200, "\(suspended.text)")
        #expect(suspended.json["status"] as? String == "suspended")

        let posted = try await client.postWebhook(secret: tenant.secret, body: try Fixtures.body("lead_status_changed"))
        #expect(posted.status == 200, "\(posted.text)")
        #expect(posted.json["status"] as? String == "accepted")

        // Generous: the dispatcher polls every 20 ms in this system and the action would be due at once.
        try await Task.sleep(for: .seconds(2))
        #expect(kommo.received.isEmpty, "\(kommo.received.map(\.path))")
        // The tenant's keys answer 401 while it is suspended: read its history from ingest itself.
        let events = try await ingestEvents(system, tenantID: tenant.id)
        #expect(events.map(\.status) == [.held], "\(events)")
        let eventID = events.first?.id ?? ""
        let detail = try await ingestEvent(system, tenantID: tenant.id, eventID: eventID)
        #expect(!detail.dispatches.isEmpty && detail.dispatches.allSatisfy { $0.lastError == "held: tenant suspended" }, "\(detail.dispatches)")
        return eventID
    }

    static func ingestClient<T: Sendable>(_ system: FullSystem, _ body: (IngestClient) async throws -> T) async throws -> T {
        let connection = RPCConnection(host: "127.0.0.1", port: system.processes[2].port, security: TestPKI.security("gateway"),
                                       serverName: "ingest-service", logger: quietLogger)
        defer { connection.close() }
        return try await body(IngestClient(connection: connection))
    }

    static func ingestEvents(_ system: FullSystem, tenantID: String) async throws -> [PB.EventSummary] {
        var query = PB.EventQuery()
        query.type = .stageChanged
        return try await ingestClient(system) { try await $0.listEvents(query, options: CallOptions(timeout: .seconds(10), tenantID: tenantID)).items }
    }

    static func ingestEvent(_ system: FullSystem, tenantID: String, eventID: String) async throws -> PB.EventDetail {
        var request = PB.IdRequest()
        request.id = eventID
        return try await ingestClient(system) { try await $0.getEvent(request, options: CallOptions(timeout: .seconds(10), tenantID: tenantID)) }
    }

    /// The tenant's stage_changed events through the REST API (it is active).
    static func history(_ client: HTTPTestClient, key: String) async throws -> [[String: Any]] {
        let answer = try await client.request(.GET, "/api/v1/webhooks/events?type=stage_changed", token: key)
        return answer.json["items"] as? [[String: Any]] ?? []
    }

    @Test("a suspended tenant's webhook is stored and held, nothing reaches Kommo; on resume it is dispatched and the task created once")
    func heldThenDispatched() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await FullSystem.make()
            try await system.run { client in
                let tenant = try await Self.prepare(client, admin: system.adminToken, kommoPort: kommoPort, token: kommo.token)
                _ = try await Self.postWhileSuspended(client, system: system, tenant: tenant, kommo: kommo)

                let resumed = try await client.request(.POST, "/api/v1/tenants/\(tenant.id)/resume", token: system.adminToken)
                #expect(resumed.status == 200, "\(resumed.text)")
                #expect(resumed.json["status"] as? String == "active")
                let created = try await eventually { kommo.tasksCreated >= 1 }
                #expect(created)
                let delivered = try await eventually {
                    try await Self.history(client, key: tenant.key).first?["status"] as? String == "delivered"
                }
                #expect(delivered)
                try await Task.sleep(for: .seconds(1))
                #expect(kommo.tasksCreated == 1)
                #expect(kommo.received.filter { $0.path == "/api/v4/tasks" }.count == 1)
            }
        }
    }

    @Test("resumed with held_events skip: the held event is marked skipped and Kommo gets nothing")
    func heldThenSkipped() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await FullSystem.make()
            try await system.run { client in
                let tenant = try await Self.prepare(client, admin: system.adminToken, kommoPort: kommoPort, token: kommo.token)
                _ = try await Self.postWhileSuspended(client, system: system, tenant: tenant, kommo: kommo)

                let bad = try await client.json(.POST, "/api/v1/tenants/\(tenant.id)/resume", ["held_events": "drop"], token: system.adminToken)
                #expect(bad.status == 400, "\(bad.text)")
                let resumed = try await client.json(.POST, "/api/v1/tenants/\(tenant.id)/resume", ["held_events": "skip"], token: system.adminToken)
                #expect(resumed.status == 200, "\(resumed.text)")
                let events = try await Self.history(client, key: tenant.key)
                #expect(events.map { $0["status"] as? String ?? "" } == ["skipped"], "\(events)")
                try await Task.sleep(for: .seconds(2))
                #expect(kommo.received.isEmpty, "\(kommo.received.map(\.path))")
                let skipped = try await client.request(.GET, "/api/v1/webhooks/events?status=skipped", token: tenant.key)
                #expect((skipped.json["items"] as? [Any])?.count == 1, "\(skipped.text)")
            }
        }
    }

    @Test("a suspension the services missed is pushed to them when the gateway starts")
    func startupPushHeals() async throws {
        let kommo = KommoEmulator()
        try await withTestServer(kommo.handle) { kommoPort in
            let system = try await FullSystem.make()
            try await system.run { client in
                let tenant = try await Self.prepare(client, admin: system.adminToken, kommoPort: kommoPort, token: kommo.token)
                // Suspended in the gateway's store only, as if the calls to the services had been lost.
                let store = GatewayStore(db: try StoreFactory.open(folder: system.gatewayData, migrator: GatewayStore.migrator))
                _ = try await store.setTenantStatus(id: tenant.id, status: "suspended")
                // A second gateway on the same data folder starts and pushes every suspended tenant's state.
                let address = { (process: ServiceProcess) in PeerAddress(host: "127.0.0.1", port: process.port) }
                let restarted = try await GatewayApp.build(
                    configuration: GatewayConfiguration(
                        httpPort: 0, dataDir: system.gatewayData, ingestAddress: address(system.processes[2]),
                        rulesAddress: address(system.processes[0]), sequenceAddress: address(system.processes[1]),
                        publicBaseURL: "http://kommo-agents.test", adminToken: system.adminToken, firstRunDemo: false,
                        rpcSecurity: TestPKI.security("gateway")),
                    logger: quietLogger)
                try await withServices([restarted]) {
                    // The push is the gateway's first step once started, and every service is up: generous.
                    try await Task.sleep(for: .seconds(3))
                    let posted = try await client.postWebhook(secret: tenant.secret, body: try Fixtures.body("lead_status_changed"))
                    #expect(posted.status == 200, "\(posted.text)")
                    try await Task.sleep(for: .seconds(1))
                    let events = try await Self.ingestEvents(system, tenantID: tenant.id)
                    #expect(events.map(\.status) == [.held], "\(events)")
                }
                try await Task.sleep(for: .seconds(1))
                #expect(kommo.received.filter { $0.path == "/api/v4/tasks" }.isEmpty)
            }
        }
    }
}
