import Basics
import TestSupport
import Foundation
import Logging
import Rules
import ServiceKit
import ServiceLifecycle
import Testing
import Wire

// MARK: - Running the service

/// The real rules-service on port 0 with a manual clock, and a client per tenant talking to it over TCP.
struct RulesService: Sendable {
    let clock: ManualClock
    let client: RulesClient
    let health: HealthClient

    /// A client acting for `tenant`.
    func tenant(_ id: String) -> Tenant { Tenant(client: client, id: id) }

    static func run(quotas: TenantQuotas = TenantQuotas(), configuration: RulesConfiguration = .standard,
                    _ body: @Sendable (RulesService) async throws -> Void) async throws {
        let clock = ManualClock()
        let process = try await RulesProcess.build(
            settings: ServiceSettings(rpcPort: 0, dataDir: temporaryFolder("rules"), security: TestPKI.security("rules-service"),
                                      quotas: quotas), configuration: configuration, logger: quietLogger, clock: clock)
        try await withServices(process.services) {
            let connection = RPCConnection(host: "127.0.0.1", port: process.port, security: TestPKI.security("harness"), logger: quietLogger)
            defer { connection.close() }
            try await body(RulesService(clock: clock, client: RulesClient(connection: connection),
                                        health: HealthClient(connection: connection)))
        }
    }
}

/// The RPC error a call failed with, or `nil` when it succeeded.
func rpcError<T>(_ body: () async throws -> T) async -> RPCError? {
    do {
        _ = try await body()
        return nil
    } catch {
        return error as? RPCError ?? RPCError(.unknown, "not an RPC error: \(error)")
    }
}

// MARK: - A tenant's view

/// `RulesClient` calls with a tenant in the metadata and small builders for requests.
struct Tenant: Sendable {
    let client: RulesClient
    let id: String
    var options: CallOptions { CallOptions(timeout: .seconds(30), tenantID: id) }

    static func write(_ json: String, id: String = "", parent: String = "", ifVersion: Int64 = 0) -> PB.DocumentWrite {
        var write = PB.DocumentWrite()
        write.json = json
        write.id = id
        write.parentId = parent
        write.ifVersion = ifVersion
        return write
    }

    static func ref(_ id: String, parent: String = "", cascade: Bool = false) -> PB.DocumentRef {
        var ref = PB.DocumentRef()
        ref.id = id
        ref.parentId = parent
        ref.cascade = cascade
        return ref
    }

    static func query(parent: String = "", limit: Int32 = 0, cursor: String = "") -> PB.DocumentQuery {
        var query = PB.DocumentQuery()
        query.parentId = parent
        query.limit = limit
        query.cursor = cursor
        return query
    }

    func createAgent(_ json: String = #"{"name": "Sofia", "persona": "Friendly", "language": "es"}"#) async throws(RPCError) -> PB.Document {
        try await client.createAgent(Self.write(json), options: options)
    }

    func createRule(_ json: String, agent: String) async throws(RPCError) -> PB.Document {
        try await client.createRule(Self.write(json, parent: agent), options: options)
    }

    func createScript(_ json: String, agent: String) async throws(RPCError) -> PB.Document {
        try await client.createScript(Self.write(json, parent: agent), options: options)
    }

    func evaluate(_ event: PB.Event, dryRun: Bool = false, only: [String] = []) async throws(RPCError) -> PB.Decision {
        var request = PB.EvaluateRequest()
        request.event = event
        request.dryRun = dryRun
        request.onlyRuleIds = only
        return try await client.evaluate(request, options: options)
    }

    /// The rule's report from RuleStats.
    func stats(rule: String) async throws -> [String: Any] {
        var query = PB.StatsQuery()
        query.id = rule
        let report = try await client.ruleStats(query, options: options)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any])
        let rules = try #require(json["rules"] as? [[String: Any]])
        return try #require(rules.first)
    }
}

// MARK: - Events and JSON

/// The lead of the `lead_status_changed` fixture and its stages.
enum Lead {
    static let id: Int64 = 4_410_021
    static let pipeline: Int64 = 7_100_001
    static let stageFrom: Int64 = 61_234_501
    static let stageTo: Int64 = 61_234_502
}

/// Events in the shape ingest produces.
enum Events {
    /// The `lead_status_changed` fixture as ingest normalizes it: lead 4410021 moved to stage 61234502.
    static func stageChanged(_ id: String, lead: Int64 = Lead.id, to stage: Int64 = Lead.stageTo, from old: Int64 = Lead.stageFrom,
                             at date: Date) -> PB.Event {
        var event = base(id, type: "stage_changed", lead: lead, at: date)
        event.pipelineId = Lead.pipeline
        event.statusId = stage
        event.oldStatusId = old
        event.responsibleUserId = 8_812_001
        event.fields = [PB.KeyValue(key: "name", value: "Website order #812"), PB.KeyValue(key: "price", value: "2500")]
        var budget = PB.CustomField()
        budget.id = "550011"
        budget.name = "Budget"
        budget.values = ["2500-5000"]
        event.customFields = [budget]
        return event
    }

    /// An incoming WhatsApp message linked to a lead.
    static func inbound(_ id: String, lead: Int64, text: String = "Hello", at date: Date) -> PB.Event {
        var event = base(id, type: "message_received", lead: lead, at: date)
        event.entityType = "message"
        event.entityId = "msg-\(id)"
        var message = PB.MessageFields()
        message.id = "msg-\(id)"
        message.text = text
        message.direction = .incoming
        message.origin = "waba"
        event.message = message
        return event
    }

    /// A timer of a time-based rule coming back.
    static func timer(_ id: String, rule: String, lead: Int64, at date: Date) -> PB.Event {
        var event = base(id, type: "timer_fired", lead: lead, at: date)
        event.origin = .timer
        event.ruleId = rule
        return event
    }

    static func base(_ id: String, type: String, lead: Int64, at date: Date) -> PB.Event {
        var event = PB.Event()
        event.id = id
        event.type = PB.EventType(name: type) ?? .unknown
        event.entityType = "lead"
        event.entityId = String(lead)
        event.leadId = lead
        event.origin = .kommo
        event.accountId = 29_012_345
        event.occurredAtMicros = date.unixMicros
        event.receivedAtMicros = date.unixMicros
        return event
    }
}

/// A document's JSON as a dictionary.
func object(_ document: PB.Document) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(document.json.utf8)) as? [String: Any])
}

/// A rule body firing on a move into stage 61234502.
func stageRule(name: String = "Into qualified", priority: Int = 0, extra: String = "", actions: String? = nil) -> String {
    let actions = actions ?? #"[{"type": "create_task", "text": "Call {{lead.name}}", "due_in_seconds": 3600}, {"type": "add_tags", "tags": ["qualified"]}]"#
    return """
        {"name": "\(name)", "priority": \(priority), "trigger": {"type": "stage_changed", "stage_id": 61234502},
         "actions": \(actions)\(extra.isEmpty ? "" : ", " + extra)}
        """
}
