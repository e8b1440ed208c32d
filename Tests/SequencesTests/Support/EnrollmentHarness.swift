import Basics
import TestSupport
import Foundation
import Logging
import Sequences
import ServiceKit
import Synchronization
import Testing
import Wire

/// Records the steps the scheduler runs, with the clock's time, and reports success.
final class RecordingRunner: ActionRunner {
    struct Run: Sendable {
        var action: ScheduledAction
        var at: Date
        var type: String { action.actionType }
    }

    private let runs = Mutex<[Run]>([])
    let clock: ManualClock

    init(clock: ManualClock) { self.clock = clock }

    var all: [Run] { runs.withLock { $0 } }

    func run(_ action: ScheduledAction, logger: Logger) async -> ActionRunResult {
        runs.withLock { $0.append(Run(action: action, at: clock.now())) }
        return ActionRunResult(status: "succeeded", operation: action.actionType)
    }
}

/// The real sequence RPC server over TCP with a manual clock, whose scheduler runs only when a test
/// calls ``drain()``: time moves when the test says so.
struct EnrollmentHarness: Sendable {
    let client: SequencesClient
    let clock: ManualClock
    let scheduler: Scheduler
    let runner: RecordingRunner

    /// Tuesday 2025-11-25 12:00 UTC (13:00 in Madrid).
    static let tuesdayNoon = Date(timeIntervalSince1970: 1_764_072_000)

    static func run(start: Date = tuesdayNoon, _ body: @Sendable (EnrollmentHarness) async throws -> Void) async throws {
        let clock = ManualClock(start)
        let dataDir = temporaryFolder("enrollment")
        let db = try StoreFactory.open(folder: dataDir, migrator: SequenceStore.migrator)
        let store = SequenceStore(db: db)
        let integrations = Integrations(store: store, box: try SecretBox.load(environmentValue: nil, keyFile: SecretBox.defaultKeyFile(dataDir: dataDir, service: "sequence-service"), logger: quietLogger))
        let runner = RecordingRunner(clock: clock)
        let ingest = IngestClient(connection: RPCConnection(host: "127.0.0.1", port: 1, security: TestPKI.security("sequence-service"), logger: quietLogger))
        let scheduler = Scheduler(store: store, runner: runner, ingest: ingest, settings: SchedulerSettings(), clock: clock, logger: quietLogger)
        let server = SequenceServer(store: store, scheduler: scheduler, integrations: integrations, clock: clock)
        let rpc = try await RPCServer(configuration: RPCServerConfiguration(port: 0), routes: server.routes,
                                      security: TestPKI.security("sequence-service"), logger: quietLogger)
        try await withServices([rpc]) {
            let connection = RPCConnection(host: "127.0.0.1", port: rpc.port, security: TestPKI.security("harness"), logger: quietLogger)
            defer { connection.close() }
            try await body(EnrollmentHarness(client: SequencesClient(connection: connection), clock: clock, scheduler: scheduler, runner: runner))
        }
    }

    /// Runs every row due now, including steps that become due at once; returns how many ran.
    @discardableResult
    func drain() async throws -> Int {
        var total = 0
        while true {
            let claimed = try await scheduler.runOnce()
            if claimed == 0 { return total }
            total += claimed
        }
    }

    func tenant(_ id: String, agent: String = "agent-1") -> SequenceCalls { SequenceCalls(client: client, tenant: id, agent: agent) }
}

/// Sequence and enrollment calls of one tenant and agent.
struct SequenceCalls: Sendable {
    let client: SequencesClient
    let tenant: String
    let agent: String
    var options: CallOptions { CallOptions(timeout: .seconds(30), tenantID: tenant) }

    func create(_ json: String) async throws -> PB.Document {
        var write = PB.DocumentWrite()
        write.parentId = agent
        write.json = json
        return try await client.createSequence(write, options: options)
    }

    func get(_ id: String) async throws -> PB.Document {
        var ref = PB.DocumentRef()
        ref.parentId = agent
        ref.id = id
        return try await client.getSequence(ref, options: options)
    }

    func update(_ id: String, _ json: String) async throws -> PB.Document {
        var write = PB.DocumentWrite()
        write.parentId = agent
        write.id = id
        write.json = json
        return try await client.updateSequence(write, options: options)
    }

    func command(_ command: String, sequence: String, enrollment: String = "", lead: Int64 = 0) async throws -> JSONValue {
        var request = PB.EnrollmentCommand()
        request.agentId = agent
        request.sequenceId = sequence
        request.enrollmentId = enrollment
        request.leadId = lead
        request.command = PB.EnrollmentCommandKind.allCases.first { $0.name == command } ?? .unspecified
        return try await client.commandEnrollment(request, options: options).object
    }

    func enroll(_ lead: Int64, in sequence: String) async throws -> String {
        try #require(try await command("enroll", sequence: sequence, lead: lead)["id"]?.string)
    }

    func enrollments(_ sequence: String) async throws -> [JSONValue] {
        var query = PB.DocumentQuery()
        query.parentId = sequence
        query.filters = [PB.KeyValue(key: "agent_id", value: agent)]
        return try await client.listEnrollments(query, options: options).items.map(\.object)
    }

    @discardableResult
    func event(_ type: String, lead: Int64 = 77, id: String = UUID().uuidString, statusID: Int64 = 0, pipelineID: Int64 = 0,
               direction: String = "incoming") async throws -> PB.OnEventResponse {
        var event = PB.Event()
        event.id = id
        event.tenantId = tenant
        event.type = try #require(PB.EventType(name: type))
        event.leadId = lead
        event.statusId = statusID
        event.pipelineId = pipelineID
        if type == "message_received" {
            var message = PB.MessageFields()
            message.text = "Thanks, not now"
            message.direction = try #require(PB.MessageDirection(name: direction))
            event.message = message
        }
        var request = PB.OnEventRequest()
        request.event = event
        return try await client.onEvent(request, options: options)
    }
}

/// A sequence document with the given steps and extra members.
func sequenceJSON(trigger: String = #"{"type": "manual"}"#, steps: String, extra: String = "") -> String {
    """
    {"name": "Follow-up", "status": "active", "trigger": \(trigger), "steps": \(steps)\(extra.isEmpty ? "" : ", " + extra)}
    """
}
