import Basics
import Domain
import TestSupport
import Foundation
import Hummingbird
import Crypto
import Logging
import Metrics
import Sequences
import ServiceKit
import ServiceLifecycle
import Synchronization
import Testing
import Wire

// MARK: - Running the real sequence-service


/// A stand-in rules-service: answers GetAgentContext with a fixed agent and records Record calls.
final class StubRules: PartialRulesHandler {
    private let state = Mutex<(records: [PB.RecordRequest], contextCalls: Int)>(([], 0))
    let context: PB.AgentContext

    init(context: PB.AgentContext = StubRules.defaultContext) { self.context = context }

    var records: [PB.RecordRequest] { state.withLock { $0.records } }
    var ownWrites: [PB.OwnWrite] { records.flatMap(\.ownWrites) }
    var scriptUses: [PB.ScriptUse] { records.flatMap(\.scriptUses) }

    func getAgentContext(_ request: PB.AgentContextRequest, context rpc: RPCContext) async throws -> PB.AgentContext {
        guard request.agentId == context.agentId else { throw RPCError(.notFound, "no such agent") }
        state.withLock { $0.contextCalls += 1 }
        return context
    }

    func record(_ request: PB.RecordRequest, context: RPCContext) async throws -> PB.Empty {
        state.withLock { $0.records.append(request) }
        return PB.Empty()
    }

    static var defaultContext: PB.AgentContext {
        var context = PB.AgentContext()
        context.agentId = "agent-1"
        context.agentName = "Sofia"
        context.persona = "Friendly and brief."
        var greeting = PB.ScriptRef()
        greeting.id = "greet"
        greeting.version = 3
        greeting.type = .greeting
        greeting.name = "Greeting"
        greeting.body = "Hi {{contact.first_name|there}}, I'm {{agent.name}}. How can I help?"
        context.scripts = [greeting]
        return context
    }
}

/// The real sequence-service on port 0 (temporary folder, stand-in rules-service), and a client over TCP.
struct SequenceHarness: Sendable {
    let client: SequencesClient
    let rules: StubRules
    let dataDir: String

    /// Executors that retry fast so tests do not wait.
    static let fastExecutor = ExecutorSettings(kommoRetry: fastRetry, webhookRetry: fastRetry, aiRetry: fastRetry)

    static func run(egress: EgressPolicy = .loopbackTesting, executor: ExecutorSettings = fastExecutor,
                    budget: KommoBudgetSettings = KommoBudgetSettings(),
                    metrics: any MetricsFactory = MetricsSystem.factory,
                    _ body: @Sendable (SequenceHarness) async throws -> Void) async throws {
        let rules = StubRules()
        let rulesServer = try await RPCServer(configuration: RPCServerConfiguration(port: 0), routes: rules.routes,
                                              security: TestPKI.security("rules-service"), logger: quietLogger)
        let dataDir = temporaryFolder("sequence")
        let process = try await SequenceProcess.build(
            settings: ServiceSettings(rpcPort: 0, dataDir: dataDir, security: TestPKI.security("sequence-service")),
            configuration: SequenceConfiguration(
                ingestAddress: PeerAddress(host: "127.0.0.1", port: 1),
                rulesAddress: PeerAddress(host: "127.0.0.1", port: rulesServer.port),
                egress: egress),
            logger: quietLogger,
            scheduler: SchedulerSettings(pollInterval: .milliseconds(20)),
            executor: executor, budget: budget, probeTick: .milliseconds(50), metrics: metrics)
        try await withServices([rulesServer] + process.services) {
            let connection = RPCConnection(host: "127.0.0.1", port: process.port, security: TestPKI.security("harness"), logger: quietLogger)
            defer { connection.close() }
            try await body(SequenceHarness(client: SequencesClient(connection: connection), rules: rules, dataDir: dataDir))
        }
    }
}

// MARK: - Calls

/// Requests for one tenant.
struct TenantCalls: Sendable {
    let client: SequencesClient
    let tenant: String
    var options: CallOptions { CallOptions(timeout: .seconds(30), tenantID: tenant) }

    @discardableResult
    func updateIntegrations(_ json: String, ifVersion: Int64 = 0) async throws -> PB.Document {
        var write = PB.DocumentWrite()
        write.json = json
        write.ifVersion = ifVersion
        return try await client.updateIntegrations(write, options: options)
    }

