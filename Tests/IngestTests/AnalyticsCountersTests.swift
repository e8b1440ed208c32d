import Crypto
import Domain
import Foundation
import Ingest
import ServiceKit
import Testing
import TestSupport
import Wire

/// ingest-service counts events, deliveries and failed dispatches with the rows that record them.
@Suite struct IngestAnalyticsCountersTests {
    let box = SecretBox(key: SymmetricKey(size: .bits256))
    static let at = Date(timeIntervalSince1970: 1_764_072_000)

    private func store() throws -> IngestStore {
        let db = try StoreFactory.open(folder: temporaryFolder("ingest-analytics"), migrator: IngestStore.migrator(box: box))
        return IngestStore(db: db, box: box)
    }

    private func event(_ id: String, _ type: EventType, lead: Int64, origin: EventOrigin = .kommo) -> StoredEvent {
        StoredEvent(event: KommoEvent(id: id, tenantID: "t_one", type: type, entityType: "lead", entityID: String(lead), leadID: lead,
                                      occurredAt: Self.at, receivedAt: Self.at, origin: origin))
    }

    private func delivery(_ id: String, status: DeliveryStatus = .accepted, tenant: String = "t_one") -> NewDelivery {
        NewDelivery(id: id, tenantID: tenant, status: status, reason: "", origin: .kommo, receivedAt: Self.at.unixMicros,
                    contentType: "", remoteAddress: "", userAgent: "", body: nil)
    }

    private func counters(_ store: IngestStore, tenant: String = "t_one") async throws -> [String: Int64] {
        let hour = AnalyticsCounters.hour(micros: Self.at.unixMicros)
        return try await store.analyticsCounts(tenantID: tenant, fromHour: hour, toHour: hour + 1)
            .reduce(into: [:]) { $0[$1.key, default: 0] += $1.value }
    }

    @Test("a redelivered webhook counts as a duplicate delivery and no new events; a failed dispatch counts once")
    func countedOnce() async throws {
        let store = try store()
        let events = [event("ev_1", .leadCreated, lead: 1), event("ev_2", .stageChanged, lead: 1)]
        _ = try await store.intake(delivery("dlv_1"), events: events)
        _ = try await store.intake(delivery("dlv_2"), events: events)
        _ = try await store.intake(delivery("dlv_3", status: .unparsed), events: [])
        _ = try await store.intake(delivery("dlv_4", status: .rejected), events: [])

        // The lead's first event fails for good; a second failure report of the same event counts nothing.
        let due = try #require(try await store.dueEvents(now: Self.at.unixMicros, limit: 1, excludingKeys: []).first)
        for _ in 0..<2 {
            _ = try await store.retryLater(seq: due.event.seq, attempts: 5, nextAt: 0, maxAttempts: 5, now: Self.at.unixMicros)
        }

        #expect(try await counters(store) == [
            "deliveries.accepted": 1, "deliveries.duplicate": 1, "deliveries.unparsed": 1, "deliveries.rejected": 1,
            "events.type.lead_created": 1, "events.type.stage_changed": 1, "events.origin.kommo": 2, "dispatch.failed": 1,
        ])
        #expect(try await counters(store, tenant: "t_two").isEmpty)
    }
}
