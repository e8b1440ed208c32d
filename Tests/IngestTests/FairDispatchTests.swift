import Crypto
import Domain
import Foundation
import Ingest
import ServiceKit
import Testing
import TestSupport

/// The outbox's search for due events takes tenants in turn, one event of each before a second of any,
/// and still one per lead, the lead's oldest first.
@Suite struct FairDispatchTests {
    let box = SecretBox(key: SymmetricKey(size: .bits256))
    static let at = Date(timeIntervalSince1970: 1_796_385_600)

    private func intake(_ store: IngestStore, tenant: String, _ id: String, lead: Int64) async throws {
        let event = KommoEvent(id: id, tenantID: tenant, type: .stageChanged, entityType: "lead", entityID: String(lead), leadID: lead,
                               occurredAt: Self.at, receivedAt: Self.at, origin: .kommo)
        let delivery = NewDelivery(id: "dlv_" + id, tenantID: tenant, status: .accepted, reason: "", origin: .kommo,
                                   receivedAt: Self.at.unixMicros, contentType: "", remoteAddress: "", userAgent: "", body: nil)
        _ = try await store.intake(delivery, events: [StoredEvent(event: event)])
    }

    @Test func tenantsTakeTurnsAndEachLeadKeepsItsOrder() async throws {
        let store = IngestStore(db: try StoreFactory.open(folder: temporaryFolder("fair-dispatch"), migrator: IngestStore.migrator(box: box)), box: box)
        // Tenant A's backlog came first: ten leads, and a second event of lead 1.
        for lead in 1...10 { try await intake(store, tenant: "t_a", "a-\(lead)", lead: Int64(lead)) }
        try await intake(store, tenant: "t_a", "a-1-again", lead: 1)
        try await intake(store, tenant: "t_b", "b-1", lead: 1)
        let now = Self.at.unixMicros + 1
        let first = try await store.dueEvents(now: now, limit: 4, excludingKeys: [], after: "")
        #expect(first.events.map(\.event.event.event.id) == ["a-1", "b-1", "a-2", "a-3"])
        #expect(first.lastTenant == "t_b")
        // Lead 1 of A is being worked on: its second event waits, and nothing of it is offered.
        let busy = Set(first.events.map(\.key))
        let second = try await store.dueEvents(now: now, limit: 20, excludingKeys: busy, after: first.lastTenant)
        let ids = second.events.map(\.event.event.event.id)
        #expect(!ids.contains("a-1-again"))
        #expect(ids == (4...10).map { "a-\($0)" })
    }
}
