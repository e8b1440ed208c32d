import TestSupport
import Foundation
import NIOCore
import NIOPosix
import Sequences
import ServiceKit
import Testing
import Wire

/// The built `sequence-service` binary, run as a child process so that it can really be killed.
private let binary: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent(".build/debug/sequence-service").path

/// A port nobody listens on right now.

/// One run of the child process.
private final class Child {
    let process = Process()

    init(port: Int, dataDir: String, secretsKey: String) throws {
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--rpc-port", "\(port)", "--data-dir", dataDir,
                             "--ingest-address", "127.0.0.1:1", "--rules-address", "127.0.0.1:1",
                             "--egress-allow-private", "--egress-allowed-hosts", "127.0.0.1",
                             "--tls-ca", TestPKI.folder + "/ca.pem", "--tls-cert", TestPKI.folder + "/sequence-service.pem",
                             "--tls-key", TestPKI.folder + "/sequence-service.key"]
        var environment = ProcessInfo.processInfo.environment
        environment["LOG_LEVEL"] = "warning"
        environment["SECRETS_KEY"] = secretsKey
        process.environment = environment
        let logPath = dataDir + "/child.log"
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    func kill9() async {
        kill(process.processIdentifier, SIGKILL)
        await waitForExit(process)
    }

    /// Asks the process to stop; it drains and exits on its own.
    func stop() {
        if process.isRunning { process.terminate() }
    }
}

