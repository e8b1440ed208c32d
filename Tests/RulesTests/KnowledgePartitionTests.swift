import Domain
import Foundation
import GRDB
import Rules
import ServiceKit
import Testing

@Suite("knowledge base: the index partitioned by agent")
struct KnowledgePartitionTests {
    static func temporaryFolder() -> String {
        NSTemporaryDirectory() + "knowledge-partition-\(UUID().uuidString.prefix(8))"
    }

    static func agent(_ store: RulesStore, tenant: String, id: String) async throws {
        try await store.insert(DocumentRecord(kind: .agent, id: id, tenantID: tenant, doc: #"{"name":"A"}"#, createdAt: 1, updatedAt: 1))
    }

    static func document(_ store: RulesStore, tenant: String, agent: String, id: String, title: String, content: String, format: String = "markdown") async throws {
        let doc = String(decoding: try JSONEncoder().encode(KnowledgeResource(title: title, format: format, content: content)), as: UTF8.self)
        try await store.insert(DocumentRecord(kind: .knowledge, id: id, tenantID: tenant, agentID: agent, doc: doc, createdAt: 1, updatedAt: 1))
    }

    static func search(_ store: RulesStore, tenant: String, agent: String, _ text: String, limit: Int = 20) async throws -> [KnowledgeHit] {
        try await store.searchKnowledge(tenantID: tenant, agentID: agent, match: try #require(KnowledgeQuery.matchExpression(KnowledgeQuery.terms(text))), limit: limit)
    }

    @Test("an agent's search sees only its own chunks, however many better matches other tenants and agents hold; the title ranks too")
    func isolation() async throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let store = RulesStore(db: try StoreFactory.open(folder: folder, migrator: RulesStore.migrator, durability: .normal))
        try await Self.agent(store, tenant: "t_a", id: "agt_a")
        try await Self.agent(store, tenant: "t_a", id: "agt_a2")
        try await Self.agent(store, tenant: "t_b", id: "agt_b")
        // Other agents' documents that say "delivery Valencia" far more often, created before and after.
        for index in 0..<30 {
            try await Self.document(store, tenant: "t_b", agent: "agt_b", id: "kno_b\(index)", title: "Delivery Valencia \(index)",
                                    content: "# Delivery to Valencia\nDelivery Valencia, delivery Valencia, delivery Valencia.")
        }
        try await Self.document(store, tenant: "t_a", agent: "agt_a", id: "kno_a1", title: "Shipping",
                                content: "# Times\nWe deliver to Valencia in 48 hours.")
        try await Self.document(store, tenant: "t_a", agent: "agt_a2", id: "kno_a2", title: "Delivery", content: "# Valencia\nDelivery Valencia every day.")
        // A chunk whose text never names what the document's title does.
        try await Self.document(store, tenant: "t_a", agent: "agt_a", id: "kno_a3", title: "Warranty", content: "Three years on every oven.")

        let hits = try await Self.search(store, tenant: "t_a", agent: "agt_a", "Do you do delivery to Valencia?")
        #expect(hits.map(\.documentID) == ["kno_a1"])
        let other = try await Self.search(store, tenant: "t_b", agent: "agt_b", "delivery valencia", limit: 50)
        #expect(other.count == 30 && other.allSatisfy { $0.documentID.hasPrefix("kno_b") })
        #expect(try await Self.search(store, tenant: "t_a", agent: "agt_a", "how long is the warranty").map(\.documentID) == ["kno_a3"])
        // Another tenant naming the agent is refused, not answered from the partition.
        await #expect(throws: RulesStoreError.self) { try await Self.search(store, tenant: "t_b", agent: "agt_a", "valencia") }

        // Re-indexing and new versions stay in the partition; deleting an agent leaves the others intact.
        _ = try await store.reindexKnowledge(tenantID: "t_a", id: "kno_a1", agentID: "agt_a")
        #expect(try await Self.search(store, tenant: "t_a", agent: "agt_a", "valencia").map(\.documentID) == ["kno_a1"])
        try await store.delete(.agent, tenantID: "t_b", id: "agt_b", agentID: nil, cascade: true)
        #expect(try await Self.search(store, tenant: "t_a", agent: "agt_a2", "valencia").map(\.documentID) == ["kno_a2"])
        try await Self.agent(store, tenant: "t_b", id: "agt_b2")
        try await Self.document(store, tenant: "t_b", agent: "agt_b2", id: "kno_b2", title: "Valencia", content: "Valencia shop.")
        #expect(try await Self.search(store, tenant: "t_b", agent: "agt_b2", "valencia").map(\.documentID) == ["kno_b2"])
        #expect(try await Self.search(store, tenant: "t_a", agent: "agt_a", "valencia").map(\.documentID) == ["kno_a1"])
    }

    @Test("chunks indexed before the partitions existed are moved into their agents' partitions and found")
    func migration() async throws {
        let folder = Self.temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let pool = try DatabasePool(path: folder + "/store.sqlite")
        try RulesStore.migrator.migrate(pool, upTo: "analytics-counters")
        try await pool.write { db in
            for (agent, tenant) in [("agt_x", "t_x"), ("agt_y", "t_y")] {
                try db.execute(sql: "INSERT INTO agent (id, tenant_id, doc, status, version, created_at, updated_at) VALUES (?, ?, '{}', 'active', 1, 1, 1)",
                               arguments: [agent, tenant])
                let doc = #"{"title":"Returns of \#(agent)","format":"text","content":"Thirty days to return.","active":true}"#
                try db.execute(sql: "INSERT INTO knowledge (id, tenant_id, agent_id, doc, active, version, created_at, updated_at) VALUES (?, ?, ?, ?, 1, 1, 1, 1)",
                               arguments: ["kno_\(agent)", tenant, agent, doc])
                try db.execute(sql: "INSERT INTO knowledge_chunk (tenant_id, agent_id, document_id, version, seq, heading, text) VALUES (?, ?, ?, 1, 0, 'Returns', 'Thirty days to return.')",
                               arguments: [tenant, agent, "kno_\(agent)"])
                try db.execute(sql: "INSERT INTO knowledge_fts (rowid, heading, text) VALUES (?, 'Returns', 'Thirty days to return.')", arguments: [db.lastInsertedRowID])
            }
        }
        try RulesStore.migrator.migrate(pool)
        let store = RulesStore(db: pool)
        #expect(try await Self.search(store, tenant: "t_x", agent: "agt_x", "thirty days return").map(\.documentID) == ["kno_agt_x"])
        #expect(try await Self.search(store, tenant: "t_y", agent: "agt_y", "return").map(\.title) == ["Returns of agt_y"])
        // A document added after the move lands after the moved chunk, in the same partition.
        try await Self.document(store, tenant: "t_x", agent: "agt_x", id: "kno_new", title: "More", content: "Returns are free.")
        #expect(Set(try await Self.search(store, tenant: "t_x", agent: "agt_x", "returns").map(\.documentID)) == ["kno_agt_x", "kno_new"])
    }
}
