import Foundation
import Logging
import ServiceKit
import ServiceLifecycle
import Wire

/// On an empty store, creates a `demo` tenant once the services answer, and writes what a newcomer
/// needs (its API key and a ready curl line posting a Kommo webhook) to `first-run.txt`. Then pushes
/// every suspended tenant's state to the services.
struct FirstRun: Service, CustomStringConvertible {
    let store: GatewayStore
    let peers: Peers
    let configuration: GatewayConfiguration
    let clock: any WallClock
    let logger: Logger

    /// Service lifecycle logs services by description: never print the configuration (it holds the admin token).
    var description: String { "FirstRun" }

    func run() async throws {
        if configuration.firstRunDemo, try await store.tenantCount() == 0 {
            await createDemo()
        }
        await pushSuspensions()
        // A service that returns ends its group: stay until shutdown. It throws only CancellationError,
        // which ends this service just the same.
        try? await gracefulShutdown()
    }

    /// Tells the services again which tenants are suspended, so that a suspension whose call was
    /// missed (a service down, or restored from an older backup) is enforced. Runs in the background
    /// of startup and retries with capped backoff until every service has taken every state.
    private func pushSuspensions() async {
        var delay = Duration.milliseconds(200)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                for id in try await store.suspendedTenantIDs() {
                    // Resumed meanwhile (this loop may have waited long): that call told the services.
                    guard try await store.tenant(id: id)?.status == "suspended" else { continue }
                    try await GatewayApp.pushTenantState(tenantID: id, suspended: true, heldEvents: "", peers: peers, requestID: "startup")
                }
                return
            } catch {
                logger.info("gateway.tenant_state_push_retry", metadata: ["error": "\(error)"])
                // Cancelled sleep: the loop condition ends the retries.
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(30))
            }
        }
    }

    private func createDemo() async {
        // Wait (bounded) for ingest to answer: the demo tenant needs its webhook source.
        for _ in 0..<120 {
            if Task.isCancelled || Task.isShuttingDownGracefully { return }
            if await peers.readiness(timeout: .milliseconds(500)).status == "ready" { break }
            // Cancelled sleep: the check at the top of the loop returns.
            try? await Task.sleep(for: .milliseconds(500))
        }
        do {
            let created = try await GatewayApp.createTenant(name: "demo", store: store, peers: peers,
                                                            configuration: configuration, clock: clock, requestID: "first-run")
            let text = """

              First run: created tenant "demo" (\(created.tenant.id)) with an agent, a rule on stage 61234502, a
              three-step follow-up sequence for new leads and a sales script of each type.
              Demo API key  \(created.apiKey)
              Try it:
                curl -s -X POST '\(created.webhookUrl)' -H 'Content-Type: application/x-www-form-urlencoded' \\
                     --data-binary @Tests/Fixtures/kommo/lead_status_changed.form
                curl -s -H 'Authorization: Bearer \(created.apiKey)' \(configuration.publicBaseURL)/api/v1/webhooks/events

            """
            await seedDemo(tenantID: created.tenant.id)
            let path = (configuration.dataDir as NSString).appendingPathComponent("first-run.txt")
            FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
            logger.info("gateway.first_run", metadata: ["tenant.id": "\(created.tenant.id)"])
        } catch {
            logger.error("gateway.first_run_failed", metadata: ["error": "\(error)"])
        }
    }

    /// The demo tenant's agent, a rule that fires on the fixture's stage change, a follow-up sequence for
    /// new leads, and one script per type.
    private func seedDemo(tenantID: String) async {
        let options = peers.options(tenant: tenantID, requestID: "first-run")
        do {
            var agent = PB.DocumentWrite()
            agent.json = #"{"name":"Demo agent","status":"active","persona":"A friendly sales assistant for Acme Apartments.","language":"en"}"#
            let agentID = try await peers.rules.createAgent(agent, options: options).id
            var rule = PB.DocumentWrite()
            rule.parentId = agentID
            rule.json = """
                {"name":"Qualified lead: call within the hour","priority":10,
                 "trigger":{"type":"stage_changed","pipeline_id":7100001,"stage_id":61234502},
                 "actions":[{"type":"create_task","text":"Call {{lead.name}} about the budget","due_in_seconds":3600,"task_type":1},
                            {"type":"add_note","text":"Qualified: the demo rule fired"}],
                 "cooldown_seconds":3600}
                """
            _ = try await peers.rules.createRule(rule, options: options)
            let scripts = [
                ("greeting", "Welcome", "Hi {{contact.first_name|there}}! Thanks for reaching out to Acme Apartments."),
                ("qualification", "Budget and dates", "What budget do you have in mind, and when would you like to move in?"),
                ("presentation", "The apartment", "{{lead.name}}: three bedrooms, two baths, a sunny balcony."),
                ("objection_handling", "Too expensive", "I understand. Many clients felt the same until they saw the included services."),
                ("closing", "Book a visit", "Shall I book a visit for you this week, {{contact.first_name|there}}?"),
            ]
            // New leads get a greeting now, a call task two days on and an AI follow-up a day later, on
            // working days and hours; a reply or a won deal ends it.
            var sequence = PB.DocumentWrite()
            sequence.parentId = agentID
            sequence.json = """
                {"name":"New lead follow-up","status":"active","trigger":{"type":"lead_created"},
                 "steps":[{"id":"greet","delay_seconds":0,"action":{"type":"send_message","text":"Hi {{contact.first_name|there}}! Thanks for your interest in Acme Apartments."}},
                          {"id":"call","delay_days":2,"action":{"type":"create_task","text":"Call {{lead.name}}","due_in_seconds":3600,"task_type":1}},
                          {"id":"nudge","delay_days":1,"action":{"type":"ai_response","instructions":"A short, friendly follow-up."}}],
                 "send_window":{"time_zone":"UTC","days":["mon","tue","wed","thu","fri"],"start":"09:00","end":"18:00"},
                 "exit_conditions":[{"type":"lead_replied"},{"type":"stage_changed","to":"won"}]}
                """
            _ = try await peers.sequences.createSequence(sequence, options: options)
            for (type, name, body) in scripts {
                var script = PB.DocumentWrite()
                script.parentId = agentID
                let json = try JSONSerialization.data(withJSONObject: ["name": name, "type": type, "body": body, "active": true])
                script.json = String(decoding: json, as: UTF8.self)
                _ = try await peers.rules.createScript(script, options: options)
            }
        } catch {
            logger.warning("gateway.first_run_seed_failed", metadata: ["error": "\(error)"])
        }
    }
}
