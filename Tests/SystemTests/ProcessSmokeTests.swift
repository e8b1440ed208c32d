import TestSupport
import Foundation
import NIOCore
import NIOPosix
import Testing

/// The four real binaries as separate processes on free ports, talking over real TCP.
final class RunningSystem: @unchecked Sendable {
    // @unchecked: the processes are only touched from the test that owns this object.
    static let binaries: URL = {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return repo.appendingPathComponent(".build/debug")
    }()

    let data = temporaryFolder("system")
    let ports: [String: Int]
    var processes: [String: Process] = [:]
    /// Extra environment per process (the gateway's Stripe settings, …).
    var environment: [String: [String: String]] = [:]

    init() throws {
        var ports: [String: Int] = [:]
        for name in ["ingest-service", "rules-service", "sequence-service", "gateway"] { ports[name] = try freePort() }
        self.ports = ports
    }

    var gateway: String { "http://127.0.0.1:\(ports["gateway"]!)" }

    func arguments(_ name: String) -> [String] {
        let peers = ["--ingest-address", "127.0.0.1:\(ports["ingest-service"]!)",
                     "--rules-address", "127.0.0.1:\(ports["rules-service"]!)",
                     "--sequence-address", "127.0.0.1:\(ports["sequence-service"]!)"]
        switch name {
        case "gateway":
            return ["--http-port", "\(ports[name]!)", "--data-dir", data + "/gateway", "--no-demo"] + peers
        case "ingest-service":
            return ["--rpc-port", "\(ports[name]!)", "--data-dir", data + "/ingest",
                    "--rules-address", "127.0.0.1:\(ports["rules-service"]!)", "--sequence-address", "127.0.0.1:\(ports["sequence-service"]!)"]
        case "sequence-service":
            return ["--rpc-port", "\(ports[name]!)", "--data-dir", data + "/sequence",
                    "--ingest-address", "127.0.0.1:\(ports["ingest-service"]!)", "--rules-address", "127.0.0.1:\(ports["rules-service"]!)"]
        default:
            return ["--rpc-port", "\(ports[name]!)", "--data-dir", data + "/rules"]
        }
    }

    func start(_ name: String) throws {
        let process = Process()
        process.executableURL = Self.binaries.appendingPathComponent(name)
        process.arguments = arguments(name)
        var environment = ProcessInfo.processInfo.environment
        environment["LOG_LEVEL"] = "warning"
        // No TLS files given: the four processes, started at once, make one local CA between them.
        environment["PKI_DIR"] = data + "/pki"
        // The admin token by environment: a command line is visible to every user in `ps`.
        if name == "gateway" { environment["ADMIN_TOKEN"] = smokeAdminToken }
        environment.merge(self.environment[name] ?? [:]) { _, new in new }
        process.environment = environment
        let log = FileHandle(forWritingAtPath: data + "/\(name).log") ?? {
            FileManager.default.createFile(atPath: data + "/\(name).log", contents: nil)
            return FileHandle(forWritingAtPath: data + "/\(name).log")!
        }()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        processes[name] = process
    }

    func startAll() throws {
        for name in ["ingest-service", "rules-service", "sequence-service", "gateway"] { try start(name) }
    }

    func kill(_ name: String, signal: Int32 = SIGKILL) async {
        guard let process = processes[name] else { return }
        Foundation.kill(process.processIdentifier, signal)
        await waitForExit(process)
    }

    /// Asks every process to stop; each drains and exits on its own.
    func stopAll() {
        for (_, process) in processes where process.isRunning { process.terminate() }
    }

    func readiness() async throws -> (status: Int, body: [String: Any]) {
        let client = HTTPTestClient(port: ports["gateway"]!)
        let answer = try await client.request(.GET, "/readyz")
        return (answer.status, answer.json)
    }
}

@Suite("Four processes", .serialized)
struct ProcessSmokeTests {
    @Test("readyz turns 503 naming a killed service and 200 again after its restart")
    func killAndRestart() async throws {
        let system = try RunningSystem()
        try system.startAll()
        defer { system.stopAll() }
        let ready = try await eventually(timeout: .seconds(30)) { (try? await system.readiness().status) == 200 }
        #expect(ready, "the system did not become ready")
        let first = try await system.readiness()
        let services = first.body["services"] as? [[String: Any]] ?? []
        #expect(services.map { $0["name"] as? String ?? "" } == ["gateway", "ingest-service", "rules-service", "sequence-service"])
        #expect(services.allSatisfy { $0["state"] as? String == "ready" })
        // What a service counts through swift-metrics reaches the gateway's scrape (a counter made at
        // start appears at zero).
        let scrape = try await HTTPTestClient(port: system.ports["gateway"]!).request(.GET, "/metrics", token: smokeAdminToken)
        #expect(MetricsTests.value(scrape.text, "sequence_metrics_read_failures_total", [#"service="sequence-service""#]) == 0,
                "\(scrape.text)")

