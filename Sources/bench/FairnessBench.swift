import ArgumentParser
import Basics
import Foundation
import GRDB
import ServiceKit
import Wire

// MARK: - Fairness

/// One tenant's burst beside another tenant's single items: how long tenant B waits while tenant A has
/// thousands of due actions in sequence-service and thousands of events queued in ingest's outbox.
///
/// Scheduler: a real `sequence-service` with A's due actions written into its store, both tenants on
/// Kommo's default 7 requests/s (separate accounts of the loopback stand-in); B's probes are scheduled
/// over RPC one at a time, each timed from the `Schedule` call to its task reaching Kommo.
///
/// Outbox: real `ingest-service`, `rules-service` and `sequence-service`; A's events are kept queued
/// (topped up between probes) while B's probe events are ingested one at a time, each timed from the
/// time ingest stored it to the end of its last dispatch (`OnEvent`), as ingest's attempt log records.
struct FairnessBench: Benchmark {
    static let configuration = CommandConfiguration(commandName: "fairness", abstract: "Tenant B's latency while tenant A's burst runs.")

    @Option(help: "Tenant A's due actions in sequence-service.") var burst = 10_000
    @Option(help: "Tenant A's events kept queued in ingest's outbox.") var backlog = 5_000
    @Option(help: "Probes of tenant B, in each part.") var probes = 40
    @Option(help: "Milliseconds between B's probes.") var interval = 250
    @Flag(help: "2,000 due actions, 1,000 queued events, 10 probes each.") var quick = false

    func measure() async throws -> BenchReport {
        var report = BenchReport()
        let burst = quick ? min(self.burst, 2_000) : self.burst
        let backlog = quick ? min(self.backlog, 1_000) : self.backlog
        let probes = quick ? min(self.probes, 10) : self.probes
        let scheduler = try await schedulerProbes(burst: burst, probes: probes)
        let outbox = try await outboxProbes(backlog: backlog, probes: probes)
        var rows: [[String]] = []
        for (name, part, unit) in [("scheduler", scheduler, "due actions"), ("outbox", outbox, "queued events")] {
            var latencies = Latencies()
            latencies.samples = part.latencies
            let p50 = latencies.percentile(0.5) / 1000, p99 = latencies.percentile(0.99) / 1000
            let worst = (part.latencies.max() ?? 0) / 1000
            report.add("\(name): tenant B latency under A's burst, p50", "ms", p50)
            report.add("\(name): tenant B latency under A's burst, p99", "ms", p99)
            report.add("\(name): tenant B latency under A's burst, max", "ms", worst)
            report.add("\(name): A's \(unit) left when B's last probe finished", "items", Double(part.aLeft))
            rows.append([name, "\(part.aTotal.formatted()) \(unit)", "\(part.latencies.count)", String(format: "%.0f", p50),
                         String(format: "%.0f", p99), String(format: "%.0f", worst), part.aLeft.formatted()])
        }
        report.table("Fairness: tenant B's single items while tenant A's burst runs (\(machine()))",
                     ["part", "tenant A's burst", "B probes", "p50 ms", "p99 ms", "max ms", "A's left at the end"], rows)
        report.line("scheduler: Schedule call → task at Kommo; outbox: event stored → its last dispatch answered. Goal: p99 ≤ 1 s")
        return report
    }

    struct Part {
        var latencies: [Double] = []
        var aTotal = 0
        var aLeft = 0
    }

    // MARK: - Scheduler

