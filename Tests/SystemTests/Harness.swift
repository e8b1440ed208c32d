import TestSupport
import AsyncHTTPClient
import Foundation
import Gateway
import Hummingbird
import Ingest
import Rules
import Sequences
import Logging
import NIOCore
import NIOHTTP1
import ServiceKit
import ServiceLifecycle
import Synchronization
import Testing
import Wire

/// An RPC server for tests, running as a service.
struct TestRPCService: Service {
    let server: RPCServer
    static func make(_ routes: [RPCRoute], as identity: String) async throws -> TestRPCService {
        TestRPCService(server: try await RPCServer(configuration: RPCServerConfiguration(port: 0), routes: routes,
                                                   security: TestPKI.security(identity), logger: quietLogger))
    }
    var port: Int { server.port }
    func run() async throws { try await server.run() }
}

/// A stand-in rules-service: records what it is asked, can fail the first calls, and decides one
/// `create_task` action for every stage change.
final class RecordingRules: PartialRulesHandler {
    let calls = Locked<[PB.Event]>([])
    let failFirst: Int
    init(failFirst: Int = 0) { self.failFirst = failFirst }

    func evaluate(_ request: PB.EvaluateRequest, context: RPCContext) async throws -> PB.Decision {
        let count = calls.withLock { calls -> Int in
            calls.append(request.event ?? PB.Event())
            return calls.count
        }
        if count <= failFirst { throw RPCError(.internal, "rules store locked") }
        var decision = PB.Decision()
        decision.eventId = request.event?.id ?? ""
        if request.event?.type == .stageChanged {
            var action = PB.PlannedAction()
            action.idempotencyKey = decision.eventId + ":rule-1:0"
            action.ruleId = "rule-1"
            var task = PB.Action.CreateTask()
            task.text = "Call the lead"
            action.action = PB.Action()
            action.action?.kind = .createTask(task)
            action.leadId = request.event?.leadId ?? 0
            decision.actions = [action]
        }
        return decision
    }
}

/// A stand-in sequence-service that records Schedule and OnEvent calls and can fail the first ones.
final class RecordingSequences: PartialSequencesHandler {
    let scheduled = Locked<[PB.ScheduleRequest]>([])
    let events = Locked<[PB.Event]>([])
    let attempts = Locked<Int>(0)
    let failFirst: Int
    init(failFirst: Int = 0) { self.failFirst = failFirst }

    private func maybeFail() throws {
        let count = attempts.withLock { $0 += 1; return $0 }
        if count <= failFirst { throw RPCError(.internal, "sequence store busy") }
    }

    func schedule(_ request: PB.ScheduleRequest, context: RPCContext) async throws -> PB.ScheduleResponse {
        try maybeFail()
        scheduled.withLock { $0.append(request) }
        var response = PB.ScheduleResponse()
        response.accepted = Int32(request.actions.count)
        return response
    }

    func onEvent(_ request: PB.OnEventRequest, context: RPCContext) async throws -> PB.OnEventResponse {
        try maybeFail()
        events.withLock { $0.append(request.event ?? PB.Event()) }
        return PB.OnEventResponse()
    }
}

/// ingest-service (real), rules and sequences (recording stand-ins or real), and the gateway, in process.
struct IngestSystem {
    let ingest: ServiceProcess
    let rules: TestRPCService
    let sequences: TestRPCService
    let gatewayPort: Locked<Int>
    let gatewayServices: [any Service]
    let adminToken = "test-admin-token-0123456789abcdef0123456789abcdef0123456789"

    static func make(rules: any RulesHandler, sequences: any SequencesHandler, dispatch: DispatchSettings? = nil) async throws -> IngestSystem {
        let rulesService = try await TestRPCService.make(HealthServerStub.routes + rules.routes, as: "rules-service")
        let sequenceService = try await TestRPCService.make(HealthServerStub.routes + sequences.routes, as: "sequence-service")
        let ingest = try await IngestProcess.build(
            settings: ServiceSettings(rpcPort: 0, dataDir: temporaryFolder("ingest"), security: TestPKI.security("ingest-service")),
            configuration: IngestConfiguration(
                rulesAddress: PeerAddress(host: "127.0.0.1", port: rulesService.port),
                sequenceAddress: PeerAddress(host: "127.0.0.1", port: sequenceService.port)),
            logger: quietLogger,
            dispatch: dispatch ?? DispatchSettings(initialBackoff: .milliseconds(20), maximumBackoff: .milliseconds(200), pollInterval: .milliseconds(20)))
        let port = Locked(0)
        let app = try await GatewayApp.build(
            configuration: GatewayConfiguration(
                httpPort: 0, dataDir: temporaryFolder("gateway"),
                ingestAddress: PeerAddress(host: "127.0.0.1", port: ingest.port),
                rulesAddress: PeerAddress(host: "127.0.0.1", port: rulesService.port),
                sequenceAddress: PeerAddress(host: "127.0.0.1", port: sequenceService.port),
                publicBaseURL: "http://kommo-agents.test", adminToken: "test-admin-token-0123456789abcdef0123456789abcdef0123456789",
                rpcTimeout: .seconds(30), webhookTimeout: .seconds(30), rpcSecurity: TestPKI.security("gateway")),
            logger: quietLogger,
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port ?? 0 } })
        return IngestSystem(ingest: ingest, rules: rulesService, sequences: sequenceService, gatewayPort: port,
                            gatewayServices: [app])
    }

    var services: [any Service] { [rules, sequences] + ingest.services + gatewayServices }

    func run<T: Sendable>(_ body: @Sendable (HTTPTestClient) async throws -> T) async throws -> T {
        try await withServices(services) {
            for _ in 0..<3000 where gatewayPort.value == 0 { try await Task.sleep(for: .milliseconds(10)) }
            return try await body(HTTPTestClient(port: gatewayPort.value))
        }
    }
}

