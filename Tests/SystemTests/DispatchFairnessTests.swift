import Foundation
import Ingest
import ServiceKit
import Synchronization
import Testing
import TestSupport
import Wire

/// A stand-in rules-service that takes a while over each event, as a real one with many rules does, and
/// notes when each tenant's events reach it.
final class SlowRules: PartialRulesHandler {
    let evaluated = Mutex<[(tenant: String, event: String, at: ContinuousClock.Instant)]>([])
    let delay: Duration
    init(delay: Duration) { self.delay = delay }

    func evaluate(_ request: PB.EvaluateRequest, context: RPCContext) async throws -> PB.Decision {
        try await Task.sleep(for: delay)
        let tenant = try context.requireTenant()
        evaluated.withLock { $0.append((tenant, request.event?.id ?? "", ContinuousClock.now)) }
        var decision = PB.Decision()
        decision.eventId = request.event?.id ?? ""
        return decision
    }

    func count(_ tenant: String) -> Int { evaluated.withLock { $0.filter { $0.tenant == tenant }.count } }
    func arrival(_ event: String) -> ContinuousClock.Instant? { evaluated.withLock { $0.first { $0.event == event }?.at } }
}

@Suite("Dispatch fairness across tenants")
struct DispatchFairnessTests {
    private func events(_ tenant: String, _ range: Range<Int>) -> PB.IngestRequest {
        var request = PB.IngestRequest()
        request.events = range.map { index in
            var event = PB.Event()
            event.id = "ev-\(tenant)-\(index)"
            event.type = .stageChanged
            event.origin = .manual
            event.entityType = "lead"
            event.entityId = String(index + 1)
            event.leadId = Int64(index + 1)
            return event
        }
        return request
    }

    @Test("one tenant's 5,000 queued events do not hold up another tenant's event")
    func backlogDoesNotHoldUpOthers() async throws {
        let rules = SlowRules(delay: .milliseconds(20))
        let sequences = RecordingSequences()
        let system = try await IngestSystem.make(rules: rules, sequences: sequences)
        try await system.run { _ in
            let connection = RPCConnection(host: "127.0.0.1", port: system.ingest.port, security: TestPKI.security("gateway"), logger: quietLogger)
            defer { connection.close() }
            let ingest = IngestClient(connection: connection)
            // Tenant A's backlog: 5,000 events of 5,000 leads, stored faster than rules-service takes them.
            for first in stride(from: 0, to: 5_000, by: 500) {
                _ = try await ingest.ingest(events("tenant-a", first..<(first + 500)), options: CallOptions(timeout: .seconds(30), tenantID: "tenant-a"))
            }
            let sent = ContinuousClock.now
            _ = try await ingest.ingest(events("tenant-b", 0..<1), options: CallOptions(timeout: .seconds(30), tenantID: "tenant-b"))
            #expect(try await eventually(timeout: .seconds(30)) {
                sequences.events.withLock { $0.contains { $0.id == "ev-tenant-b-0" } }
            })
            let evaluated = try #require(rules.arrival("ev-tenant-b-0"))
            let dispatched = ContinuousClock.now
            let aDone = rules.count("tenant-a")
            // The goal, 1 s, is what `bench fairness` measures; this bound leaves room for a machine running the
            // whole suite at once, and is still far below B's wait before tenants took turns (A's backlog).
            #expect(evaluated - sent < .seconds(5), "tenant B's event reached rules-service \(evaluated - sent) after it was stored")
            #expect(dispatched - sent < .seconds(5), "tenant B's event was dispatched \(dispatched - sent) after it was stored")
            #expect(aDone < 5_000, "tenant A's backlog was still queued when B's event went through (\(aDone) of 5,000 evaluated)")
        }
    }
}
