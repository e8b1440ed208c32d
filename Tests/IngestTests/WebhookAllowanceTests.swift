import Crypto
import Domain
import Foundation
import Ingest
import ServiceKit
import Testing
import TestSupport
import Wire

/// The plan's `webhook_events_per_month` in ingest's store: beyond it webhook events are stored but
/// held, in order, also across a restart; a higher allowance or a new month releases them oldest first.
@Suite struct WebhookAllowanceTests {
    let box = SecretBox(key: SymmetricKey(size: .bits256))
    /// 2026-12-04 12:00 UTC, and 2027-01-01 00:00:30 UTC.
    static let december = Date(timeIntervalSince1970: 1_796_385_600)
    static let january = Date(timeIntervalSince1970: 1_798_761_630)

    private func open(_ folder: String) throws -> IngestStore {
        IngestStore(db: try StoreFactory.open(folder: folder, migrator: IngestStore.migrator(box: box)), box: box)
    }

    private func intake(_ store: IngestStore, _ id: String, lead: Int64, at: Date, origin: EventOrigin = .kommo) async throws {
        let event = KommoEvent(id: id, tenantID: "t_one", type: .stageChanged, entityType: "lead", entityID: String(lead), leadID: lead,
                               occurredAt: at, receivedAt: at, origin: origin)
        let delivery = NewDelivery(id: "dlv_" + id, tenantID: "t_one", status: .accepted, reason: "", origin: .kommo,
                                   receivedAt: at.unixMicros, contentType: "", remoteAddress: "", userAgent: "", body: nil)
        _ = try await store.intake(delivery, events: [StoredEvent(event: event)])
    }

    /// The ids of events the dispatcher would take now, oldest first.
    private func due(_ store: IngestStore) async throws -> [String] {
        try await store.dueEvents(now: Int64.max / 2, limit: 50, excludingKeys: []).map(\.event.event.event.id)
    }

    private func statuses(_ store: IngestStore) async throws -> [String: PB.JourneyStatus] {
        let page = try await store.listEvents(tenantID: "t_one", query: PB.EventQuery())
        return Dictionary(uniqueKeysWithValues: page.items.map { ($0.id, $0.status) })
    }

    @Test func beyondTheAllowanceEventsAreKeptHeldAcrossARestartAndReleasedInOrder() async throws {
        let folder = temporaryFolder("ingest-allowance")
        do {
            let store = try open(folder)
            #expect(try await store.setTenantAllowance(tenantID: "t_one", planID: "free", webhookEventsPerMonth: 2, now: Self.december.unixMicros) == 0)
            for index in 1...4 { try await intake(store, "e\(index)", lead: Int64(index), at: Self.december) }
            // Timers are the product's own events: not counted, not held.
            try await intake(store, "timer-1", lead: 9, at: Self.december, origin: .timer)
            #expect(try await due(store) == ["e1", "e2", "timer-1"])
            let status = try await statuses(store)
            #expect(status["e3"] == .held && status["e4"] == .held, "\(status)")
            let detail = try #require(try await store.eventDetail(tenantID: "t_one", eventID: "e3"))
            #expect(!detail.dispatches.isEmpty)
            #expect(detail.dispatches.allSatisfy { $0.lastError.hasPrefix("held: plan limit: webhook_events_per_month: 2 of 2 dispatched in 2026-12") },
                    "\(detail.dispatches)")
        }
        // A restart: the allowance and the month's count are read from the store.
        let store = try open(folder)
        try await intake(store, "e5", lead: 5, at: Self.december)
        #expect(try await statuses(store)["e5"] == .held)
        #expect(try await store.planHeldCount(tenantID: "t_one") == 3)

        // One more allowed: the oldest held event goes, the others wait behind it.
        #expect(try await store.setTenantAllowance(tenantID: "t_one", planID: "starter", webhookEventsPerMonth: 3, now: Self.december.unixMicros) == 1)
        #expect(try await due(store) == ["e1", "e2", "e3", "timer-1"])
        #expect(try await store.setTenantAllowance(tenantID: "t_one", planID: "pro", webhookEventsPerMonth: -1, now: Self.december.unixMicros) == 2)
        #expect(try await due(store) == ["e1", "e2", "e3", "e4", "timer-1", "e5"])
        #expect(try await store.planHeldCount(tenantID: "t_one") == 0)
    }

    @Test func aNewMonthLetsTheHeldEventsThroughBeforeTheNewOne() async throws {
        let store = try open(temporaryFolder("ingest-allowance-month"))
        _ = try await store.setTenantAllowance(tenantID: "t_one", planID: "free", webhookEventsPerMonth: 1, now: Self.december.unixMicros)
        try await intake(store, "d1", lead: 1, at: Self.december)
        try await intake(store, "d2", lead: 2, at: Self.december)
        #expect(try await due(store) == ["d1"])
        // January's first webhook: December's held event takes January's one slot, the new one waits.
        try await intake(store, "j1", lead: 3, at: Self.january)
        #expect(try await due(store) == ["d1", "d2"])
        #expect(try await statuses(store)["j1"] == .held)
    }

    @Test func resumingASuspendedTenantLeavesTheEventsThePlanHolds() async throws {
        let store = try open(temporaryFolder("ingest-allowance-suspended"))
        _ = try await store.setTenantAllowance(tenantID: "t_one", planID: "free", webhookEventsPerMonth: 1, now: Self.december.unixMicros)
        _ = try await store.setTenantState(tenantID: "t_one", suspended: true, skipHeld: false, now: Self.december.unixMicros)
        try await intake(store, "s1", lead: 1, at: Self.december)
        try await intake(store, "s2", lead: 2, at: Self.december)
        #expect(try await due(store).isEmpty)
        _ = try await store.setTenantState(tenantID: "t_one", suspended: false, skipHeld: false, now: Self.december.unixMicros)
        #expect(try await due(store) == ["s1"])
        #expect(try await statuses(store)["s2"] == .held)
    }
}