        await system.kill("rules-service")
        let down = try await eventually(timeout: .seconds(60)) { (try? await system.readiness().status) == 503 }
        #expect(down)
        let report = try await system.readiness()
        let states = Dictionary(uniqueKeysWithValues: (report.body["services"] as? [[String: Any]] ?? []).map {
            ($0["name"] as? String ?? "", $0["state"] as? String ?? "")
        })
        #expect(states["rules-service"] == "unavailable")
        #expect(states["ingest-service"] == "ready")
        #expect(report.body["status"] as? String == "unavailable")

        try system.start("rules-service")
        let back = try await eventually(timeout: .seconds(30)) { (try? await system.readiness().status) == 200 }
        #expect(back)
    }
}

@Suite("Crash safety", .serialized)
struct CrashSafetyTests {
    @Test("500 concurrent webhooks while ingest-service is killed with SIGKILL: every acknowledged one is kept exactly once and dispatched")
    func killIngestUnderLoad() async throws {
        let system = try RunningSystem()
        try system.startAll()
        defer { system.stopAll() }
        #expect(try await eventually(timeout: .seconds(30)) { (try? await system.readiness().status) == 200 })
        let client = HTTPTestClient(port: system.ports["gateway"]!)
        let tenant = try await client.createTenant(admin: smokeAdminToken)
        let acknowledged = Locked<[String: Int]>([:])
        let killed = Locked(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            let next = Locked(0)
            for _ in 0..<24 {
                group.addTask {
                    while true {
                        let index = next.withLock { value -> Int in value += 1; return value }
                        guard index <= 500 else { return }
                        if index == 150 {
                            await system.kill("ingest-service")
                            killed.withLock { $0 = true }
                            try system.start("ingest-service")
                        }
                        let lead = 7_000_000 + index
                        let body = "leads[add][0][id]=\(lead)&leads[add][0][name]=Lead+\(index)&leads[add][0][status_id]=61234501&leads[add][0][pipeline_id]=7100001&leads[add][0][updated_at]=1764072100&account[id]=29012345&account[subdomain]=acmesales"
                        // Like Kommo, a sender whose post was not acknowledged sends it again later.
                        for _ in 0..<200 {
                            let answer = try? await client.postWebhook(secret: tenant.secret, body: Data(body.utf8))
                            if let answer, answer.status == 200 {
                                acknowledged.withLock { $0[answer.json["delivery_id"] as? String ?? "", default: 0] += 1 }
                                break
                            }
                            try await Task.sleep(for: .milliseconds(50))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(killed.value)
        let acked = acknowledged.value
        #expect(acked.count == 500)

        // Every acknowledged delivery is stored exactly once.
        var stored: [String: Int] = [:]
        var cursor = ""
        repeat {
            let page = try await client.request(.GET, "/api/v1/webhooks/deliveries?limit=200" + (cursor.isEmpty ? "" : "&cursor=\(cursor)"), token: tenant.key)
            for item in page.json["items"] as? [[String: Any]] ?? [] { stored[item["id"] as? String ?? "", default: 0] += 1 }
            cursor = page.json["next_cursor"] as? String ?? ""
        } while !cursor.isEmpty
        for id in acked.keys { #expect(stored[id] == 1, "delivery \(id) acknowledged but stored \(stored[id] ?? 0) times") }

        // Every event reaches the end of its journey.
        let allDelivered = try await eventually(timeout: .seconds(60)) {
            var delivered = 0
            var cursor = ""
            repeat {
                let page = try await client.request(.GET, "/api/v1/webhooks/events?status=delivered&limit=200" + (cursor.isEmpty ? "" : "&cursor=\(cursor)"), token: tenant.key)
                delivered += (page.json["items"] as? [Any])?.count ?? 0
                cursor = page.json["next_cursor"] as? String ?? ""
            } while !cursor.isEmpty
            return delivered == 500
        }
        #expect(allDelivered)

        // The analytics counters, kept in the same transactions as the events and decisions, agree across the
        // kill: 500 events, each evaluated once, however often its dispatch was tried.
        let overview = try await client.request(.GET, "/api/v1/analytics/overview", token: tenant.key)
        let totals = overview.json["totals"] as? [String: Any] ?? [:]
        #expect(totals["events"] as? Int == 500, "\(overview.text)")
        #expect(totals["rules_evaluated"] as? Int == 500, "\(overview.text)")
        #expect(overview.json["events_by_type"] as? [String: Int] == ["lead_created": 500])
    }

    @Test("300 concurrent webhooks while rules-service is killed with SIGKILL: each rule's outcome and each action is counted exactly once")
    func killRulesUnderLoad() async throws {
        let system = try RunningSystem()
        try system.startAll()
        defer { system.stopAll() }
        #expect(try await eventually(timeout: .seconds(30)) { (try? await system.readiness().status) == 200 })
        let client = HTTPTestClient(port: system.ports["gateway"]!)
        let tenant = try await client.createTenant(admin: smokeAdminToken)
        let agent = try await client.json(.POST, "/api/v1/agents", ["name": "Sofia"], token: tenant.key).json["id"] as? String ?? ""
        let note = try await client.json(.POST, "/api/v1/agents/\(agent)/rules", [
            "name": "Note new leads", "trigger": ["type": "lead_created"], "actions": [["type": "add_note", "text": "New lead"]],
        ], token: tenant.key)
        #expect(note.status == 201, "\(note.text)")
        let never = try await client.json(.POST, "/api/v1/agents/\(agent)/rules", [
            "name": "Big budgets only", "trigger": ["type": "lead_created"],
            "conditions": ["all": [["type": "field_value", "field": "cf.Budget", "operator": "equals", "value": "over 9000"]]],
            "actions": [["type": "add_note", "text": "Big one"]],
        ], token: tenant.key)
        #expect(never.status == 201, "\(never.text)")
        let leads = 300
        let killed = Locked(false)
        try await withThrowingTaskGroup(of: Void.self) { group in
            let next = Locked(0)
            for _ in 0..<16 {
                group.addTask {
                    while true {
                        let index = next.withLock { value -> Int in value += 1; return value }
                        guard index <= leads else { return }
                        if index == 100 {
                            // Mid-scenario: decisions are being evaluated and stored while the process dies.
                            await system.kill("rules-service")
                            killed.withLock { $0 = true }
                            try system.start("rules-service")
                        }
                        let lead = 7_100_000 + index
                        let body = "leads[add][0][id]=\(lead)&leads[add][0][name]=Lead+\(index)&leads[add][0][status_id]=61234501&leads[add][0][pipeline_id]=7100001&leads[add][0][updated_at]=1764072100&account[id]=29012345&account[subdomain]=acmesales"
                        for _ in 0..<200 {
                            if let answer = try? await client.postWebhook(secret: tenant.secret, body: Data(body.utf8)), answer.status == 200 { break }
                            try await Task.sleep(for: .milliseconds(50))
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(killed.value)

        // Every event reaches the end of its journey: ingest retries Evaluate until the restarted rules-service
        // answers, which gives the stored decision for an event it had decided before the kill.
        let overviewPath = "/api/v1/analytics/overview"
        let settled = try await eventually(timeout: .seconds(90)) {
            let totals = try await client.request(.GET, overviewPath, token: tenant.key).json["totals"] as? [String: Any]
            return totals?["rules_evaluated"] as? Int == leads && (totals?["actions_other"] as? Int ?? 0) + (totals?["actions_succeeded"] as? Int ?? 0) == leads
        }
        let overview = try await client.request(.GET, overviewPath, token: tenant.key)
        #expect(settled, "\(overview.text)")
        let totals = overview.json["totals"] as? [String: Any] ?? [:]
        #expect(totals["events"] as? Int == leads && totals["rule_fires"] as? Int == leads && totals["rules_not_fired"] as? Int == leads,
                "\(overview.text)")
        #expect(overview.json["not_fired_by_reason"] as? [String: Int] == ["condition_false": leads])
        #expect((overview.json["actions_by_type"] as? [String: [String: Int]])?["add_note"]?.values.reduce(0, +) == leads, "\(overview.text)")
        let rules = try await client.request(.GET, "/api/v1/analytics/rules", token: tenant.key)
        let rows = Dictionary(uniqueKeysWithValues: (rules.json["rules"] as? [[String: Any]] ?? []).map { ($0["rule_id"] as? String ?? "", $0) })
        let noteID = note.json["id"] as? String ?? "", neverID = never.json["id"] as? String ?? ""
        #expect(rows[noteID]?["fired"] as? Int == leads && rows[noteID]?["evaluated"] as? Int == leads, "\(rules.text)")
        #expect(rows[neverID]?["not_fired"] as? Int == leads && rows[neverID]?["fired"] as? Int == 0, "\(rules.text)")
    }
}

/// The smoke system's admin token (32 random-looking bytes, hex).
let smokeAdminToken = "smoke-admin-token-" + String(repeating: "0123456789abcdef", count: 4)
