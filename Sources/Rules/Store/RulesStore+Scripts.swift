import Basics
import Domain
import RuleEngine
import Foundation
import GRDB
import ServiceKit

/// What a script listing is narrowed to.
package struct ScriptFilter: Sendable, Hashable {
    package var agentID: String
    /// One of `ScriptResource.types`.
    package var type: String?
    /// Scripts that apply to this stage: the ones naming it and the ones for every stage.
    package var stageID: Int64?
    package var active: Bool?
    /// Words searched in name and body; results are then ordered by relevance.
    package var text: String

    package init(agentID: String, type: String? = nil, stageID: Int64? = nil, active: Bool? = nil, text: String = "") {
        self.agentID = agentID; self.type = type; self.stageID = stageID; self.active = active; self.text = text
    }
}

/// One saved version of a script.
package struct ScriptVersionRecord: Sendable, Hashable {
    package var version: Int64
    package var doc: String
    package var createdAt: Int64
}

/// One script use with what the lead did afterwards.
package struct ScriptUseOutcome: Sendable, Hashable {
    package var version: Int64
    package var usedAt: Int64
    /// Microseconds from the use to the lead's first inbound message within the reply window.
    package var replyAfter: Int64?
    /// The lead moved to another stage of the same pipeline (not lost) within the advance window.
    package var advanced: Bool
    /// The lead reached won (142) within the win window.
    package var won: Bool
}

extension RulesStore {
    /// Kommo's fixed stage ids for closed leads.
    package static let wonStage: Int64 = 142
    package static let lostStage: Int64 = 143
    /// The windows after a use in which a reply, an advance and a win count for it.
    package static let replyWindow: Int64 = 24 * 3_600 * 1_000_000
    package static let advanceWindow: Int64 = 7 * 86_400 * 1_000_000
    package static let winWindow: Int64 = 30 * 86_400 * 1_000_000

    // MARK: - Search

    /// One page of an agent's scripts. Without search text they come in creation order after `cursor`;
    /// with it, by bm25 relevance (a match in the name weighs more than one in the body), skipping
    /// `offset` results, because relevance is not a stable key to continue after.
    package func scripts(tenantID: String, filter: ScriptFilter, after cursor: PageCursor?, offset: Int, limit: Int) async throws -> [DocumentRecord] {
        try await db.read { db in
            guard try Self.exists(db, .agent, tenantID: tenantID, id: filter.agentID) else {
                throw RulesStoreError.notFound(.agent, filter.agentID)
            }
            var conditions = ["script.tenant_id = ?", "script.agent_id = ?"]
            var arguments: StatementArguments = [tenantID, filter.agentID]
            if let type = filter.type { conditions.append("json_extract(script.doc, '$.type') = ?"); arguments += [type] }
            if let active = filter.active { conditions.append("script.active = ?"); arguments += [active] }
            if let stage = filter.stageID {
                conditions.append("""
                    (json_array_length(script.doc, '$.stage_ids') = 0
                     OR EXISTS (SELECT 1 FROM json_each(script.doc, '$.stage_ids') WHERE value = ?))
                    """)
                arguments += [stage]
            }
            let sql: String
            if filter.text.isEmpty {
                if let cursor {
                    conditions.append("(script.created_at > ? OR (script.created_at = ? AND script.id > ?))")
                    arguments += [cursor.position, cursor.position, cursor.id]
                }
                sql = "SELECT script.* FROM script WHERE \(conditions.joined(separator: " AND ")) ORDER BY script.created_at, script.id LIMIT ?"
                arguments += [limit]
            } else {
                guard let match = Self.matchExpression(filter.text) else { return [] }
                sql = """
                    SELECT script.* FROM script_fts JOIN script ON script.rowid = script_fts.rowid
                    WHERE script_fts MATCH ? AND \(conditions.joined(separator: " AND "))
                    ORDER BY bm25(script_fts, 5.0, 1.0), script.id LIMIT ? OFFSET ?
                    """
                var ranked: StatementArguments = [match]
                ranked += arguments
                ranked += [limit, offset]
                arguments = ranked
            }
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { Self.record(.script, $0) }
        }
    }

    /// An FTS5 query matching every word of `text` (the last one as a prefix, for search as you type);
    /// `nil` when the text has no words. Words are quoted so FTS5's operators in user input stay literal.
    static func matchExpression(_ text: String) -> String? {
        let words = text.split { !$0.isLetter && !$0.isNumber }.prefix(16).map { "\"\($0)\"" }
        guard !words.isEmpty else { return nil }
        return words.joined(separator: " ") + "*"
    }

    /// Keeps the search index of a script in step with its current version.
    static func indexScript(_ db: Database, _ record: DocumentRecord) throws {
        let rowid = try Int64.fetchOne(db, sql: "SELECT rowid FROM script WHERE id = ?", arguments: [record.id])
        guard let rowid else { return }
        try db.execute(sql: "DELETE FROM script_fts WHERE rowid = ?", arguments: [rowid])
        try db.execute(sql: """
            INSERT INTO script_fts (rowid, name, body) VALUES (?, json_extract(?, '$.name'), json_extract(?, '$.body'))
            """, arguments: [rowid, record.doc, record.doc])
    }

