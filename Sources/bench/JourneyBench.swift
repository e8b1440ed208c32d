import ArgumentParser
import AsyncHTTPClient
import Basics
import Foundation
import GRDB
import NIOCore
import NIOHTTP1
import ServiceKit

// MARK: - Journey

/// The whole journey through the four processes: Kommo webhooks posted to the gateway at a steady rate,
/// events stored by ingest, rules evaluated (many tenants, many rules each), actions scheduled and
/// executed against a loopback Kommo stand-in, one account per tenant at Kommo's default 7 requests/s.
///
/// Each event's hops come from what the system records: the bench's own send and acknowledgement times,
/// ingest's attempt log (when `Evaluate` and `Schedule` answered), and the stand-in's arrival time of the
/// task whose `request_id` is the action's key (event id, rule id, action index).
struct JourneyBench: Benchmark {
    static let configuration = CommandConfiguration(commandName: "journey", abstract: "Webhook to Kommo request through the four processes.")

    @Option(help: "Tenants, each with its own Kommo account.") var tenants = 50
    @Option(help: "Rules per tenant; each event fires one of them.") var rules = 100
    @Option(help: "Webhooks posted per second, over all tenants.") var rate = 250
    @Option(help: "Lead status changes per webhook (events per webhook).") var eventsPerWebhook = 4
    @Option(help: "Seconds of steady load.") var seconds = 20.0
    @Flag(help: "5 tenants × 20 rules, 50 webhooks/s for 3 s.") var quick = false

    func measure() async throws -> BenchReport {
        var report = BenchReport()
        let tenants = quick ? min(self.tenants, 5) : self.tenants
        let rules = quick ? min(self.rules, 20) : self.rules
        let rate = quick ? min(self.rate, 50) : self.rate
        let seconds = quick ? min(self.seconds, 3) : self.seconds
        let data = NSTemporaryDirectory() + "bench-journey-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: data) }
        let sink = KommoSink(token: "bench-kommo-token", recordArrivals: true)
        let kommo = try await KommoSink.serve(sink)
        defer { try? kommo.channel.close().wait() }
        let product = try ProductProcesses(data: data, extra: ["sequence-service": ["--egress-allow-private", "--egress-allowed-hosts", "127.0.0.1"]])
        defer { product.stop() }
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: {
            var configuration = HTTPClient.Configuration()
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
            return configuration
        }())
        do {
            try await run(report: &report, http: http, sink: sink, kommoPort: kommo.port, gateway: product.gateway,
                          adminToken: product.adminToken, data: data, processes: product.processes, tenants: tenants, rules: rules,
                          rate: rate, seconds: seconds)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
        return report
    }

    // MARK: - The run

