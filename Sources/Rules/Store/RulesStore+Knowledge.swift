import Foundation
import GRDB

/// A chunk found by a knowledge search, with the document it comes from.
package struct KnowledgeHit: Sendable, Hashable {
    package var documentID: String
    package var title: String
    /// The document version the chunk was cut from.
    package var version: Int64
    /// The chunk's position in its document, from 0.
    package var chunk: Int
    package var heading: String
    package var text: String
    /// bm25 relevance, higher is better (SQLite's bm25 negated).
    package var score: Double
}

extension RulesStore {
    // MARK: - Knowledge base

    /// The best chunks of an agent's active documents for an FTS5 `match` expression, by bm25 (a match in
    /// the heading weighs twice one in the text). Errors: the agent is not the tenant's.
    package func searchKnowledge(tenantID: String, agentID: String, match: String, limit: Int) async throws -> [KnowledgeHit] {
        try await db.read { db in
            guard try Self.exists(db, .agent, tenantID: tenantID, id: agentID) else { throw RulesStoreError.notFound(.agent, agentID) }
            return try Row.fetchAll(db, sql: """
                SELECT c.document_id, c.version, c.seq, c.heading, c.text, json_extract(k.doc, '$.title') AS title,
                       bm25(knowledge_fts, 2.0, 1.0) AS rank
                FROM knowledge_fts
                JOIN knowledge_chunk c ON c.id = knowledge_fts.rowid
                JOIN knowledge k ON k.id = c.document_id
                WHERE knowledge_fts MATCH ? AND c.tenant_id = ? AND c.agent_id = ? AND k.active = 1
                ORDER BY rank, c.document_id, c.seq LIMIT ?
                """, arguments: [match, tenantID, agentID, limit]).map { row in
                let rank: Double = row["rank"]
                return KnowledgeHit(documentID: row["document_id"], title: row["title"] ?? "", version: row["version"], chunk: row["seq"],
                                    heading: row["heading"], text: row["text"], score: -rank)
            }
        }
    }

    /// How many chunks each of the documents has.
    package func knowledgeChunkCounts(ids: [String]) async throws -> [String: Int] {
        guard !ids.isEmpty else { return [:] }
        return try await db.read { db in
            let marks = Array(repeating: "?", count: ids.count).joined(separator: ", ")
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT document_id, count(*) AS n FROM knowledge_chunk WHERE document_id IN (\(marks)) GROUP BY document_id",
                                        arguments: StatementArguments(ids)) {
                counts[row["document_id"]] = row["n"]
            }
            return counts
        }
    }

    /// Cuts a document's current version into chunks and indexes them again, without a new version.
    package func reindexKnowledge(tenantID: String, id: String, agentID: String?) async throws -> DocumentRecord {
        try await db.write { db in
            guard let record = try Self.fetch(db, .knowledge, tenantID: tenantID, id: id, agentID: agentID) else {
                throw RulesStoreError.notFound(.knowledge, id)
            }
            try Self.indexKnowledge(db, record)
            return record
        }
    }

    /// A document of the tenant (and agent) with its latest `limit` saved versions, newest first.
    package func knowledgeVersions(tenantID: String, id: String, agentID: String?, limit: Int) async throws -> (DocumentRecord, [ScriptVersionRecord]) {
        try await db.read { db in
            guard let document = try Self.fetch(db, .knowledge, tenantID: tenantID, id: id, agentID: agentID) else {
                throw RulesStoreError.notFound(.knowledge, id)
            }
            let versions = try Row.fetchAll(db, sql: """
                SELECT version, doc, created_at FROM knowledge_version WHERE tenant_id = ? AND document_id = ? ORDER BY version DESC LIMIT ?
                """, arguments: [tenantID, id, limit]).map { ScriptVersionRecord(version: $0["version"], doc: $0["doc"], createdAt: $0["created_at"]) }
            return (document, versions)
        }
    }

    static func keepKnowledgeVersion(_ db: Database, _ record: DocumentRecord) throws {
        try db.execute(sql: "INSERT INTO knowledge_version (document_id, version, tenant_id, doc, created_at) VALUES (?, ?, ?, ?, ?)",
                       arguments: [record.id, record.version, record.tenantID, record.doc, record.updatedAt])
    }

    /// Replaces a document's chunks and their index entries with those of its current version.
    static func indexKnowledge(_ db: Database, _ record: DocumentRecord) throws {
        try dropChunks(db, sql: "document_id = ?", record.id)
        let resource = try JSONDecoder().decode(KnowledgeResource.self, from: Data(record.doc.utf8))
        for (seq, chunk) in resource.chunks().enumerated() {
            try db.execute(sql: """
                INSERT INTO knowledge_chunk (tenant_id, agent_id, document_id, version, seq, heading, text) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [record.tenantID, record.agentID, record.id, record.version, seq, chunk.heading, chunk.text])
            try db.execute(sql: "INSERT INTO knowledge_fts (rowid, heading, text) VALUES (?, ?, ?)",
                           arguments: [db.lastInsertedRowID, chunk.heading, chunk.text])
        }
    }

    static func deleteKnowledge(_ db: Database, documentID: String) throws {
        try dropChunks(db, sql: "document_id = ?", documentID)
        try db.execute(sql: "DELETE FROM knowledge_version WHERE document_id = ?", arguments: [documentID])
        try db.execute(sql: "DELETE FROM knowledge WHERE id = ?", arguments: [documentID])
    }

    static func deleteKnowledge(_ db: Database, agentID: String) throws {
        try dropChunks(db, sql: "agent_id = ?", agentID)
        try db.execute(sql: "DELETE FROM knowledge_version WHERE document_id IN (SELECT id FROM knowledge WHERE agent_id = ?)", arguments: [agentID])
        try db.execute(sql: "DELETE FROM knowledge WHERE agent_id = ?", arguments: [agentID])
    }

    /// Deletes the chunks matching `condition` (a constant) and their index entries.
    private static func dropChunks(_ db: Database, sql condition: String, _ value: String) throws {
        try db.execute(sql: "DELETE FROM knowledge_fts WHERE rowid IN (SELECT id FROM knowledge_chunk WHERE \(condition))", arguments: [value])
        try db.execute(sql: "DELETE FROM knowledge_chunk WHERE \(condition)", arguments: [value])
    }
}