    private func schedulerProbes(burst: Int, probes: Int) async throws -> Part {
        let dataDir = NSTemporaryDirectory() + "bench-fairness-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let sink = KommoSink(token: "bench-kommo-token")
        let emulator = try await KommoSink.serve(sink)
        defer { try? emulator.channel.close().wait() }
        let port = try freePort()
        let service = try startProcess("sequence-service", ["--rpc-port", "\(port)", "--data-dir", dataDir,
                                                            "--ingest-address", "127.0.0.1:1", "--rules-address", "127.0.0.1:1",
                                                            "--egress-allow-private", "--egress-allowed-hosts", "127.0.0.1"])
        defer { service.terminate(); service.waitUntilExit() }
        let connection = RPCConnection(host: "127.0.0.1", port: port, security: try benchSecurity("gateway"),
                                       serverName: "sequence-service", logger: benchLogger)
        defer { connection.close() }
        let client = SequencesClient(connection: connection)
        // Decisions come from ingest's dispatcher: Schedule is called as ingest-service.
        let dispatcher = RPCConnection(host: "127.0.0.1", port: port, security: try benchSecurity("ingest-service"),
                                       serverName: "sequence-service", logger: benchLogger)
        defer { dispatcher.close() }
        for (tenant, account) in [("tenant-a", "a"), ("tenant-b", "b")] {
            var write = PB.DocumentWrite()
            write.json = #"{"kommo": {"base_url": "http://127.0.0.1:\#(emulator.port)/\#(account)", "access_token": "bench-kommo-token"}}"#
            var connected = false
            for _ in 0..<300 where !connected {
                connected = (try? await client.updateIntegrations(write, options: CallOptions(timeout: .seconds(2), tenantID: tenant))) != nil
                if !connected { try await Task.sleep(for: .milliseconds(100)) }
            }
            guard connected else { throw ValidationError("sequence-service did not answer") }
        }
        // A's burst, due now, written straight into the service's store as one decision's worth of rows.
        let db = try StoreFactory.open(folder: dataDir, migrator: DatabaseMigrator())
        let now = Date().unixMicros
        try await SchedulerBench.insert((0..<burst).map {
            SchedulerBench.PendingRow(tenant: "tenant-a", key: "burst:\($0)", leadID: Int64($0 + 1), dueAt: now)
        }, into: db)
        // Let A's burst fill the lanes before B's first probe.
        try await Task.sleep(for: .seconds(1))
        var part = Part(aTotal: burst)
        for probe in 0..<probes {
            let before = sink.snapshot().lateness.count
            var request = PB.ScheduleRequest()
            // The key carries the moment of the call: the stand-in Kommo reads it back from the task's request id.
            let planned = SchedulerBench.planned("late:\(Date().unixMicros):\(probe)", lead: Int64(1_000_000 + probe))
            var action = PB.PlannedAction()
            action.idempotencyKey = planned.idempotencyKey
            action.ruleId = planned.ruleID
            action.agentId = planned.agentID
            action.eventId = "ev_probe_\(probe)"
            action.leadId = planned.leadID ?? 0
            action.action = PB.Action(planned.action)
            request.actions = [action]
            _ = try await SequencesClient(connection: dispatcher).schedule(request, options: CallOptions(timeout: .seconds(10), tenantID: "tenant-b"))
            let deadline = ContinuousClock.now + .seconds(120)
            while sink.snapshot().lateness.count == before {
                guard ContinuousClock.now < deadline else { throw ValidationError("tenant B's probe \(probe) did not reach Kommo") }
                try await Task.sleep(for: .milliseconds(5))
            }
            try await Task.sleep(for: .milliseconds(interval))
        }
        let snapshot = sink.snapshot()
        part.latencies = snapshot.lateness
        part.aLeft = max(0, burst - (snapshot.count - snapshot.lateness.count))
        return part
    }

    // MARK: - Outbox

