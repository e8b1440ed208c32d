import ArgumentParser
import AsyncHTTPClient
import Basics
import Foundation
import GRDB
import NIOCore
import ServiceKit

/// `make bench-analytics`: the four binaries as separate processes; a tenant whose stores hold the
/// counters 1,000,000 events over 90 days leave behind (written into the services' own stores, in the
/// rows and keys the services write as things happen); p50/p99 of every analytics endpoint over the 90 days.
struct AnalyticsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "analytics", abstract: "Analytics endpoints over 90 days of counters.")

    @Option(help: "Events the counters stand for.") var events = 1_000_000
    @Option(help: "Days they are spread over.") var days = 90
    @Option(help: "Requests per endpoint.") var requests = 200
    @Option(help: "Rules of the tenant's agent.") var rules = 20
    @Option(help: "Scripts of the tenant's agent.") var scripts = 10
    @Option(help: "Uses of those scripts over the days (each with its lead's reply and stage moves).") var scriptUses = 20_000

    func run() async throws {
        let binaries = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let data = NSTemporaryDirectory() + "bench-analytics-\(UUID().uuidString.prefix(8))"
        let adminToken = "bench-admin-" + RandomID.make("", hexDigits: 64)
        var ports: [String: Int] = [:]
        let names = ["ingest-service", "rules-service", "sequence-service", "gateway"]
        for name in names { ports[name] = try freePort() }
        let peers = ["--ingest-address", "127.0.0.1:\(ports["ingest-service"]!)", "--rules-address", "127.0.0.1:\(ports["rules-service"]!)",
                     "--sequence-address", "127.0.0.1:\(ports["sequence-service"]!)"]
        let arguments: [String: [String]] = [
            "ingest-service": ["--rpc-port", "\(ports["ingest-service"]!)", "--data-dir", data + "/ingest"] + Array(peers[2...]),
            "rules-service": ["--rpc-port", "\(ports["rules-service"]!)", "--data-dir", data + "/rules"],
            "sequence-service": ["--rpc-port", "\(ports["sequence-service"]!)", "--data-dir", data + "/sequence"] + Array(peers[0...3]),
            "gateway": ["--http-port", "\(ports["gateway"]!)", "--data-dir", data + "/gateway", "--admin-token", adminToken, "--no-demo",
                        "--rate-limit", "100000", "--tenant-rate-limit", "100000"] + peers,
        ]
        // Runs last, after the processes below have exited: a run leaves no stores behind (a few hundred MB each).
        defer {
            do { try FileManager.default.removeItem(atPath: data) } catch { print("could not remove \(data): \(error)") }
        }
        var processes: [Process] = []
        defer { for process in processes { process.terminate(); process.waitUntilExit() } }
        for name in names {
            let process = Process()
            process.executableURL = binaries.appendingPathComponent(name)
            process.arguments = arguments[name]
            var environment = ProcessInfo.processInfo.environment
            environment["LOG_LEVEL"] = "error"
            process.environment = environment
            try process.run()
            processes.append(process)
        }
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { _ = http.shutdown() }
        let base = "http://127.0.0.1:\(ports["gateway"]!)"
        for _ in 0..<300 {
            if let ready = try? await http.execute(HTTPClientRequest(url: base + "/readyz"), timeout: .seconds(2)), ready.status == .ok { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        func call(_ method: String, _ path: String, token: String, body: String? = nil) async throws -> [String: Any] {
            var request = HTTPClientRequest(url: base + path)
            request.method = method == "POST" ? .POST : .GET
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(string: body))
            }
            let answer = try await http.execute(request, timeout: .seconds(30))
            let bytes = try await answer.body.collect(upTo: 16 << 20)
            guard answer.status.code < 300 else { throw ValidationError("\(method) \(path): \(answer.status.code) \(String(buffer: bytes))") }
            return try JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any] ?? [:]
        }
        let created = try await call("POST", "/api/v1/tenants", token: adminToken, body: #"{"name":"bench"}"#)
        let tenantID = (created["tenant"] as? [String: Any])?["id"] as? String ?? ""
        let key = created["api_key"] as? String ?? ""
        let agent = try await call("POST", "/api/v1/agents", token: key, body: #"{"name":"Bench"}"#)["id"] as? String ?? ""
        var ruleIDs: [String] = []
        for index in 0..<rules {
            let rule = try await call("POST", "/api/v1/agents/\(agent)/rules", token: key, body: """
                {"name": "Rule \(index)", "trigger": {"type": "stage_changed", "stage_id": \(61_000_000 + index)}, "actions": [{"type": "add_note", "text": "x"}]}
                """)
            ruleIDs.append(rule["id"] as? String ?? "")
        }
        let sequence = try await call("POST", "/api/v1/agents/\(agent)/sequences", token: key, body: """
            {"name": "Bench follow-up", "status": "active", "trigger": {"type": "manual"},
             "steps": [{"id": "one", "delay_days": 1, "action": {"type": "add_note", "text": "1"}},
                       {"id": "two", "delay_days": 2, "action": {"type": "add_note", "text": "2"}},
                       {"id": "three", "delay_days": 3, "action": {"type": "add_note", "text": "3"}}]}
            """)["id"] as? String ?? ""

        var scriptIDs: [String] = []
        for index in 0..<scripts {
            let script = try await call("POST", "/api/v1/agents/\(agent)/scripts", token: key, body: """
                {"name": "Script \(index)", "type": "greeting", "body": "Hello {{contact.first_name|there}}, offer \(index)."}
                """)
            scriptIDs.append(script["id"] as? String ?? "")
        }

        // The counters, hour by hour, written into each service's store as that service writes them.
        let seedStart = ContinuousClock.now
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        let hours = days * 24
        let firstHour = AnalyticsCounters.hour(micros: now) - Int64(hours) + 1
        let perHour = max(1, events / hours)
        let types = ["lead_updated", "stage_changed", "message_received", "message_sent", "note_added", "task_created", "contact_updated", "lead_created"]
        var rows = 0
        func seed(_ folder: String, _ body: (Int64, (String, String, Int64) throws -> Void) throws -> Void) throws {
            var configuration = Configuration()
            configuration.busyMode = .timeout(30)
            let queue = try DatabaseQueue(path: folder + "/store.sqlite", configuration: configuration)
            try queue.write { db in
                let insert = try db.makeStatement(sql: """
                    INSERT INTO analytics_counter (tenant_id, hour, key, agent_id, value) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT (tenant_id, hour, key, agent_id) DO UPDATE SET value = value + excluded.value
                    """)
                for offset in 0..<Int64(hours) {
                    let hour = firstHour + offset
                    try body(hour) { key, agentID, value in
                        try insert.execute(arguments: [tenantID, hour, key, agentID, value])
                        rows += 1
                    }
                }
                // The running totals the services keep beside the hour rows, as their migration builds them.
                try db.execute(sql: """
                    INSERT INTO analytics_counter_key (tenant_id, key, agent_id)
                        SELECT DISTINCT tenant_id, key, agent_id FROM analytics_counter WHERE tenant_id = ?1 ON CONFLICT DO NOTHING
                    """, arguments: [tenantID])
                try db.execute(sql: """
                    INSERT OR REPLACE INTO analytics_counter_running (tenant_id, key, agent_id, hour, total)
                        SELECT tenant_id, key, agent_id, hour, sum(value) OVER (PARTITION BY key, agent_id ORDER BY hour)
                        FROM analytics_counter WHERE tenant_id = ?1
                    """, arguments: [tenantID])
            }
        }
        try seed(data + "/ingest") { _, add in
            for (index, type) in types.enumerated() { try add("events.type.\(type)", "", Int64(perHour / types.count + (index == 0 ? perHour % types.count : 0))) }
            try add("events.origin.kommo", "", Int64(perHour))
            try add("deliveries.accepted", "", Int64(perHour / 3))
            try add("deliveries.unparsed", "", 1)
        }
        try seed(data + "/rules") { _, add in
            try add("rules.evaluated", "", Int64(perHour))
            for rule in ruleIDs {
                for (outcome, share) in [("fired", 20), ("condition_false", 30), ("trigger_mismatch", 200), ("cooldown", 5)] {
                    try add("rule.\(rule).\(outcome)", agent, Int64(max(1, perHour / ruleIDs.count * share / 255)))
                }
            }
        }
        try seed(data + "/sequence") { _, add in
            for type in ["add_note", "create_task", "send_message", "ai_response", "change_stage"] {
                for (outcome, value) in [("succeeded", 40), ("failed", 2), ("skipped", 3)] { try add("actions.\(type).\(outcome)", agent, Int64(value)) }
            }
            try add("kommo.calls", "", 150)
            for (bucket, value) in [("le_100", 90), ("le_250", 50), ("le_1000", 9), ("gt_5000", 1)] { try add("kommo.latency_ms.\(bucket)", "", Int64(value)) }
            for (name, value) in [("usage.message_sent", 60), ("usage.ai_reply", 40), ("messages.inbound", 70), ("messages.replied_24h", 25),
                                  ("leads.touched", 30), ("outcomes.advanced", 8), ("outcomes.won", 2), ("outcomes.lost", 1), ("outcomes.won_value", 5000)] {
                try add(name, agent, Int64(value))
            }
            for rule in ruleIDs.prefix(5) { try add("outcomes.won.rule.\(rule)", agent, 1); try add("outcomes.won_value.rule.\(rule)", agent, 1000) }
            try add("sequence.\(sequence).enrolled", agent, 5)
            try add("sequence.\(sequence).exited", agent, 2)
            try add("sequence.\(sequence).exit.lead_replied", agent, 2)
            for step in ["one", "two", "three"] {
                try add("sequence.\(sequence).step.\(step).reached", agent, 4)
                try add("sequence.\(sequence).step.\(step).succeeded", agent, 3)
            }
        }
        // The scripts' uses, as rules-service records them: a use per AI reply or message that quoted a
        // script, and what its lead did after (a reply within a day for one in three, a stage move for one in five).
        do {
            var configuration = Configuration()
            configuration.busyMode = .timeout(30)
            let queue = try DatabaseQueue(path: data + "/rules/store.sqlite", configuration: configuration)
            let first = now - Int64(days) * 86_400_000_000
            let step = Int64(days) * 86_400_000_000 / Int64(max(1, scriptUses))
            let ids = scriptIDs, uses = scriptUses
            try await queue.write { db in
                for index in 0..<uses {
                    let at = first + Int64(index) * step
                    let lead = Int64(7_000_000 + index % 5_000)
                    try db.execute(sql: "INSERT OR IGNORE INTO script_use (tenant_id, action_key, script_id, version, agent_id, lead_id, used_at) VALUES (?, ?, ?, 1, ?, ?, ?)",
                                   arguments: [tenantID, "bench-\(index)", ids[index % ids.count], agent, lead, at])
                    if index % 3 == 0 {
                        try db.execute(sql: "INSERT OR IGNORE INTO lead_inbound (tenant_id, lead_id, at) VALUES (?, ?, ?)", arguments: [tenantID, lead, at + 3_600_000_000])
                    }
                    if index % 5 == 0 {
                        try db.execute(sql: "INSERT OR IGNORE INTO lead_stage_change (tenant_id, lead_id, at, pipeline_id, stage_id) VALUES (?, ?, ?, 7100001, ?)",
                                       arguments: [tenantID, lead, at + 7_200_000_000, index % 10 == 0 ? 142 : 61_234_503])
                    }
                }
            }
        }
        let seeded = ContinuousClock.now - seedStart

        let day = { (offset: Int) in
            Date(timeIntervalSince1970: Double(now) / 1e6 + Double(offset) * 86_400).formatted(.iso8601.year().month().day())
        }
        let range = "from=\(day(-(days - 1)))&to=\(day(0))&tz=Europe/Madrid"
        let endpoints = [
            "overview": "/api/v1/analytics/overview?\(range)",
            "agents/{id}": "/api/v1/analytics/agents/\(agent)?\(range)",
            "rules": "/api/v1/analytics/rules?\(range)",
            "sequences": "/api/v1/analytics/sequences?\(range)",
            "sequences/{id}/funnel": "/api/v1/analytics/sequences/\(sequence)/funnel?\(range)",
            "outcomes": "/api/v1/analytics/outcomes?\(range)",
            "scripts": "/api/v1/analytics/scripts?\(range)",
        ]
        let check = try await call("GET", endpoints["overview"]!, token: key)
        let counted = (check["totals"] as? [String: Any])?["events"] as? Int ?? 0
        var results: [[String]] = []
        for name in ["overview", "agents/{id}", "rules", "sequences", "sequences/{id}/funnel", "outcomes", "scripts"] {
            var latencies = Latencies()
            for _ in 0..<requests {
                let started = ContinuousClock.now
                _ = try await call("GET", endpoints[name]!, token: key)
                latencies.add(ContinuousClock.now - started)
            }
            results.append([name, String(format: "%.1f", latencies.percentile(0.5) / 1000), String(format: "%.1f", latencies.percentile(0.99) / 1000)])
        }
        printTable("Analytics endpoints over \(days) days (\(counted) events counted, \(rows) counter rows and \(scriptUses) script uses seeded in \(seeded); \(machine()))",
              ["endpoint", "p50 ms", "p99 ms"], results)
        print("goal: p99 ≤ 100 ms per endpoint")
    }
}
