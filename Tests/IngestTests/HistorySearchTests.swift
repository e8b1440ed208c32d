import Crypto
import Domain
import Foundation
import Ingest
import ServiceKit
import Testing
import TestSupport
import Wire

/// The history's text filter goes through the FTS5 index: accents folded, the user's text matched
/// literally, and events kept as domain records that carry wire values this build does not know.
@Suite struct HistorySearchTests {
    let box = SecretBox(key: SymmetricKey(size: .bits256))

    private func store() throws -> IngestStore {
        let db = try StoreFactory.open(folder: temporaryFolder("ingest-search"), migrator: IngestStore.migrator(box: box))
        return IngestStore(db: db, box: box)
    }

    private func message(_ id: String, _ text: String, lead: Int64) -> StoredEvent {
        var fields = MessageFields()
        fields.id = "msg-" + id
        fields.text = text
        fields.direction = "incoming"
        let at = Date(timeIntervalSince1970: 1_764_072_000)
        return StoredEvent(event: KommoEvent(
            id: id, tenantID: "t_one", type: .messageReceived, entityType: "message", entityID: "msg-" + id, leadID: lead,
            occurredAt: at, receivedAt: at, message: fields))
    }

    private func intake(_ store: IngestStore, _ events: [StoredEvent]) async throws {
        let delivery = NewDelivery(id: "dlv_" + (events.first?.event.id ?? ""), tenantID: "t_one", status: .accepted, reason: "",
                                   origin: .kommo, receivedAt: 1, contentType: "", remoteAddress: "", userAgent: "", body: nil)
        _ = try await store.intake(delivery, events: events)
    }

    private func search(_ store: IngestStore, _ text: String) async throws -> [String] {
        var query = PB.EventQuery()
        query.text = text
        return try await store.listEvents(tenantID: "t_one", query: query).items.map(\.id)
    }

    @Test("a word of a message finds its event with accents folded either way")
    func accentsFolded() async throws {
        let store = try store()
        try await intake(store, [message("ev_cafe", "Nos vemos en el café mañana", lead: 1),
                                 message("ev_other", "Price list, please", lead: 2)])
        #expect(try await search(store, "cafe") == ["ev_cafe"])
        #expect(try await search(store, "CAFÉ") == ["ev_cafe"])
        #expect(try await search(store, "manana cafe") == ["ev_cafe"])
        #expect(try await search(store, "price") == ["ev_other"])
        #expect(try await search(store, "tea").isEmpty)
    }

    @Test("FTS5 syntax in the user's text is searched literally and never errors")
    func syntaxIsLiteral() async throws {
        let store = try store()
        try await intake(store, [message("ev_syntax", #"Call NEAR the "office" - budget* ok"#, lead: 1),
                                 message("ev_plain", "budget meeting", lead: 2)])
        #expect(try await search(store, "NEAR") == ["ev_syntax"])
        #expect(try await search(store, #""office""#) == ["ev_syntax"])
        // `-` is not NOT and `*` is not a prefix: "-budget" finds both messages with the word.
        #expect(Set(try await search(store, "-budget")) == ["ev_syntax", "ev_plain"])
        #expect(try await search(store, "budg*").isEmpty)
        for hostile in [#"""#, "*", "-", "NEAR", "NEAR(", #"a" OR "b"#, "(", ")", "AND OR NOT", #"\"#, "^office", "office:x", "\u{0}"] {
            _ = try await search(store, hostile)
        }
    }

    @Test("an event type this build does not know survives the store and the wire")
    func unknownEnumNumberSurvives() async throws {
        var wire = PB.Event()
        wire.id = "ev_future"
        wire.tenantId = "t_one"
        wire.type = .unrecognized(999)
        wire.origin = .manual
        wire.occurredAtMicros = 1_764_072_000_000_000
        wire.receivedAtMicros = 1_764_072_000_000_000
        let decoded = try PB.Event(serializedBytes: try wire.serializedBytes())
        #expect(decoded.type == .unrecognized(999))
        let store = try store()
        try await intake(store, [StoredEvent(decoded)])
        let stored = try #require(try await store.event(tenantID: "t_one", id: "ev_future"))
        #expect(PB.Event(stored).type == .unrecognized(999))
        var query = PB.EventQuery()
        query.type = .unrecognized(999)
        #expect(try await store.listEvents(tenantID: "t_one", query: query).items.map(\.type) == [.unrecognized(999)])
    }
}
