import Domain
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
    /// bm25 relevance, higher is better (SQLite's bm25 negated); 0 for a chunk only its vector found.
    package var score: Double
    /// With a question vector: the chunk's cosine similarity (0 without a vector of the model).
    package var similarity: Double? = nil
    /// With a question vector: the ``KnowledgeRanking`` score the hits are ordered by.
    package var hybrid: Double? = nil
}

/// A question's embedding and the model that made it.
package struct KnowledgeQueryVector: Sendable {
    package var model: String
    package var values: [Float]

    package init(model: String, values: [Float]) { self.model = model; self.values = values }
}

extension RulesStore {
    // MARK: - Knowledge base

    /// Weights of the index's columns in bm25: a word of the document's title or of the chunk's heading
    /// says more about what the chunk answers than one of its text.
    static let knowledgeColumnWeights = (title: 1.5, heading: 2.0, text: 1.0)

    /// The best chunks of an agent's active documents for an FTS5 `match` expression, by bm25 over the
    /// title, heading and text columns (``knowledgeColumnWeights``). The index is read only in the agent's
    /// rowid stretch (``knowledgePartitionBits``), so what other agents hold costs a search nothing.
    ///
    /// With a question `vector`, the candidates are bm25's best ``KnowledgeRanking/lexicalCandidates``
    /// and the ``KnowledgeRanking/vectorCandidates`` chunks of the partition whose vectors (of the same
    /// model) are closest, ordered by ``KnowledgeRanking/hybrid(bm25:bestBM25:cosine:)``. The vectors are
    /// compared by a scan of the agent's stretch of the chunk table: some 60,000 chunks at most.
    /// Errors: the agent is not the tenant's.
    package func searchKnowledge(tenantID: String, agentID: String, match: String, limit: Int,
                                 vector: KnowledgeQueryVector? = nil) async throws -> [KnowledgeHit] {
        try await db.read { db in
            guard try Self.exists(db, .agent, tenantID: tenantID, id: agentID) else { throw RulesStoreError.notFound(.agent, agentID) }
            guard let number = try Int64.fetchOne(db, sql: "SELECT number FROM knowledge_partition WHERE agent_id = ?", arguments: [agentID]) else {
                return []
            }
            let weights = Self.knowledgeColumnWeights
            let (first, last) = (Self.firstChunkID(number), Self.lastChunkID(number))
            let lexical = try Row.fetchAll(db, sql: """
                SELECT c.id, c.document_id, c.version, c.seq, c.heading, c.text, json_extract(k.doc, '$.title') AS title, f.rank
                FROM (SELECT rowid, bm25(knowledge_fts, ?, ?, ?) AS rank FROM knowledge_fts
                      WHERE knowledge_fts MATCH ? AND rowid BETWEEN ? AND ?) f
                JOIN knowledge_chunk c ON c.id = f.rowid
                JOIN knowledge k ON k.id = c.document_id
                WHERE c.tenant_id = ? AND c.agent_id = ? AND k.active = 1
                ORDER BY f.rank, c.document_id, c.seq LIMIT ?
                """, arguments: [weights.title, weights.heading, weights.text, match, first, last,
                                 tenantID, agentID, vector == nil ? limit : max(limit, KnowledgeRanking.lexicalCandidates)]).map { row in
                let rank: Double = row["rank"]
                return (id: row["id"] as Int64, hit: Self.hit(row, score: -rank))
            }
            guard let vector else { return lexical.map(\.hit) }

            // Every vector of the model in the agent's stretch, by similarity.
            var similarity: [Int64: Double] = [:]
            let cursor = try Row.fetchCursor(db, sql: """
                SELECT c.id, c.embedding FROM knowledge_chunk c JOIN knowledge k ON k.id = c.document_id
                WHERE c.id BETWEEN ? AND ? AND c.embedding_model = ? AND c.tenant_id = ? AND k.active = 1
                """, arguments: [first, last, vector.model, tenantID])
            while let row = try cursor.next() {
                let bytes: Data = row["embedding"]
                guard let values = KnowledgeVector.values(bytes) else { continue }
                similarity[row["id"]] = KnowledgeVector.cosine(vector.values, values)
            }
            var candidates: [Int64: KnowledgeHit] = [:]
            for (id, hit) in lexical { candidates[id] = hit }
            let closest = similarity.filter { $0.value > 0 }.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
                .prefix(KnowledgeRanking.vectorCandidates).map(\.key).filter { candidates[$0] == nil }
            if !closest.isEmpty {
                let marks = Array(repeating: "?", count: closest.count).joined(separator: ", ")
                for row in try Row.fetchAll(db, sql: """
                    SELECT c.id, c.document_id, c.version, c.seq, c.heading, c.text, json_extract(k.doc, '$.title') AS title
                    FROM knowledge_chunk c JOIN knowledge k ON k.id = c.document_id WHERE c.id IN (\(marks))
                    """, arguments: StatementArguments(closest)) {
                    candidates[row["id"]] = Self.hit(row, score: 0)
                }
            }
            let best = lexical.map(\.hit.score).max() ?? 0
            let ranked = candidates.map { id, hit in
                var hit = hit
                hit.similarity = similarity[id] ?? 0
                hit.hybrid = KnowledgeRanking.hybrid(bm25: hit.score, bestBM25: best, cosine: hit.similarity ?? 0)
                return hit
            }
            return ranked.sorted {
                ($0.hybrid ?? 0, $1.documentID, $1.chunk) > ($1.hybrid ?? 0, $0.documentID, $0.chunk)
            }.prefix(limit).map { $0 }
        }
    }

