import ArgumentParser
import Basics
import Domain
import Foundation
import GRDB
import NIOCore
import NIOHTTP1
import NIOPosix
import Sequences
import ServiceKit
import Synchronization
import Wire

// MARK: - Scheduler

/// A release `sequence-service` process with its real store: a million pending actions seeded, then due
/// actions drained against a Kommo emulator on loopback, then actions coming due while it runs.
///
/// The pending rows are written by this process into the service's store (SQLite, WAL) while the service
/// runs, so the service's memory is measured with and without them: it must not grow with what is pending.
struct SchedulerBench: Benchmark {
    static let configuration = CommandConfiguration(commandName: "scheduler", abstract: "The durable scheduler: pending rows, fire rate, lateness.")

    @Option(help: "Pending actions seeded (due tomorrow and later).") var pending = 1_000_000
    @Option(help: "Rows per seeding transaction.") var seedBatch = 10_000
    @Option(help: "Due actions drained against the emulator with the Kommo limit raised.") var drain = 100_000
    @Option(help: "Kommo accounts the drain is spread over, each allowed 1,000 requests/s.") var drainAccounts = 10
    @Option(help: "Accounts at Kommo's default 7 requests/s for the many-accounts run.") var defaultAccounts = 200
    @Option(help: "Actions per account in the many-accounts run.") var perAccount = 40
    @Option(help: "Actions coming due per second during the lateness run (spread over the default accounts).") var dueRate = 100
    @Option(help: "Seconds of the lateness run.") var dueSeconds = 20
    @Flag(help: "10,000 pending, 2,000 drained, 20 accounts of 10 actions, 5 s of lateness at 20/s.") var quick = false