/// Health for stand-in services.
enum HealthServerStub: HealthHandler {
    case serving
    static var routes: [RPCRoute] { HealthServerStub.serving.routes }
    func check(_ request: PB.HealthCheckRequest, context: RPCContext) async throws -> PB.HealthCheckResponse {
        var response = PB.HealthCheckResponse()
        response.status = .serving
        return response
    }
}

/// A small HTTP client for talking to the gateway over real TCP.
struct HTTPTestClient: Sendable {
    let port: Int
    var base: String { "http://127.0.0.1:\(port)" }

    struct Answer: Sendable {
        let status: Int
        let headers: HTTPHeaders
        let body: Data
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    func request(_ method: HTTPMethod, _ path: String, body: Data? = nil, contentType: String? = "application/json",
                 token: String? = nil, headers extra: [(String, String)] = []) async throws -> Answer {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let contentType, body != nil { request.headers.add(name: "Content-Type", value: contentType) }
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let buffer = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return Answer(status: Int(response.status.code), headers: response.headers, body: Data(buffer.readableBytesView))
    }

    func json(_ method: HTTPMethod, _ path: String, _ object: [String: Any], token: String? = nil) async throws -> Answer {
        try await request(method, path, body: try JSONSerialization.data(withJSONObject: object), token: token)
    }

    /// Creates a tenant through the admin API; returns (tenant id, api key, webhook secret).
    func createTenant(admin: String, name: String = "acme") async throws -> (id: String, key: String, secret: String) {
        let answer = try await json(.POST, "/api/v1/tenants", ["name": name], token: admin)
        #expect(answer.status == 201, "\(answer.text)")
        let tenant = answer.json["tenant"] as? [String: Any] ?? [:]
        let url = answer.json["webhook_url"] as? String ?? ""
        return (tenant["id"] as? String ?? "", answer.json["api_key"] as? String ?? "", String(url.split(separator: "/").last ?? ""))
    }

    func postWebhook(secret: String, body: Data, contentType: String = "application/x-www-form-urlencoded") async throws -> Answer {
        try await request(.POST, "/webhooks/kommo/\(secret)", body: body, contentType: contentType,
                          headers: [("User-Agent", "amoCRM-WebHook-client/1.0")])
    }
}

/// The Kommo webhook fixtures in `Tests/Fixtures/kommo`, or the folder named by `KOMMO_FIXTURES`.
enum Fixtures {
    static var folder: String {
        if let custom = ProcessInfo.processInfo.environment["KOMMO_FIXTURES"] { return custom }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/kommo").path
    }

    static func body(_ name: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: folder).appendingPathComponent(name + ".form"))
    }
}

/// Polls until `condition` holds or the time is up.
func eventually(timeout: Duration = .seconds(30), _ condition: @Sendable () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(25))
    }
    return try await condition()
}

/// All four parts real and in process: gateway, ingest, rules, sequences.
struct FullSystem {
    let processes: [ServiceProcess]
    let gatewayPort: Locked<Int>
    let gateway: any Service
    let adminToken = "test-admin-token-0123456789abcdef0123456789abcdef0123456789"

    let gatewayData: String

