import ArgumentParser
import AsyncHTTPClient
import Basics
import Foundation
import GRDB
import NIOCore
import NIOHTTP1
import ServiceKit

// MARK: - Scale curves

/// How intake and memory change with the number of tenants and with the events already stored: the four
/// processes started afresh for each point, webhooks (the batch fixture's four events) posted at a fixed
/// rate spread over the tenants, latency from the scheduled send time to the acknowledgement.
struct ScaleBench: Benchmark {
    static let configuration = CommandConfiguration(commandName: "scale", abstract: "Intake latency and RSS against tenants and stored events.")

    @Option(help: "Tenant counts, comma-separated.") var tenants = "1,100,1000"
    @Option(help: "Events already stored (one tenant), comma-separated.") var stored = "10000,1000000"
    @Option(help: "Webhooks posted per second at each point.") var rate = 100
    @Option(help: "Seconds of load at each point.") var seconds = 5.0
    @Flag(help: "1, 10 and 100 tenants; 10,000 and 100,000 stored; 50 webhooks/s for 2 s.") var quick = false

    func measure() async throws -> BenchReport {
        var report = BenchReport()
        let tenantCounts = (quick ? "1,10,100" : tenants).split(separator: ",").compactMap { Int($0) }
        let storedCounts = (quick ? "10000,100000" : stored).split(separator: ",").compactMap { Int($0) }
        let rate = quick ? min(self.rate, 50) : self.rate
        let seconds = quick ? min(self.seconds, 2) : self.seconds
        var rows: [[String]] = []
        for count in tenantCounts {
            let label = count == 1 ? "1 tenant" : "\(count.formatted()) tenants"
            let point = try await Self.point(tenants: count, stored: 0, rate: rate, seconds: seconds)
            report.add("\(label): intake p50", "ms", point.p50)
            report.add("\(label): intake p99", "ms", point.p99)
            for (name, rss) in point.rss { report.add("\(label): \(name) RSS", "MiB", rss) }
            rows.append([label, String(format: "%.1f", point.p50), String(format: "%.1f", point.p99), "\(point.errors)"]
                        + point.rss.map { String(format: "%.1f", $0.1) })
        }
        for count in storedCounts {
            let point = try await Self.point(tenants: 1, stored: count, rate: rate, seconds: seconds)
            report.add("\(count) events stored: intake p50", "ms", point.p50)
            report.add("\(count) events stored: intake p99", "ms", point.p99)
            for (name, rss) in point.rss { report.add("\(count) events stored: \(name) RSS", "MiB", rss) }
            rows.append(["1 tenant, \(count.formatted()) events stored", String(format: "%.1f", point.p50), String(format: "%.1f", point.p99), "\(point.errors)"]
                        + point.rss.map { String(format: "%.1f", $0.1) })
        }
        report.table("Scale: intake at \(rate) webhooks/s × 4 events for \(String(format: "%.0f", seconds)) s (\(machine()))",
                     ["point", "intake p50 ms", "intake p99 ms", "errors"] + Self.names.map { "\($0) RSS MiB" }, rows)
        return report
    }

    static let names = ProductProcesses.names

    struct Point {
        var p50 = 0.0, p99 = 0.0
        var errors = 0
        var rss: [(String, Double)] = []
    }