    // MARK: - Versions

    /// A script of the tenant (and agent) with its saved versions, newest first.
    package func scriptVersions(tenantID: String, scriptID: String, agentID: String?) async throws -> (DocumentRecord, [ScriptVersionRecord]) {
        try await db.read { db in
            guard let script = try Self.fetch(db, .script, tenantID: tenantID, id: scriptID, agentID: agentID) else {
                throw RulesStoreError.notFound(.script, scriptID)
            }
            let versions = try Row.fetchAll(db, sql: """
                SELECT version, doc, created_at FROM script_version WHERE tenant_id = ? AND script_id = ? ORDER BY version DESC
                """, arguments: [tenantID, scriptID]).map {
                ScriptVersionRecord(version: $0["version"], doc: $0["doc"], createdAt: $0["created_at"])
            }
            return (script, versions)
        }
    }

    // MARK: - Lead activity

    /// Remembers, from how an evaluation changed a lead's facts, an inbound message and a known stage
    /// move, so script statistics can tell what a lead did after a script was used.
    static func recordActivity(_ db: Database, tenantID: String, before: LeadFacts?, after: LeadFacts, at now: Int64) throws {
        if after.inboundCount > (before?.inboundCount ?? 0) {
            // A late message does not move `lastInboundAt`; then the evaluation time stands in for it.
            let at = after.lastInboundAt != before?.lastInboundAt ? after.lastInboundAt?.unixMicros ?? now : now
            try db.execute(sql: "INSERT OR IGNORE INTO lead_inbound (tenant_id, lead_id, at) VALUES (?, ?, ?)",
                           arguments: [tenantID, after.leadID, at])
        }
        // Only known moves count: a stage first learned from an update is where the lead was, not a step.
        if let stage = after.stageID, let entered = after.stageEnteredAt, entered != before?.stageEnteredAt {
            try db.execute(sql: """
                INSERT OR IGNORE INTO lead_stage_change (tenant_id, lead_id, at, pipeline_id, stage_id) VALUES (?, ?, ?, ?, ?)
                """, arguments: [tenantID, after.leadID, entered.unixMicros, after.pipelineID, stage])
        }
    }

    // MARK: - Outcomes

    /// The uses of each script in a time range with what each lead did afterwards, read together.
    package func scriptOutcomes(tenantID: String, scriptIDs: [String], from: Int64, to: Int64) async throws -> [String: [ScriptUseOutcome]] {
        try await db.read { db in
            // Three lookups per use: each statement is compiled once for the whole read.
            let replyAfter = try db.cachedStatement(sql: """
                SELECT min(at) FROM lead_inbound WHERE tenant_id = ? AND lead_id = ? AND at > ? AND at <= ?
                """)
            let stageBefore = try db.cachedStatement(sql: """
                SELECT pipeline_id, stage_id FROM lead_stage_change WHERE tenant_id = ? AND lead_id = ? AND at <= ?
                ORDER BY at DESC LIMIT 1
                """)
            let movesAfter = try db.cachedStatement(sql: """
                SELECT at, pipeline_id, stage_id FROM lead_stage_change WHERE tenant_id = ? AND lead_id = ? AND at > ? AND at <= ?
                """)
            var outcomes: [String: [ScriptUseOutcome]] = [:]
            for scriptID in scriptIDs {
                let uses = try Row.fetchAll(db, sql: """
                    SELECT version, lead_id, used_at FROM script_use WHERE tenant_id = ? AND script_id = ? AND used_at BETWEEN ? AND ?
                    ORDER BY used_at
                    """, arguments: [tenantID, scriptID, from, to])
                outcomes[scriptID] = try uses.map { row in
                    let lead: Int64 = row["lead_id"]
                    let usedAt: Int64 = row["used_at"]
                    let reply = try Int64.fetchOne(replyAfter, arguments: [tenantID, lead, usedAt, usedAt + Self.replyWindow])
                    let before = try Row.fetchOne(stageBefore, arguments: [tenantID, lead, usedAt])
                    let stageAtUse: Int64? = before?["stage_id"]
                    let pipelineAtUse: Int64? = before?["pipeline_id"]
                    let moves = try Row.fetchAll(movesAfter, arguments: [tenantID, lead, usedAt, usedAt + Self.winWindow])
                    var advanced = false
                    var won = false
                    for move in moves {
                        let at: Int64 = move["at"]
                        let stage: Int64 = move["stage_id"]
                        let pipeline: Int64? = move["pipeline_id"]
                        if stage == Self.wonStage { won = true }
                        let samePipeline = pipelineAtUse == nil || pipeline == nil || pipeline == pipelineAtUse
                        if at <= usedAt + Self.advanceWindow, stage != Self.lostStage, stage != stageAtUse, samePipeline {
                            advanced = true
                        }
                    }
                    return ScriptUseOutcome(version: row["version"], usedAt: usedAt, replyAfter: reply.map { $0 - usedAt },
                                            advanced: advanced, won: won)
                }
            }
            return outcomes
        }
    }
}