    private static func hit(_ row: Row, score: Double) -> KnowledgeHit {
        KnowledgeHit(documentID: row["document_id"], title: row["title"] ?? "", version: row["version"], chunk: row["seq"],
                     heading: row["heading"], text: row["text"], score: score)
    }

    // MARK: - Vectors

    /// The chunks of a document's current version, each with the text its embedding is made from: the
    /// document's title, the chunk's heading and its text. Errors: not the tenant's (or agent's).
    package func knowledgeChunkTexts(tenantID: String, id: String, agentID: String?) async throws -> (DocumentRecord, [(id: Int64, text: String)]) {
        try await db.read { db in
            guard let record = try Self.fetch(db, .knowledge, tenantID: tenantID, id: id, agentID: agentID) else {
                throw RulesStoreError.notFound(.knowledge, id)
            }
            let title = try String.fetchOne(db, sql: "SELECT json_extract(doc, '$.title') FROM knowledge WHERE id = ?", arguments: [id]) ?? ""
            let chunks = try Row.fetchAll(db, sql: "SELECT id, heading, text FROM knowledge_chunk WHERE document_id = ? ORDER BY seq",
                                          arguments: [id]).map { row in
                (id: row["id"] as Int64, text: [title, row["heading"] as String, row["text"] as String].filter { !$0.isEmpty }.joined(separator: "\n"))
            }
            return (record, chunks)
        }
    }

    /// Stores the vectors of a document's chunks by `model`; chunks no longer the document's (re-indexed
    /// meanwhile) are skipped. Returns how many chunks took a vector. Errors: not the tenant's (or agent's).
    package func storeKnowledgeVectors(tenantID: String, id: String, agentID: String?, model: String,
                                       vectors: [(chunkID: Int64, bytes: [UInt8])]) async throws -> Int {
        try await db.write { db in
            guard try Self.fetch(db, .knowledge, tenantID: tenantID, id: id, agentID: agentID) != nil else {
                throw RulesStoreError.notFound(.knowledge, id)
            }
            var stored = 0
            for (chunkID, bytes) in vectors {
                try db.execute(sql: "UPDATE knowledge_chunk SET embedding = ?, embedding_model = ? WHERE id = ? AND document_id = ?",
                               arguments: [Data(bytes), model, chunkID, id])
                stored += db.changesCount
            }
            return stored
        }
    }

    /// How many chunks of each of the documents hold a vector.
    package func knowledgeVectorCounts(ids: [String]) async throws -> [String: Int] {
        guard !ids.isEmpty else { return [:] }
        return try await db.read { db in
            let marks = Array(repeating: "?", count: ids.count).joined(separator: ", ")
            var counts: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT document_id, count(*) AS n FROM knowledge_chunk WHERE document_id IN (\(marks)) AND embedding IS NOT NULL GROUP BY document_id
                """, arguments: StatementArguments(ids)) {
                counts[row["document_id"]] = row["n"]
            }
            return counts
        }
    }

    // MARK: - Partitions

    /// An agent's chunks have ids `number << knowledgePartitionBits` and up: 4 billion ids per agent
    /// (a full agent holds some 60,000 chunks; ids are taken after the highest in use), 2 billion agents.
    static let knowledgePartitionBits: Int64 = 32

    static func firstChunkID(_ number: Int64) -> Int64 { number << knowledgePartitionBits }
    static func lastChunkID(_ number: Int64) -> Int64 { ((number + 1) << knowledgePartitionBits) - 1 }

    /// The agent's partition number, given on its first indexed chunk.
    static func knowledgePartition(_ db: Database, agentID: String) throws -> Int64 {
        if let number = try Int64.fetchOne(db, sql: "SELECT number FROM knowledge_partition WHERE agent_id = ?", arguments: [agentID]) {
            return number
        }
        try db.execute(sql: "INSERT INTO knowledge_partition (agent_id, number) SELECT ?, coalesce(max(number), 0) + 1 FROM knowledge_partition",
                       arguments: [agentID])
        return try Int64.fetchOne(db, sql: "SELECT number FROM knowledge_partition WHERE agent_id = ?", arguments: [agentID]) ?? 0
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
        let number = try knowledgePartition(db, agentID: record.agentID)
        let highest = try Int64.fetchOne(db, sql: "SELECT max(id) FROM knowledge_chunk WHERE id BETWEEN ? AND ?",
                                         arguments: [firstChunkID(number), lastChunkID(number)]) ?? firstChunkID(number)
        let chunks = resource.chunks()
        guard highest + Int64(chunks.count) <= lastChunkID(number) else {
            throw DatabaseError(resultCode: .SQLITE_FULL, message: "knowledge partition \(number) has no ids left")
        }
        for (seq, chunk) in chunks.enumerated() {
            let id = highest + 1 + Int64(seq)
            try db.execute(sql: """
                INSERT INTO knowledge_chunk (id, tenant_id, agent_id, document_id, version, seq, heading, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [id, record.tenantID, record.agentID, record.id, record.version, seq, chunk.heading, chunk.text])
            try db.execute(sql: "INSERT INTO knowledge_fts (rowid, title, heading, text) VALUES (?, ?, ?, ?)",
                           arguments: [id, resource.title, chunk.heading, chunk.text])
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
        try db.execute(sql: "DELETE FROM knowledge_partition WHERE agent_id = ?", arguments: [agentID])
    }

    /// Deletes the chunks matching `condition` (a constant) and their index entries.
    private static func dropChunks(_ db: Database, sql condition: String, _ value: String) throws {
        try db.execute(sql: "DELETE FROM knowledge_fts WHERE rowid IN (SELECT id FROM knowledge_chunk WHERE \(condition))", arguments: [value])
        try db.execute(sql: "DELETE FROM knowledge_chunk WHERE \(condition)", arguments: [value])
    }
}