    static func point(tenants: Int, stored: Int, rate: Int, seconds: Double) async throws -> Point {
        let data = NSTemporaryDirectory() + "bench-scale-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: data) }
        let product = try ProductProcesses(data: data)
        defer { product.stop() }
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: {
            var configuration = HTTPClient.Configuration()
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
            return configuration
        }())
        do {
            let point = try await measure(http: http, base: product.gateway, adminToken: product.adminToken, data: data,
                                          processes: product.processes, tenants: tenants, stored: stored, rate: rate, seconds: seconds)
            try await http.shutdown()
            return point
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    private static func measure(http: HTTPClient, base: String, adminToken: String, data: String, processes: [String: Process],
                                tenants: Int, stored: Int, rate: Int, seconds: Double) async throws -> Point {
        for _ in 0..<300 {
            if let ready = try? await http.execute(HTTPClientRequest(url: base + "/readyz"), timeout: .seconds(2)), ready.status == .ok { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        func post(_ url: String, _ body: ByteBuffer, contentType: String, token: String? = nil) async -> (Bool, Data) {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(body)
            guard let response = try? await http.execute(request, timeout: .seconds(10)),
                  let bytes = try? await response.body.collect(upTo: 1 << 20) else { return (false, Data()) }
            return ((200..<300).contains(Int(response.status.code)), Data(bytes.readableBytesView))
        }
        // Tenants, 16 made at once.
        var secrets: [String] = []
        for first in stride(from: 0, to: tenants, by: 16) {
            let made = await withTaskGroup(of: String?.self, returning: [String].self) { group in
                for tenant in first..<min(tenants, first + 16) {
                    group.addTask {
                        let (ok, body) = await post(base + "/api/v1/tenants", ByteBuffer(string: #"{"name":"scale \#(tenant)"}"#),
                                                    contentType: "application/json", token: adminToken)
                        let json = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:]
                        return ok ? (json["webhook_url"] as? String ?? "").split(separator: "/").last.map(String.init) : nil
                    }
                }
                return await group.reduce(into: []) { if let secret = $1 { $0.append(secret) } }
            }
            secrets += made
        }
        guard secrets.count == tenants else { throw ValidationError("only \(secrets.count) of \(tenants) tenants were made") }
        if stored > 0 {
            // One real event first, whose stored record the seeded rows copy; the seeded ones are already delivered.
            let url = base + "/webhooks/kommo/" + secrets[0]
            _ = await post(url, ByteBuffer(string: IngestBench.batchFixture), contentType: "application/x-www-form-urlencoded")
            let db = try StoreFactory.open(folder: data + "/ingest", migrator: DatabaseMigrator())
            let template = try db.read { try Row.fetchOne($0, sql: "SELECT tenant_id, record FROM event ORDER BY seq LIMIT 1") }
            guard let template else { throw ValidationError("the first webhook stored no event") }
            let tenant: String = template["tenant_id"], record: String = template["record"]
            let now = Date().unixMicros
            for first in stride(from: 0, to: stored, by: 50_000) {
                try await db.write { db in
                    try db.execute(sql: """
                        WITH RECURSIVE n(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)
                        INSERT INTO event (id, tenant_id, delivery_id, type, entity_type, entity_id, lead_id, origin, occurred_at, received_at,
                                           order_key, record, status)
                        SELECT 'ev_seed_' || i, ?, '', 'stage_changed', 'lead', 50000000 + i, 50000000 + i, 'kommo', ? - i * 1000, ? - i * 1000,
                               ? || ':lead:' || (50000000 + i), ?, 'delivered' FROM n
                        """, arguments: [first, min(stored, first + 50_000), tenant, now, now, tenant, record])
                }
            }
            _ = try? await db.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        }
        try await Task.sleep(for: .seconds(1))
        let template = IngestBench.batchFixture
        let total = Int(Double(rate) * seconds)
        let bodies = (0..<total).map { index in
            ByteBuffer(string: template.replacingOccurrences(of: "4410031", with: "\(10_000_000 + index * 3)")
                .replacingOccurrences(of: "4410032", with: "\(10_000_001 + index * 3)")
                .replacingOccurrences(of: "4410021", with: "\(10_000_002 + index * 3)"))
        }
        let start = ContinuousClock.now + .milliseconds(100)
        let (latencies, errors) = await withTaskGroup(of: (Duration, Bool).self, returning: (Latencies, Int).self) { group in
            for index in 0..<total {
                let due = start + .microseconds(Int64(Double(index) * 1e6 / Double(rate)))
                if due > ContinuousClock.now { try? await Task.sleep(until: due, clock: .continuous) }
                let url = base + "/webhooks/kommo/" + secrets[index % secrets.count]
                let body = bodies[index]
                group.addTask {
                    let (ok, _) = await post(url, body, contentType: "application/x-www-form-urlencoded")
                    return (ContinuousClock.now - due, ok)
                }
            }
            var latencies = Latencies()
            var errors = 0
            for await (latency, ok) in group {
                latencies.add(latency)
                if !ok { errors += 1 }
            }
            return (latencies, errors)
        }
        var point = Point(p50: latencies.percentile(0.5) / 1000, p99: latencies.percentile(0.99) / 1000, errors: errors)
        point.rss = names.compactMap { name in processes[name].map { (name, Memory(pid: $0.processIdentifier).mebibytes) } }
        return point
    }
}