@Suite(.serialized) struct CrashSafetyTests {
    /// 1,000 due tasks, sent in batches (each answered after a short stall, so one is in flight when the
    /// kill comes); the service is SIGKILLed while sending them and started again. Each action is
    /// carried out exactly once: the action log shows each succeeded once, and Kommo (the emulator, which
    /// dedupes by `request_id` as a receiver can) holds exactly 1,000 tasks. Requests in flight at the kill
    /// are in doubt and sent again under the same `request_id`; how many is printed.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary), "needs .build/debug/sequence-service"))
    func killNineLosesNothing() async throws {
        let kommo = KommoEmulator()
        let total = 1000
        try await withTestServer(kommo.handle) { kommoPort in
            let dataDir = temporaryFolder("crash")
            let key = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
            // The port is picked free and then bound by the child: on a busy machine another test may take
            // it in between, and the child then exits at once. Such a start is retried on a new port.
            @Sendable func tasks() -> [String] {
                kommo.taskRequestIDs
            }
            var started: (port: Int, child: Child, connection: RPCConnection)?
            attempts: for _ in 0..<5 {
                let port = try freePort()
                let child = try Child(port: port, dataDir: dataDir, secretsKey: key)
                let connection = RPCConnection(host: "127.0.0.1", port: port, security: TestPKI.security("harness"), logger: quietLogger)
                let probe = TenantCalls(client: SequencesClient(connection: connection), tenant: "acme")
                let deadline = ContinuousClock.now + .seconds(30)
                while ContinuousClock.now < deadline && child.process.isRunning {
                    if (try? await probe.integrations()) != nil { started = (port, child, connection); break attempts }
                    try await Task.sleep(for: .milliseconds(50))
                }
                connection.close()
                child.stop()
                await waitForExit(child.process)
            }
            let (port, first, connection) = try #require(started, "the child did not start; see \(dataDir)/child.log")
            var running = first
            defer { running.stop() }
            defer { connection.close() }
            let acme = TenantCalls(client: SequencesClient(connection: connection), tenant: "acme")
            func waitReady() async throws {
                try await eventually(timeout: .seconds(30), "the child to answer") {
                    (try? await acme.integrations()) != nil
                }
            }
            // Every batch is answered 200 ms after it arrives: the kill finds one in flight.
            kommo.enqueue(.stall(.milliseconds(200)), times: 200)
            try await acme.updateIntegrations("""
                {"kommo": {"base_url": "http://127.0.0.1:\(kommoPort)", "access_token": "\(kommo.token)", "rate_limit_per_second": 300}}
                """)
            for batch in stride(from: 0, to: total, by: 250) {
                let actions = (batch..<min(total, batch + 250)).map { index in
                    planned("crash-\(index)", #"{"type": "create_task", "text": "Call", "due_in_seconds": 60}"#, lead: Int64(index + 1))
                }
                let answer = try await acme.schedule(actions)
                #expect(answer.accepted == Int32(actions.count))
            }
            try await eventually(timeout: .seconds(60), "a third of the tasks") { tasks().count >= total / 3 }
            await running.kill9()
            let atKill = tasks().count

            running = try Child(port: port, dataDir: dataDir, secretsKey: key)
            try await waitReady()
            try await eventually(timeout: .seconds(120), "every request_id") { Set(tasks()).count == total }
            // Let stragglers arrive before counting.
            try await Task.sleep(for: .milliseconds(500))
            let sent = tasks()
            let unique = Set(sent)
            print("kill -9: \(atKill) task requests before the kill; after restart \(sent.count) in total, \(unique.count) unique request_ids, \(sent.count - unique.count) repeated")
            #expect(unique.count == total)
            #expect(unique == Set((0..<total).map { "crash-\($0)" }))
            #expect(kommo.tasksCreated == total)

            // The action log ends with every action succeeded exactly once.
            try await eventually(timeout: .seconds(30), "the log") {
                let succeeded = try await acme.actionLog(pageSize: 500).filter { $0["outcome"]?.string == "succeeded" }
                return Set(succeeded.compactMap { $0["idempotency_key"]?.string }).count == total
            }
            let log = try await acme.actionLog(pageSize: 500)
            let succeeded = log.filter { $0["outcome"]?.string == "succeeded" }
            #expect(succeeded.count == total)
            #expect(Set(succeeded.compactMap { $0["idempotency_key"]?.string }).count == total)
            // Only attempts that had started when the process died are repeated, and the log says so:
            // every repeated request belongs to one of them, and there are no more than ran at once.
            let inDoubt = Set(log.filter { ($0["detail"]?.string ?? "").hasPrefix(Scheduler.inDoubtRemark) }
                .compactMap { $0["idempotency_key"]?.string })
            let repeated = Set(Dictionary(grouping: sent, by: { $0 }).filter { $0.value.count > 1 }.keys)
            print("kill -9: \(inDoubt.count) actions in doubt after the restart, \(repeated.count) of them had reached Kommo before the kill")
            #expect(repeated.isSubset(of: inDoubt))
            // The tasks went out in batches, and a batch cut short by the kill was repeated item by item.
            let requests = kommo.requests("POST", "/api/v4/tasks").count
            print("kill -9: \(requests) batch requests for \(sent.count) task elements")
            #expect(requests * 10 < sent.count)
            #expect(!repeated.isEmpty, "no batch was in flight at the kill")
            #expect(inDoubt.count <= SchedulerSettings().concurrency)
            #expect(kommo.violations.isEmpty)

            // The analytics counters, kept in the same transactions, agree across the kill: every action
            // counted once as succeeded, every lead touched once, and nothing else counted as an outcome.
            var query = PB.AnalyticsQuery()
            query.fromHour = AnalyticsCounters.hour(micros: Date().addingTimeInterval(-86_400).unixMicros)
            query.toHour = query.fromHour + 72
            let counted = try await SequencesClient(connection: connection).analyticsCounters(query, options: CallOptions(timeout: .seconds(30), tenantID: "acme"))
            let counts = counted.counts.reduce(into: [String: Int64]()) { $0[$1.key, default: 0] += $1.value }
            #expect(counts.filter { $0.key.hasPrefix("actions.") } == ["actions.create_task.succeeded": Int64(total)], "\(counts)")
            #expect(counts["leads.touched"] == Int64(total))
        }
    }
}
