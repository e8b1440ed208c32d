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
            return ["--http-port", "\(ports[name]!)", "--data-dir", data + "/gateway", "--admin-token", "smoke-admin-token-0123456789", "--no-demo"] + peers
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

    func kill(_ name: String, signal: Int32 = SIGKILL) {
        guard let process = processes[name] else { return }
        Foundation.kill(process.processIdentifier, signal)
        process.waitUntilExit()
    }

    func stopAll() {
        for (_, process) in processes where process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    func readiness() async throws -> (status: Int, body: [String: Any]) {
        let client = HTTPTestClient(port: ports["gateway"]!)
        let answer = try await client.request(.GET, "/readyz")
        return (answer.status, answer.json)
    }
}

/// A port that was free a moment ago.
func freePort() throws -> Int {
    let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
    let port = channel.localAddress?.port ?? 0
    try channel.close().wait()
    return port
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

        system.kill("rules-service")
        let down = try await eventually(timeout: .seconds(15)) { (try? await system.readiness().status) == 503 }
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