    /// `dataRoot`: one folder holding `ingest`, `rules`, `sequence`, `gateway` and `keys` (as a deployment
    /// has them), for tests that start the system over stores written earlier; by default each process
    /// gets a fresh temporary folder.
    static func make(clock: any WallClock = SystemClock(), firstRunDemo: Bool = false, rateLimit: Double = 50,
                     gatewayLogger: Logger = quietLogger, dataRoot: String? = nil,
                     tune: @Sendable (inout GatewayConfiguration) -> Void = { _ in },
                     tuneSequences: @Sendable (inout SequenceConfiguration) -> Void = { _ in }) async throws -> FullSystem {
        // The port chosen for ingest can be taken by another test before ingest binds it: try again.
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await makeOnce(clock: clock, firstRunDemo: firstRunDemo, rateLimit: rateLimit, gatewayLogger: gatewayLogger,
                                          folders: DataFolders(root: dataRoot), tune: tune, tuneSequences: tuneSequences)
            } catch where attempt < 5 {
                continue
            }
        }
    }

    private static func makeOnce(clock: any WallClock, firstRunDemo: Bool, rateLimit: Double,
                                 gatewayLogger: Logger, folders: DataFolders,
                                 tune: @Sendable (inout GatewayConfiguration) -> Void,
                                 tuneSequences: @Sendable (inout SequenceConfiguration) -> Void) async throws -> FullSystem {
        let rules = try await RulesProcess.build(settings: ServiceSettings(rpcPort: 0, dataDir: folders.path("rules"), security: TestPKI.security("rules-service")), logger: quietLogger, clock: clock)
        // Ports first: ingest and sequences need each other's address.
        let ingestPort = try freePort()
        var sequenceConfiguration = SequenceConfiguration(ingestAddress: PeerAddress(host: "127.0.0.1", port: ingestPort),
                                                          rulesAddress: PeerAddress(host: "127.0.0.1", port: rules.port), egress: .loopbackTesting)
        tuneSequences(&sequenceConfiguration)
        let sequences = try await SequenceProcess.build(
            settings: ServiceSettings(rpcPort: 0, dataDir: folders.path("sequence"), security: TestPKI.security("sequence-service")),
            configuration: sequenceConfiguration, logger: quietLogger, clock: clock)
        let ingest: ServiceProcess
        do {
            ingest = try await buildIngest(port: ingestPort, rules: rules, sequences: sequences, clock: clock,
                                           dataDir: folders.path("ingest"))
        } catch {
            // Built processes own resources (listeners, an HTTP client) that only a run releases.
            _ = try? await withServices(rules.services + sequences.services) {}
            throw error
        }
        return try await finish(rules: rules, sequences: sequences, ingest: ingest, firstRunDemo: firstRunDemo,
                                rateLimit: rateLimit, gatewayLogger: gatewayLogger, gatewayData: folders.path("gateway"), tune: tune)
    }

    private static func buildIngest(port ingestPort: Int, rules: ServiceProcess, sequences: ServiceProcess,
                                    clock: any WallClock, dataDir: String) async throws -> ServiceProcess {
        try await IngestProcess.build(
            settings: ServiceSettings(rpcPort: ingestPort, dataDir: dataDir, security: TestPKI.security("ingest-service")),
            configuration: IngestConfiguration(rulesAddress: PeerAddress(host: "127.0.0.1", port: rules.port),
                                               sequenceAddress: PeerAddress(host: "127.0.0.1", port: sequences.port)),
            logger: quietLogger, clock: clock,
            dispatch: DispatchSettings(initialBackoff: .milliseconds(20), maximumBackoff: .milliseconds(200), pollInterval: .milliseconds(20)))
    }

    private static func finish(rules: ServiceProcess, sequences: ServiceProcess, ingest: ServiceProcess, firstRunDemo: Bool,
                               rateLimit: Double, gatewayLogger: Logger, gatewayData: String,
                               tune: @Sendable (inout GatewayConfiguration) -> Void) async throws -> FullSystem {
        let port = Locked(0)
        var configuration = GatewayConfiguration(
                httpPort: 0, dataDir: gatewayData,
                ingestAddress: PeerAddress(host: "127.0.0.1", port: ingest.port),
                rulesAddress: PeerAddress(host: "127.0.0.1", port: rules.port),
                sequenceAddress: PeerAddress(host: "127.0.0.1", port: sequences.port),
                publicBaseURL: "http://kommo-agents.test", adminToken: "test-admin-token-0123456789abcdef0123456789abcdef0123456789", rpcTimeout: .seconds(30), webhookTimeout: .seconds(30), firstRunDemo: firstRunDemo,
                rateLimitPerSecond: rateLimit, rateLimitBurst: rateLimit * 2, rpcSecurity: TestPKI.security("gateway"))
        tune(&configuration)
        let app = try await GatewayApp.build(
            configuration: configuration,
            logger: gatewayLogger,
            onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port ?? 0 } })
        return FullSystem(processes: [rules, sequences, ingest], gatewayPort: port, gateway: app, gatewayData: gatewayData)
    }

    func run<T: Sendable>(_ body: @Sendable (HTTPTestClient) async throws -> T) async throws -> T {
        try await withServices(processes.flatMap(\.services) + [gateway]) {
            for _ in 0..<3000 where gatewayPort.value == 0 { try await Task.sleep(for: .milliseconds(10)) }
            return try await body(HTTPTestClient(port: gatewayPort.value))
        }
    }
}

/// Where each process of a `FullSystem` keeps its data.
struct DataFolders {
    let root: String?
    func path(_ service: String) -> String {
        guard let root else { return temporaryFolder(service) }
        return root + "/" + service
    }
}

/// A log handler that keeps every line, for tests that read what was logged.
struct CapturingLogHandler: LogHandler {
    let lines: Locked<[String]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let line = "\(event.level) \(event.message) " + merged.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        lines.withLock { $0.append(line) }
    }
}