    private func outboxProbes(backlog: Int, probes: Int) async throws -> Part {
        let data = NSTemporaryDirectory() + "bench-fairness-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: data) }
        var ports: [String: Int] = [:]
        for name in ["ingest-service", "rules-service", "sequence-service"] { ports[name] = try freePort() }
        func address(_ name: String) -> String { "127.0.0.1:\(ports[name]!)" }
        var processes: [Process] = []
        defer { for process in processes { process.terminate(); process.waitUntilExit() } }
        processes.append(try startProcess("rules-service", ["--rpc-port", "\(ports["rules-service"]!)", "--data-dir", data + "/rules"]))
        processes.append(try startProcess("sequence-service", ["--rpc-port", "\(ports["sequence-service"]!)", "--data-dir", data + "/sequence",
                                                               "--ingest-address", address("ingest-service"), "--rules-address", address("rules-service")]))
        processes.append(try startProcess("ingest-service", ["--rpc-port", "\(ports["ingest-service"]!)", "--data-dir", data + "/ingest",
                                                             "--rules-address", address("rules-service"), "--sequence-address", address("sequence-service")]))
        let connection = RPCConnection(host: "127.0.0.1", port: ports["ingest-service"]!, security: try benchSecurity("gateway"),
                                       serverName: "ingest-service", logger: benchLogger)
        defer { connection.close() }
        let ingest = IngestClient(connection: connection)
        var counter = 0
        func events(_ tenant: String, _ count: Int) -> PB.IngestRequest {
            var request = PB.IngestRequest()
            request.events = (0..<count).map { _ in
                counter += 1
                var event = PB.Event()
                event.id = "ev_\(tenant)_\(counter)"
                event.type = .stageChanged
                event.origin = .manual
                event.entityType = "lead"
                event.entityId = String(counter)
                event.leadId = Int64(counter)
                return event
            }
            return request
        }
        func send(_ request: PB.IngestRequest, tenant: String) async throws {
            _ = try await ingest.ingest(request, options: CallOptions(timeout: .seconds(30), tenantID: tenant))
        }
        var ready = false
        for _ in 0..<300 where !ready {
            ready = (try? await send(events("tenant-a", 1), tenant: "tenant-a")) != nil
            if !ready { try await Task.sleep(for: .milliseconds(100)) }
        }
        guard ready else { throw ValidationError("ingest-service did not answer") }
        let db = try StoreFactory.open(folder: data + "/ingest", migrator: DatabaseMigrator())
        func pendingA() async throws -> Int {
            try await db.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM event WHERE tenant_id = 'tenant-a' AND status = 'pending'") ?? 0 }
        }
        var sentA = 1
        func topUp() async throws {
            var missing = backlog - (try await pendingA())
            while missing > 0 {
                let batch = min(500, missing)
                try await send(events("tenant-a", batch), tenant: "tenant-a")
                sentA += batch
                missing -= batch
            }
        }
        try await topUp()
        var part = Part()
        for _ in 0..<probes {
            try await topUp()
            let probe = events("tenant-b", 1)
            let id = probe.events[0].id
            try await send(probe, tenant: "tenant-b")
            let deadline = ContinuousClock.now + .seconds(120)
            var latency: Double?
            while latency == nil {
                guard ContinuousClock.now < deadline else { throw ValidationError("tenant B's event \(id) was not dispatched") }
                try await Task.sleep(for: .milliseconds(5))
                latency = try await db.read { db in
                    try Row.fetchOne(db, sql: """
                        SELECT e.received_at AS stored, (SELECT max(a.at + a.duration_micros) FROM attempt a WHERE a.event_seq = e.seq) AS done
                        FROM event e WHERE e.id = ? AND e.status = 'delivered'
                        """, arguments: [id]).map { Double(($0["done"] as Int64? ?? 0) - ($0["stored"] as Int64)) }
                }
            }
            part.latencies.append(latency!)
            try await Task.sleep(for: .milliseconds(interval))
        }
        part.aTotal = sentA
        part.aLeft = try await pendingA()
        return part
    }

    /// Starts one of the product's processes from beside this binary, with the benchmark's PKI.
    private func startProcess(_ name: String, _ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name)
        process.arguments = arguments + ["--pki-dir", benchPKI]
        var environment = ProcessInfo.processInfo.environment
        environment["LOG_LEVEL"] = "critical"
        environment["SECRETS_KEY"] = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        process.environment = environment
        try process.run()
        return process
    }
}