    func integrations() async throws -> PB.Document {
        try await client.getIntegrations(PB.DocumentRef(), options: options)
    }

    @discardableResult
    func schedule(_ actions: [PB.PlannedAction]) async throws -> PB.ScheduleResponse {
        var request = PB.ScheduleRequest()
        request.actions = actions
        return try await client.schedule(request, options: options)
    }

    /// Every action log entry, newest first, following cursors.
    func actionLog(lead: Int64? = nil, pageSize: Int32 = 100) async throws -> [JSONValue] {
        var items: [JSONValue] = []
        var cursor = ""
        repeat {
            var query = PB.DocumentQuery()
            query.limit = pageSize
            query.cursor = cursor
            if let lead { query.filters = [PB.KeyValue(key: "lead_id", value: String(lead))] }
            let page = try await client.listActions(query, options: options)
            items += page.items.compactMap { JSONValue(parsing: Array($0.json.utf8)) }
            cursor = page.nextCursor
        } while !cursor.isEmpty
        return items
    }

    func timeline(lead: Int64, limit: Int32 = 50, cursor: String = "") async throws -> PB.DocumentPage {
        var query = PB.LeadQuery()
        query.leadId = lead
        query.limit = limit
        query.cursor = cursor
        return try await client.leadTimeline(query, options: options)
    }
}

extension SequenceHarness {
    func tenant(_ id: String) -> TenantCalls { TenantCalls(client: client, tenant: id) }
}

/// A planned action as rules-service hands it over; `json` is the rule's action document.
func planned(_ key: String, _ json: String, lead: Int64 = 77, agent: String = "agent-1", rule: String = "rule-1") -> PB.PlannedAction {
    var action = PB.PlannedAction()
    action.idempotencyKey = key
    do {
        action.action = PB.Action(try RuleJSON.decode(Action.self, from: Data(json.utf8)))
    } catch {
        Issue.record("not an action document: \(json): \(error)")
    }
    action.leadId = lead
    action.agentId = agent
    action.ruleId = rule
    action.eventId = "ev-\(key)"
    return action
}

/// Waits until `condition` holds, checking every 20 ms; fails the test after `timeout`.
func eventually(timeout: Duration = .seconds(30), _ what: String = "condition",
                _ condition: @Sendable () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("timed out waiting for \(what)")
    throw TestServerError.didNotStart
}

/// The RPC error a call failed with, or `nil` when it succeeded.
func rpcFailure<T>(_ body: () async throws -> T) async -> RPCError? {
    do {
        _ = try await body()
        return nil
    } catch {
        return error as? RPCError ?? RPCError(.unknown, "not an RPC error: \(error)")
    }
}

extension PB.Document {
    var object: JSONValue { JSONValue(parsing: Array(json.utf8)) ?? .null }
}

// MARK: - Webhook receiver

/// An outgoing-webhook receiver verifying Standard Webhooks signatures with its own HMAC.
final class SigningReceiver: Sendable {
    private let state = Mutex<(key: [UInt8], received: [ReceivedRequest], verified: [Bool])>(([], [], []))

    func use(secret: String) {
        let key: [UInt8] = secret.hasPrefix("whsec_") ? Array(Data(base64Encoded: String(secret.dropFirst(6))) ?? Data()) : Array(secret.utf8)
        state.withLock { $0.key = key }
    }

    var received: [ReceivedRequest] { state.withLock { $0.received } }
    var verified: [Bool] { state.withLock { $0.verified } }

    @Sendable func handle(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let received = ReceivedRequest(request, body: try await request.body.collect(upTo: 1 << 20))
        let id = received.headers["webhook-id"] ?? ""
        let timestamp = received.headers["webhook-timestamp"] ?? ""
        let ok = state.withLock { state -> Bool in
            let signed = Array("\(id).\(timestamp).".utf8) + received.body
            let expected = "v1," + Data(HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: state.key))).base64EncodedString()
            let ok = (received.headers["webhook-signature"] ?? "").split(separator: " ").contains { $0 == expected }
            state.received.append(received)
            state.verified.append(ok)
            return ok
        }
        return ok ? Reply.empty(204) : Reply.json(401, #"{"title":"Unauthorized","detail":"bad signature"}"#)
    }
}