    func measure() async throws -> BenchReport {
        var report = BenchReport()
        let pending = quick ? min(self.pending, 10_000) : self.pending
        let seedBatch = min(self.seedBatch, pending)
        let drain = quick ? min(self.drain, 2_000) : self.drain
        let defaultAccounts = quick ? min(self.defaultAccounts, 20) : self.defaultAccounts
        let perAccount = quick ? min(self.perAccount, 10) : self.perAccount
        let dueRate = quick ? min(self.dueRate, 20) : self.dueRate
        let dueSeconds = quick ? min(self.dueSeconds, 5) : self.dueSeconds
        // Time for the service's memory to settle before it is read.
        let settle: Duration = quick ? .seconds(1) : .seconds(3)
        let settleSeeded: Duration = quick ? .seconds(2) : .seconds(5)
        let binaries = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let dataDir = NSTemporaryDirectory() + "bench-scheduler-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dataDir) }
        let sink = KommoSink(token: "bench-kommo-token")
        let emulator = try await KommoSink.serve(sink)
        defer { try? emulator.channel.close().wait() }
        let kommoBase = "http://127.0.0.1:\(emulator.port)"

        // The service, on an empty store.
        let port = try freePort()
        let service = Process()
        service.executableURL = binaries.appendingPathComponent("sequence-service")
        service.arguments = ["--rpc-port", "\(port)", "--data-dir", dataDir,
                             "--ingest-address", "127.0.0.1:1", "--rules-address", "127.0.0.1:1", "--pki-dir", benchPKI,
                             "--egress-allow-private", "--egress-allowed-hosts", "127.0.0.1"]
        var environment = ProcessInfo.processInfo.environment
        environment["LOG_LEVEL"] = "critical"
        environment["SECRETS_KEY"] = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        service.environment = environment
        try service.run()
        defer { service.terminate(); service.waitUntilExit() }
        let connection = RPCConnection(host: "127.0.0.1", port: port, security: try benchSecurity("gateway"),
                                       serverName: "sequence-service", logger: benchLogger)
        defer { connection.close() }
        let client = SequencesClient(connection: connection)
        func connect(tenant: String, base: String, rate: Int?) async throws {
            var write = PB.DocumentWrite()
            write.id = tenant
            let limit = rate.map { #", "rate_limit_per_second": \#($0)"# } ?? ""
            write.json = #"{"kommo": {"base_url": "\#(base)", "access_token": "bench-kommo-token"\#(limit)}}"#
            _ = try await client.updateIntegrations(write, options: CallOptions(timeout: .seconds(10), tenantID: tenant))
        }
        var ready = false
        for _ in 0..<300 where !ready {
            var ref = PB.DocumentRef()
            ref.id = "probe"
            ready = (try? await client.getIntegrations(ref, options: CallOptions(timeout: .seconds(1), tenantID: "probe"))) != nil
            if !ready { try await Task.sleep(for: .milliseconds(100)) }
        }
        guard ready else { throw ValidationError("sequence-service did not answer") }
        let pid = service.processIdentifier
        try await Task.sleep(for: settle)
        let idle = Memory(pid: pid)

        // Seeding: the store's own schema and indexes, written in batches from this process.
        let db = try StoreFactory.open(folder: dataDir, migrator: SequenceStore.migrator)
        let store = SequenceStore(db: db)
        let usedBefore = try await Self.usedBytes(db)
        let seedStart = ContinuousClock.now
        let tomorrow = Date().unixMicros + 86_400_000_000
        for first in stride(from: 0, to: pending, by: seedBatch) {
            let rows = (first..<min(pending, first + seedBatch)).map { (index: Int) -> PendingRow in
                let hash: UInt64 = UInt64(index) &* 0x9E37_79B9_7F4A_7C15
                let key = "ev_" + String(hash, radix: 16) + ":rule_" + String(index % 977) + ":0"
                let due: Int64 = tomorrow + Int64(index) * 100_000
                return PendingRow(tenant: "tenant-\(index % 1000)", key: key, leadID: Int64(20_000_000 + index), dueAt: due)
            }
            try await Self.insert(rows, into: db)
        }
        let seedTime = ContinuousClock.now - seedStart
        _ = try? await db.writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        let usedAfter = try await Self.usedBytes(db)
        try await Task.sleep(for: settleSeeded)
        let seeded = Memory(pid: pid)

        // Drain: due actions across accounts whose limit is raised to 1,000/s, so Kommo's allowance is not
        // what bounds the rate.
        for account in 0..<drainAccounts { try await connect(tenant: "drain-\(account)", base: "\(kommoBase)/d\(account)", rate: 1000) }
        sink.reset()
        let drainStart = ContinuousClock.now
        for first in stride(from: 0, to: drain, by: 1000) {
            var byTenant: [String: [PlannedActionRecord]] = [:]
            for index in first..<min(drain, first + 1000) {
                byTenant["drain-\(index % drainAccounts)", default: []].append(Self.planned("drain:\(index)", lead: Int64(index + 1)))
            }
            for (tenant, actions) in byTenant {
                _ = try await store.schedule(tenantID: tenant, actions: actions, timers: [], now: Date().unixMicros)
            }
        }
        let drainInserted = ContinuousClock.now - drainStart
        try await Self.waitFor(sink, count: drain, timeout: .seconds(1200))
        let drained = sink.snapshot()
        let drainRate = Double(drain) / Self.seconds(drained.last! - drainStart)
        let afterDrain = Memory(pid: pid)

        // Many accounts at Kommo's default allowance of 7 requests/s each.
        for account in 0..<defaultAccounts { try await connect(tenant: "acct-\(account)", base: "\(kommoBase)/k\(account)", rate: nil) }
        sink.reset()
        let manyTotal = defaultAccounts * perAccount
        let manyStart = ContinuousClock.now
        // Round by round, as decisions of many tenants arrive interleaved; all due now, in one transaction.
        let now = Date().unixMicros
        try await Self.insert((0..<perAccount).flatMap { round in
            (0..<defaultAccounts).map { account in
                PendingRow(tenant: "acct-\(account)", key: "many:\(account):\(round)", leadID: Int64(account * 1000 + round + 1), dueAt: now)
            }
        }, into: db)
        try await Self.waitFor(sink, count: manyTotal, timeout: .seconds(600))
        let many = sink.snapshot()
        let manyRate = Double(manyTotal) / Self.seconds(many.last! - manyStart)

        // Lateness: actions coming due while the service runs, below every account's allowance.
        sink.reset()
        let lateTotal = dueRate * dueSeconds
        let lateStart = Date().unixMicros + 2_000_000
        let lateRows = (0..<lateTotal).map { index in
            let due = lateStart + Int64(index) * 1_000_000 / Int64(dueRate)
            return PendingRow(tenant: "acct-\(index % defaultAccounts)", key: "late:\(due):\(index)", leadID: Int64(90_000_000 + index), dueAt: due)
        }
        try await Self.insert(lateRows, into: db)
        try await Self.waitFor(sink, count: lateTotal, timeout: .seconds(Int64(dueSeconds) + 120))
        let lateness = sink.snapshot().lateness
        let final = Memory(pid: pid)

        let perRow = Double(usedAfter - usedBefore) / Double(pending)
        let seedSeconds = Self.seconds(seedTime)
        let drainSeconds = Self.seconds(drained.last! - drainStart)
        let manySeconds = Self.seconds(many.last! - manyStart)
        var late = Latencies()
        late.samples = lateness
        report.add("seed, rows/s", "rows/s", Double(pending) / seedSeconds)
        report.add("store size per pending action", "bytes", perRow)
        report.add("service RSS, empty store", "MiB", idle.mebibytes)
        report.add("service RSS, \(pending) pending", "MiB", seeded.mebibytes)
        report.add("RSS growth per pending action", "bytes", Double(seeded.rss - idle.rss) / Double(pending))
        report.add("service RSS after the drain", "MiB", afterDrain.mebibytes)
        report.add("service RSS at the end", "MiB", final.mebibytes)
        report.add("drain, \(drainAccounts) accounts × 1,000/s, actions/s", "actions/s", drainRate)
        report.add("drain, Kommo requests/s", "requests/s", Double(drained.requests) / drainSeconds)
        report.add("\(defaultAccounts) accounts at 7/s, actions/s", "actions/s", manyRate)
        report.add("\(defaultAccounts) accounts at 7/s, Kommo requests/s", "requests/s", Double(many.requests) / manySeconds)
        report.add("lateness at \(dueRate)/s, p50", "ms", late.percentile(0.5) / 1000)
        report.add("lateness at \(dueRate)/s, p99", "ms", late.percentile(0.99) / 1000)
        report.add("lateness at \(dueRate)/s, max", "ms", (lateness.max() ?? 0) / 1000)
        report.table("Scheduler: \(pending.formatted()) pending actions in a sequence-service store (\(machine()))",
              ["measure", "value"], [
                  ["seed (\(seedBatch.formatted()) rows per transaction)", String(format: "%.1f s, %.0f rows/s", Self.seconds(seedTime), Double(pending) / Self.seconds(seedTime))],
                  ["store size per pending action (rows and indexes)", String(format: "%.0f bytes", perRow)],
                  ["service RSS, empty store", idle.text],
                  ["service RSS, \(pending.formatted()) pending", seeded.text],
                  ["RSS growth per pending action", String(format: "%.2f bytes (anonymous %.2f)", Double(seeded.rss - idle.rss) / Double(pending), Double(seeded.anonymous - idle.anonymous) / Double(pending))],
                  ["service RSS after the drain", afterDrain.text],
                  ["service RSS at the end", final.text],
              ])
        report.table("Firing against the Kommo emulator (\(pending.formatted()) rows still pending throughout)",
              ["run", "actions", "Kommo requests", "accounts × allowance", "seconds", "actions/s", "requests/s"], [
                  ["drain (task text without placeholders)", drain.formatted(), drained.requests.formatted(), "\(drainAccounts) × 1,000/s",
                   String(format: "%.1f", Self.seconds(drained.last! - drainStart)), String(format: "%.0f", drainRate),
                   String(format: "%.0f", Double(drained.requests) / Self.seconds(drained.last! - drainStart))],
                  ["default limit (text naming the lead: read, then create)", manyTotal.formatted(), many.requests.formatted(), "\(defaultAccounts) × 7/s",
                   String(format: "%.1f", Self.seconds(many.last! - manyStart)), String(format: "%.0f", manyRate),
                   String(format: "%.0f", Double(many.requests) / Self.seconds(many.last! - manyStart))],
              ])
        let refused = sink.snapshot().refused + drained.refused + many.refused
        report.add("requests the emulator refused", "requests", Double(refused))
        if refused > 0 { report.line("the emulator refused \(refused) requests") }
        report.line(String(format: "(the drain's rows were all stored after %.1f s)", Self.seconds(drainInserted)))
        report.table("Lateness of actions coming due at \(dueRate)/s over \(dueSeconds) s (due time → request at Kommo), \(defaultAccounts) accounts at 7/s",
              ["actions", "p50 ms", "p99 ms", "max ms"], [
                  [lateTotal.formatted(), String(format: "%.0f", late.percentile(0.5) / 1000), String(format: "%.0f", late.percentile(0.99) / 1000),
                   String(format: "%.0f", (lateness.max() ?? 0) / 1000)],
              ])
        report.line("goals: RSS does not grow with pending count; lateness p99 ≤ 1 s below the Kommo rate limit")
        return report
    }

    // MARK: - Helpers

    struct PendingRow {
        var tenant: String
        var key: String
        var leadID: Int64
        var dueAt: Int64
    }

    /// A rule's `create_task` as rules-service plans it.
    static func planned(_ key: String, lead: Int64) -> PlannedActionRecord {
        PlannedActionRecord(idempotencyKey: key, ruleID: "rule_bench", agentID: "agent_bench", eventID: "ev_bench", leadID: lead,
                            action: Action(type: .createTask, text: "Call back", dueInSeconds: 3600))
    }

    /// Rows due later, as a delayed step or action sits in the schedule.
    static func insert(_ rows: [PendingRow], into db: DatabasePool) async throws {
        let now = Date().unixMicros
        try await db.write { db in
            let statement = try db.makeStatement(sql: """
                INSERT INTO action (tenant_id, idempotency_key, kind, action_type, action, lead_id, rule_id, agent_id, event_id, due_at, created_at)
                VALUES (?, ?, 'action', 'create_task', ?, ?, ?, ?, ?, ?, ?)
                """)
            for row in rows {
                try statement.execute(arguments: [row.tenant, row.key, #"{"type": "create_task", "text": "Call {{lead.name}} back", "due_in_seconds": 3600}"#,
                                                  row.leadID, "rule_4f1c2a9e", "agent_7d03b6c1", String(row.key.prefix(20)), row.dueAt, now])
            }
        }
    }

    /// Pages in use (not free) times the page size.
    static func usedBytes(_ db: DatabasePool) async throws -> Int64 {
        try await db.read { db in
            let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            let free = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
            let size = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 0
            return (pages - free) * size
        }
    }

    static func waitFor(_ sink: KommoSink, count: Int, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while sink.snapshot().count < count {
            guard ContinuousClock.now < deadline else {
                throw ValidationError("only \(sink.snapshot().count) of \(count) requests reached the emulator")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        duration.fractionalSeconds
    }
}

/// Resident memory of a process, from `/proc/<pid>/status`, in bytes.
struct Memory {
    var rss: Int64 = 0
    var anonymous: Int64 = 0
    var file: Int64 = 0

    init(pid: Int32) {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let kib = Int64(parts[1].trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "") else { continue }
            switch parts[0] {
            case "VmRSS": rss = kib * 1024
            case "RssAnon": anonymous = kib * 1024
            case "RssFile": file = kib * 1024
            default: break
            }
        }
    }

    var mebibytes: Double { Double(rss) / 1_048_576 }

    var text: String {
        String(format: "%.1f MiB (anonymous %.1f, file %.1f)", Double(rss) / 1_048_576, Double(anonymous) / 1_048_576, Double(file) / 1_048_576)
    }
}

// MARK: - Kommo emulator

/// Answers `POST …/api/v4/tasks` as Kommo does (`_embedded.tasks[{id, request_id}]`) on loopback and
/// counts what arrives; a path prefix before `/api` names the account, so one server stands for many.
/// Request ids of the form `late:<due micros>:<n>` give the lateness of their action.
final class KommoSink: Sendable {
    struct Snapshot {
        /// Tasks created.
        var count = 0
        /// Every request answered, reads of leads included.
        var requests = 0
        var last: ContinuousClock.Instant?
        var lateness: [Double] = []
        var refused = 0
        /// With `recordArrivals`: when each task's request arrived (wall clock, µs), by its `request_id`,
        /// and when each account's task requests arrived.
        var arrivals: [String: Int64] = [:]
        var accountRequests: [String: [Int64]] = [:]
    }

    let token: String
    let recordArrivals: Bool
    private let state = Mutex(Snapshot())
    private let nextID = Atomic<Int64>(1)

    init(token: String, recordArrivals: Bool = false) {
        self.token = token
        self.recordArrivals = recordArrivals
    }

    func reset() { state.withLock { $0 = Snapshot() } }
    func snapshot() -> Snapshot { state.withLock { $0 } }

    /// A lead as Kommo returns it, named after its id.
    static func lead(_ id: Int64) -> String {
        #"{"id":\#(id),"name":"Lead \#(id)","status_id":61234501,"pipeline_id":7100001,"price":0,"_embedded":{"tags":[],"contacts":[]}}"#
    }

    /// The answer to one request.
    func answer(_ head: HTTPRequestHead, body: ByteBuffer) -> (HTTPResponseStatus, String) {
        guard head.headers.first(name: "Authorization") == "Bearer \(token)" else {
            state.withLock { $0.refused += 1 }
            return (.unauthorized, #"{"title":"Unauthorized","status":401}"#)
        }
        // A template naming lead values reads the lead first: `GET …/api/v4/leads/{id}?with=contacts`.
        if head.method == .GET, let range = head.uri.range(of: "/api/v4/leads/") {
            let id = head.uri[range.upperBound...].prefix { $0.isNumber }
            state.withLock { $0.requests += 1 }
            return (.ok, Self.lead(Int64(id) ?? 0))
        }
        // Reads batched by the executor: `GET …/api/v4/leads?filter[id][]=…&with=contacts`, brackets percent-encoded.
        if head.method == .GET, let range = head.uri.range(of: "/api/v4/leads?") {
            let query = head.uri[range.upperBound...].replacingOccurrences(of: "%5B", with: "[").replacingOccurrences(of: "%5D", with: "]")
            let ids = query.split(separator: "&").compactMap { $0.hasPrefix("filter[id][]=") ? Int64($0.dropFirst("filter[id][]=".count)) : nil }
            state.withLock { $0.requests += 1 }
            let leads = ids.map { Self.lead($0) }.joined(separator: ",")
            return (.ok, #"{"_page":1,"_links":{},"_embedded":{"leads":[\#(leads)]}}"#)
        }
        guard head.method == .POST, head.uri.hasSuffix("/api/v4/tasks") else {
            state.withLock { $0.refused += 1 }
            return (.notFound, #"{"title":"Not Found","status":404}"#)
        }
        let now = Date().unixMicros
        let tasks = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [[String: Any]] ?? []
        var answered: [String] = []
        var lateness: [Double] = []
        for task in tasks {
            let requestID = task["request_id"] as? String ?? ""
            let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
            answered.append(#"{"id":\#(id),"request_id":"\#(requestID)"}"#)
            let parts = requestID.split(separator: ":")
            if parts.count == 3, parts[0] == "late", let due = Int64(parts[1]) { lateness.append(Double(now - due)) }
        }
        let account = head.uri.range(of: "/api/v4/").map { String(head.uri[..<$0.lowerBound]) } ?? ""
        let requestIDs = recordArrivals ? tasks.map { $0["request_id"] as? String ?? "" } : []
        state.withLock {
            $0.count += tasks.count
            $0.requests += 1
            $0.last = ContinuousClock.now
            $0.lateness += lateness
            for requestID in requestIDs { $0.arrivals[requestID] = now }
            if recordArrivals { $0.accountRequests[account, default: []].append(now) }
        }
        return (.ok, #"{"_links":{},"_embedded":{"tasks":[\#(answered.joined(separator: ","))]}}"#)
    }

    /// Serves `sink` on a free loopback port.
    static func serve(_ sink: KommoSink) async throws -> (channel: any Channel, port: Int) {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(KommoSinkHandler(sink: sink))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return (channel, channel.localAddress?.port ?? 0)
    }
}

/// One connection of the emulator: collects a request, answers it.
private final class KommoSinkHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let sink: KommoSink
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()

    init(sink: KommoSink) {
        self.sink = sink
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
        case .body(var part):
            body.writeBuffer(&part)
        case .end:
            guard let head else { return }
            let (status, text) = sink.answer(head, body: body)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/hal+json")
            headers.add(name: "Content-Length", value: "\(text.utf8.count)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: text)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
