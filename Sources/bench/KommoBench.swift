import ArgumentParser
import Basics
import Domain
import Foundation
import Sequences
import ServiceKit
import TestSupport
import Wire

// MARK: - Kommo budget

/// `make bench-kommo`: due `create_task` actions of one Kommo account at Kommo's 7 requests/s, against the
/// Kommo emulator (which answers 429 above 7 requests in a second, as Kommo does): Kommo requests per
/// action, actions per second, and one-second windows above 7 requests.
///
/// Two runs on fresh stores: the lead names unknown (every template needs a lead read: batched with
/// `filter[id][]`), and the names known from the leads' webhooks (no read).
struct KommoBench: Benchmark {
    static let configuration = CommandConfiguration(commandName: "kommo", abstract: "Kommo API budget: batching, lead reads, the 7 requests/s limit.")

    @Option(help: "Due create_task actions per run.") var actions = 1000
    @Flag(help: "200 actions per run.") var quick = false

    struct Figures {
        var requests: Int
        var reads: Int
        var taskRequests: Int
        var seconds: Double
        var violations: Int
        var tooManyRequests: Int
        var created: Int
    }

    func measure() async throws -> BenchReport {
        var report = BenchReport()
        let actions = quick ? min(self.actions, 200) : self.actions
        var rows: [[String]] = []
        for known in [false, true] {
            let figures = try await Self.measure(actions: actions, namesKnown: known)
            let run = known ? "names from webhooks" : "names unknown (lead reads)"
            report.add("\(run), Kommo requests/action", "requests/action", Double(figures.requests) / Double(actions))
            report.add("\(run), actions/s", "actions/s", Double(actions) / figures.seconds)
            report.add("\(run), tasks created", "tasks", Double(figures.created))
            report.add("\(run), one-second windows above 7 requests", "windows", Double(figures.violations))
            report.add("\(run), 429 answers", "answers", Double(figures.tooManyRequests))
            rows.append([
                run,
                "\(figures.created)", "\(figures.requests) (\(figures.reads) reads, \(figures.taskRequests) task batches)",
                String(format: "%.3f", Double(figures.requests) / Double(actions)),
                String(format: "%.1f", Double(actions) / figures.seconds),
                "\(figures.violations)", "\(figures.tooManyRequests)",
            ])
        }
        report.table("Kommo budget: \(actions) due create_task actions (\"Call {{lead.name}}\") on one account at 7 requests/s — \(machine())",
                     ["run", "tasks", "Kommo requests", "requests/action", "actions/s", "windows > 7/s", "429s"], rows)
        return report
    }

    static func measure(actions: Int, namesKnown: Bool) async throws -> Figures {
        let kommo = KommoEmulator(token: "bench-kommo-token")
        kommo.behaviour.enforceRate(7)
        for index in 0..<actions {
            let lead = Int64(30_000_000 + index)
            kommo.addLead(["id": .int(lead), "name": .string("Lead \(lead)"), "status_id": 61234501, "pipeline_id": 7100001])
        }
        return try await withTestServer(kommo.handle) { kommoPort in
            let dataDir = NSTemporaryDirectory() + "bench-kommo-\(UUID().uuidString.prefix(8))"
            defer { try? FileManager.default.removeItem(atPath: dataDir) }
            let process = try await SequenceProcess.build(
                settings: ServiceSettings(rpcPort: 0, dataDir: dataDir, security: try benchSecurity("sequence-service")),
                configuration: SequenceConfiguration(
                    ingestAddress: PeerAddress(host: "127.0.0.1", port: 1), rulesAddress: PeerAddress(host: "127.0.0.1", port: 1),
                    egress: EgressPolicy(allowPrivateTargets: true, allowedHosts: ["127.0.0.1"]),
                    secretsKey: Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()),
                logger: benchLogger)
            return try await withServices(process.services) {
                // The gateway sets integrations; ingest-service passes events and decisions' actions on.
                let connection = RPCConnection(host: "127.0.0.1", port: process.port, security: try benchSecurity("gateway"),
                                               serverName: "sequence-service", logger: benchLogger)
                defer { connection.close() }
                let client = SequencesClient(connection: connection)
                let ingestConnection = RPCConnection(host: "127.0.0.1", port: process.port, security: try benchSecurity("ingest-service"),
                                                     serverName: "sequence-service", logger: benchLogger)
                defer { ingestConnection.close() }
                let ingest = SequencesClient(connection: ingestConnection)
                let options = CallOptions(timeout: .seconds(30), tenantID: "bench")
                var write = PB.DocumentWrite()
                write.json = #"{"kommo": {"base_url": "http://127.0.0.1:\#(kommoPort)", "access_token": "bench-kommo-token"}}"#
                _ = try await client.updateIntegrations(write, options: options)
                let leads = (0..<actions).map { Int64(30_000_000 + $0) }
                if namesKnown {
                    // Kommo's lead_created webhooks, as ingest passes them on: they carry the names.
                    for lead in leads {
                        var event = PB.Event()
                        event.id = "ev-bench-\(lead)"
                        event.type = .leadCreated
                        event.entityType = "lead"
                        event.entityId = String(lead)
                        event.leadId = lead
                        event.origin = .kommo
                        event.fields = [PB.KeyValue(key: "name", value: "Lead \(lead)")]
                        var request = PB.OnEventRequest()
                        request.event = event
                        _ = try await ingest.onEvent(request, options: options)
                    }
                }
                let template = try RuleJSON.decode(Action.self, from: Data(#"{"type": "create_task", "text": "Call {{lead.name}}", "due_in_seconds": 3600}"#.utf8))
                let planned = leads.map { lead in
                    var action = PB.PlannedAction()
                    action.idempotencyKey = "bench:\(lead)"
                    action.action = PB.Action(template)
                    action.leadId = lead
                    action.ruleId = "rule-bench"
                    action.eventId = "ev-bench-\(lead)"
                    return action
                }
                let before = kommo.received.count
                let start = ContinuousClock.now
                var request = PB.ScheduleRequest()
                request.actions = planned
                _ = try await ingest.schedule(request, options: options)
                let deadline = start + .seconds(600)
                while kommo.tasksCreated < actions, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
                let received = Array(kommo.received.dropFirst(before))
                let tasks = received.filter { $0.path == "/api/v4/tasks" }
                let last = tasks.map(\.at).max() ?? start
                return Figures(requests: received.count, reads: received.filter { $0.method == "GET" }.count, taskRequests: tasks.count,
                               seconds: (last - start).millis / 1000,
                               violations: kommo.rateViolations(limit: 7), tooManyRequests: kommo.behaviour.tooManyRequestsAnswered,
                               created: kommo.tasksCreated)
            }
        }
    }
}