    private func run(report: inout BenchReport, http: HTTPClient, sink: KommoSink, kommoPort: Int, gateway base: String, adminToken: String,
                     data: String, processes: [String: Process], tenants: Int, rules: Int, rate: Int, seconds: Double) async throws {
        func call(_ method: HTTPMethod, _ path: String, _ body: String, token: String) async throws -> [String: Any] {
            var request = HTTPClientRequest(url: base + path)
            request.method = method
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
            let response = try await http.execute(request, timeout: .seconds(30))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            guard (200..<300).contains(Int(response.status.code)) else {
                throw ValidationError("\(method) \(path): \(response.status.code) \(String(buffer: bytes))")
            }
            return (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
        }
        for _ in 0..<300 {
            if let ready = try? await http.execute(HTTPClientRequest(url: base + "/readyz"), timeout: .seconds(2)), ready.status == .ok { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        // Tenants, each with an agent and its rules, then its Kommo account: rule i fires on stage 61234600 + i.
        let setupStart = ContinuousClock.now
        let secrets = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for tenant in 0..<tenants {
                group.addTask {
                    let created = try await call(.POST, "/api/v1/tenants", #"{"name":"bench \#(tenant)"}"#, token: adminToken)
                    let key = created["api_key"] as? String ?? ""
                    let secret = (created["webhook_url"] as? String ?? "").split(separator: "/").last.map(String.init) ?? ""
                    let agent = try await call(.POST, "/api/v1/agents", #"{"name":"bench","status":"active"}"#, token: key)
                    let agentID = agent["id"] as? String ?? ""
                    for rule in 0..<rules {
                        _ = try await call(.POST, "/api/v1/agents/\(agentID)/rules", """
                            {"name":"stage \(rule)","trigger":{"type":"stage_changed","pipeline_id":7100001,"stage_id":\(61234600 + rule)},
                             "actions":[{"type":"create_task","text":"Call back","due_in_seconds":3600,"task_type":1}]}
                            """, token: key)
                    }
                    _ = try await call(.PATCH, "/api/v1/integrations", """
                        {"kommo": {"base_url": "http://127.0.0.1:\(kommoPort)/t\(tenant)", "access_token": "bench-kommo-token"}}
                        """, token: key)
                    return (tenant, secret)
                }
            }
            var secrets = [String](repeating: "", count: tenants)
            for try await (tenant, secret) in group { secrets[tenant] = secret }
            return secrets
        }
        let setup = ContinuousClock.now - setupStart
        try await Task.sleep(for: .seconds(2))
        let pids = ProductProcesses.names.compactMap { name in processes[name].map { (name, $0.processIdentifier) } }
        let atRest = pids.map { ($0.0, Memory(pid: $0.1)) }
        let cpuBefore = pids.map { CPUTime(pid: $0.1) }
        sink.reset()

        // Steady load: webhook w goes to tenant w % tenants and changes the stage of `eventsPerWebhook` new leads.
        let total = Int(Double(rate) * seconds)
        let perWebhook = eventsPerWebhook
        let bodies = (0..<total).map { webhook in
            var fields: [String] = []
            for index in 0..<perWebhook {
                let lead = 10_000_000 + webhook * perWebhook + index
                let prefix = "leads%5Bstatus%5D%5B\(index)%5D"
                fields += ["\(prefix)%5Bid%5D=\(lead)", "\(prefix)%5Bstatus_id%5D=\(61234600 + lead % rules)",
                           "\(prefix)%5Bold_status_id%5D=61234501", "\(prefix)%5Bpipeline_id%5D=7100001", "\(prefix)%5Bupdated_at%5D=1764072950"]
            }
            fields += ["account%5Bsubdomain%5D=acmesales", "account%5Bid%5D=29012345"]
            return ByteBuffer(string: fields.joined(separator: "&"))
        }
        let loadStart = ContinuousClock.now + .milliseconds(100)
        let wallStart = Date().unixMicros + 100_000
        // Per webhook: when it was due to be sent and when it was acknowledged (µs, wall clock), and whether it was.
        let posts = await withTaskGroup(of: (Int, Int64, Int64, Bool).self, returning: [(sent: Int64, acked: Int64, ok: Bool)].self) { group in
            for webhook in 0..<total {
                let offset = Int64(Double(webhook) * 1e6 / Double(rate))
                let due = loadStart + .microseconds(offset)
                if due > ContinuousClock.now { try? await Task.sleep(until: due, clock: .continuous) }
                let body = bodies[webhook]
                let secret = secrets[webhook % tenants]
                group.addTask {
                    var request = HTTPClientRequest(url: base + "/webhooks/kommo/" + secret)
                    request.method = .POST
                    request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                    request.body = .bytes(body)
                    var ok = false
                    if let response = try? await http.execute(request, timeout: .seconds(10)) {
                        _ = try? await response.body.collect(upTo: 1 << 16)
                        ok = response.status == .ok
                    }
                    return (webhook, wallStart + offset, Date().unixMicros, ok)
                }
            }
            var posts = [(sent: Int64, acked: Int64, ok: Bool)](repeating: (0, 0, false), count: total)
            for await (webhook, sent, acked, ok) in group { posts[webhook] = (sent, acked, ok) }
            return posts
        }
        let postedSeconds = (ContinuousClock.now - loadStart).fractionalSeconds
        let events = total * perWebhook
        let deadline = ContinuousClock.now + .seconds(Int64(120 + seconds * 3))
        while sink.snapshot().count < events && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        let drainedSeconds = (ContinuousClock.now - loadStart).fractionalSeconds
        let cpuAfter = pids.map { CPUTime(pid: $0.1) }
        let afterLoad = pids.map { ($0.0, Memory(pid: $0.1)) }
        let snapshot = sink.snapshot()

        // Hops per event, from ingest's store: which lead (so which webhook), when Evaluate and Schedule answered.
        let ingest = try StoreFactory.open(folder: data + "/ingest", migrator: DatabaseMigrator())
        let rows = try await ingest.read { db in
            try Row.fetchAll(db, sql: """
                SELECT e.id, e.lead_id,
                       (SELECT max(a.at + a.duration_micros) FROM attempt a WHERE a.event_seq = e.seq AND a.destination = 'rules.evaluate' AND a.status_code = 0) AS evaluated,
                       (SELECT max(a.at + a.duration_micros) FROM attempt a WHERE a.event_seq = e.seq AND a.destination = 'sequences.schedule' AND a.status_code = 0) AS scheduled
                FROM event e WHERE e.origin = 'kommo'
                """)
        }
        var arrivalsByEvent: [String: Int64] = [:]
        for (requestID, at) in snapshot.arrivals {
            let parts = requestID.split(separator: ":")
            guard parts.count >= 3 else { continue }
            arrivalsByEvent[parts.dropLast(2).joined(separator: ":")] = at
        }
        // An action whose request went out while its account had used its 7 requests of the last second
        // waited for Kommo's limit: it queues, and is left out of the latencies.
        let limited = Set(snapshot.accountRequests.values.flatMap { times -> [Int64] in
            let sorted = times.sorted()
            return sorted.indices.filter { $0 >= 7 && sorted[$0] - sorted[$0 - 7] < 1_000_000 }.map { sorted[$0] }
        })
        var stored = Latencies(), evaluated = Latencies(), scheduled = Latencies(), executed = Latencies(), journey = Latencies()
        var complete = 0, rateLimited = 0
        func add(_ latencies: inout Latencies, _ micros: Int64) { latencies.samples.append(Double(max(0, micros))) }
        for row in rows {
            guard let lead: Int64 = row["lead_id"], let evaluatedAt: Int64 = row["evaluated"], let scheduledAt: Int64 = row["scheduled"],
                  let arrived = arrivalsByEvent[row["id"] as String] else { continue }
            let webhook = Int((lead - 10_000_000) / Int64(perWebhook))
            guard webhook >= 0, webhook < posts.count, posts[webhook].ok else { continue }
            complete += 1
            if limited.contains(arrived) { rateLimited += 1; continue }
            let post = posts[webhook]
            add(&stored, post.acked - post.sent)
            add(&evaluated, evaluatedAt - post.acked)
            add(&scheduled, scheduledAt - evaluatedAt)
            add(&executed, arrived - scheduledAt)
            add(&journey, arrived - post.sent)
        }
        let failedPosts = posts.filter { !$0.ok }.count
        let cpuMicros = zip(cpuBefore, cpuAfter).map { $1.micros - $0.micros }
        let perEvent = Double(cpuMicros.reduce(0, +)) / Double(max(1, events))
        let sustained = Double(complete) / drainedSeconds

        report.add("posted, events/s", "events/s", Double(events) / postedSeconds)
        report.add("sustained, events/s (webhook to Kommo request)", "events/s", sustained)
        report.add("journeys complete", "events", Double(complete))
        report.add("actions waiting for Kommo's limit (left out)", "actions", Double(rateLimited))
        report.add("webhooks not acknowledged", "webhooks", Double(failedPosts))
        var hopRows: [[String]] = []
        for (name, latencies) in [("posted → acknowledged (stored)", stored), ("acknowledged → evaluated", evaluated),
                                  ("evaluated → scheduled", scheduled), ("scheduled → Kommo request", executed), ("whole journey", journey)] {
            let p50 = latencies.percentile(0.5) / 1000, p99 = latencies.percentile(0.99) / 1000
            report.add("\(name), p50", "ms", p50)
            report.add("\(name), p99", "ms", p99)
            hopRows.append([name, String(format: "%.1f", p50), String(format: "%.1f", p99), String(format: "%.1f", (latencies.samples.max() ?? 0) / 1000)])
        }
        report.add("CPU per event, all four processes", "µs", perEvent)
        var processRows: [[String]] = []
        for (index, (name, rest)) in atRest.enumerated() {
            let after = afterLoad[index].1
            report.add("\(name) RSS at rest", "MiB", rest.mebibytes)
            report.add("\(name) RSS after the load", "MiB", after.mebibytes)
            report.add("\(name) CPU per event", "µs", Double(cpuMicros[index]) / Double(max(1, events)))
            processRows.append([name, String(format: "%.1f", Double(cpuMicros[index]) / Double(max(1, events))),
                                String(format: "%.1f", rest.mebibytes), String(format: "%.1f", after.mebibytes)])
        }
        report.table("Journey: \(tenants) tenants × \(rules) rules, \(rate) webhooks/s × \(perWebhook) events for \(String(format: "%.0f", seconds)) s (\(machine()))",
                     ["hop", "p50 ms", "p99 ms", "max ms"], hopRows)
        report.table("Per process", ["process", "CPU µs per event", "RSS at rest MiB", "RSS after MiB"], processRows)
        report.line(String(format: "%d events posted at %.0f events/s; %d journeys complete, %.0f events/s sustained (to the last Kommo request, %.1f s); %d left out as waiting for Kommo's limit; %d webhooks not acknowledged; setup %.0f s",
                           events, Double(events) / postedSeconds, complete, sustained, drainedSeconds, rateLimited, failedPosts, setup.fractionalSeconds))
        report.line(String(format: "CPU: %.0f µs per event over all four processes. Goals: ≥ 1,000 events/s sustained, journey p99 ≤ 250 ms", perEvent))
    }
}

/// User and system CPU time of a process so far, from `/proc/<pid>/stat` (fields 14 and 15, in clock ticks).
struct CPUTime {
    var micros: Int64 = 0

    init(pid: Int32) {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let end = stat.lastIndex(of: ")") else { return }
        // After the command name: state is field 3, so utime (14) and stime (15) are the 12th and 13th.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 12, let user = Int64(fields[11]), let system = Int64(fields[12]) else { return }
        micros = (user + system) * 1_000_000 / Int64(sysconf(Int32(_SC_CLK_TCK)))
    }
}

// MARK: - The four processes

/// The four product binaries from beside this one, as separate processes on free loopback ports, each
/// with its data under `data`; stopped (and waited for) by ``stop()``.
struct ProductProcesses {
    static let names = ["ingest-service", "rules-service", "sequence-service", "gateway"]
    /// The gateway refuses an admin token shorter than 43 characters.
    let adminToken = "bench-admin-" + RandomID.make("", hexDigits: 64)
    let ports: [String: Int]
    let processes: [String: Process]

    /// `extra` adds arguments per process (e.g. sequence-service's egress settings).
    init(data: String, extra: [String: [String]] = [:]) throws {
        let binaries = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var ports: [String: Int] = [:]
        for name in Self.names { ports[name] = try freePort() }
        let peers = ["--ingest-address", "127.0.0.1:\(ports["ingest-service"]!)", "--rules-address", "127.0.0.1:\(ports["rules-service"]!)",
                     "--sequence-address", "127.0.0.1:\(ports["sequence-service"]!)"]
        let arguments: [String: [String]] = [
            "ingest-service": ["--rpc-port", "\(ports["ingest-service"]!)", "--data-dir", data + "/ingest"] + Array(peers[2...]),
            "rules-service": ["--rpc-port", "\(ports["rules-service"]!)", "--data-dir", data + "/rules"],
            "sequence-service": ["--rpc-port", "\(ports["sequence-service"]!)", "--data-dir", data + "/sequence"] + Array(peers[0...3]),
            "gateway": ["--http-port", "\(ports["gateway"]!)", "--data-dir", data + "/gateway", "--admin-token", adminToken, "--no-demo"] + peers,
        ]
        var processes: [String: Process] = [:]
        for name in Self.names {
            let process = Process()
            process.executableURL = binaries.appendingPathComponent(name)
            process.arguments = arguments[name]! + (extra[name] ?? [])
            var environment = ProcessInfo.processInfo.environment
            environment["LOG_LEVEL"] = "error"
            process.environment = environment
            do {
                try process.run()
            } catch {
                for started in processes.values { started.terminate(); started.waitUntilExit() }
                throw error
            }
            processes[name] = process
        }
        self.ports = ports
        self.processes = processes
    }

    var gateway: String { "http://127.0.0.1:\(ports["gateway"]!)" }

    func pid(_ name: String) -> Int32 { processes[name]?.processIdentifier ?? 0 }

    func stop() {
        for process in processes.values { process.terminate(); process.waitUntilExit() }
    }
}
