import Basics
import Domain
import RuleEngine
import Foundation
import GRDB
import ServiceKit

/// rules-service's store: agents, rules and scripts as JSON documents, and what evaluations remember
/// (lead facts, rule states, decisions by event, own writes and the chains they continue, stopped
/// cascades, daily outcome counts, script uses).
///
/// Every method is one transaction. The documents are the resources' canonical JSON; identity members
/// (`id`, `version`, timestamps) live in columns and are added to answers by the server.
package struct RulesStore: Sendable {
    let db: DatabasePool

    package init(db: DatabasePool) { self.db = db }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    // MARK: - Documents

    /// Stores a new resource. Rules and scripts must belong to an agent of the same tenant; a script's
    /// first version is kept in its history.
    /// Inserts a new resource; with `quota`, only while the tenant holds fewer than that many of its kind
    /// (counted in the same transaction, so concurrent creates cannot pass it together).
    package func insert(_ record: DocumentRecord, quota: Int? = nil) async throws {
        try await db.write { db in
            if let quota {
                let held = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(record.kind.table) WHERE tenant_id = ?",
                                            arguments: [record.tenantID]) ?? 0
                guard held < quota else { throw RulesStoreError.quotaExceeded(record.kind, limit: quota) }
            }
            if record.kind != .agent {
                guard try Self.exists(db, .agent, tenantID: record.tenantID, id: record.agentID) else {
                    throw RulesStoreError.notFound(.agent, record.agentID)
                }
            }
            if record.kind == .knowledge {
                let held = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM knowledge WHERE tenant_id = ? AND agent_id = ?",
                                            arguments: [record.tenantID, record.agentID]) ?? 0
                guard held < Limits.knowledgeDocuments else { throw RulesStoreError.agentFull(.knowledge, limit: Limits.knowledgeDocuments) }
            }
            try Self.insertRow(db, record)
            if record.kind == .script {
                try Self.keepVersion(db, record)
                try Self.indexScript(db, record)
            }
            if record.kind == .knowledge {
                try Self.keepKnowledgeVersion(db, record)
                try Self.indexKnowledge(db, record)
            }
        }
    }

    /// A resource of the tenant, optionally required to belong to `agentID`.
    package func document(_ kind: DocumentKind, tenantID: String, id: String, agentID: String? = nil) async throws -> DocumentRecord? {
        try await db.read { db in try Self.fetch(db, kind, tenantID: tenantID, id: id, agentID: agentID) }
    }

    /// One page of the tenant's resources: rules by priority (highest first), others by creation.
    package func page(_ kind: DocumentKind, tenantID: String, agentID: String?, after cursor: PageCursor?, limit: Int,
                      enabled: Bool? = nil, nameContains text: String = "") async throws -> [DocumentRecord] {
        try await db.read { db in
            if let agentID, kind != .agent, try !Self.exists(db, .agent, tenantID: tenantID, id: agentID) {
                throw RulesStoreError.notFound(.agent, agentID)
            }
            var sql = "SELECT * FROM \(kind.table) WHERE tenant_id = ?"
            var arguments: StatementArguments = [tenantID]
            if let agentID, kind != .agent { sql += " AND agent_id = ?"; arguments += [agentID] }
            if let enabled {
                switch kind {
                case .agent: sql += " AND status = ?"; arguments += [enabled ? "active" : "paused"]
                case .rule: sql += " AND enabled = ?"; arguments += [enabled]
                case .script, .knowledge: sql += " AND active = ?"; arguments += [enabled]
                }
            }
            if !text.isEmpty {
                sql += " AND instr(lower(json_extract(doc, '\(kind == .knowledge ? "$.title" : "$.name")')), lower(?)) > 0"
                arguments += [text]
            }
            if kind == .rule {
                if let cursor { sql += " AND (priority < ? OR (priority = ? AND id > ?))"; arguments += [cursor.position, cursor.position, cursor.id] }
                sql += " ORDER BY priority DESC, id LIMIT ?"
            } else {
                if let cursor { sql += " AND (created_at > ? OR (created_at = ? AND id > ?))"; arguments += [cursor.position, cursor.position, cursor.id] }
                sql += " ORDER BY created_at, id LIMIT ?"
            }
            arguments += [limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { Self.record(kind, $0) }
        }
    }

    /// Replaces a resource with what `change` makes of it, checking `ifVersion` (when non-zero) against
    /// the stored version in the same transaction. `change` gets the tenant's script ids for validation
    /// and may throw to refuse. Returns the stored result with its new version.
    package func update(
        _ kind: DocumentKind, tenantID: String, id: String, agentID: String?, ifVersion: Int64, now: Int64,
        change: @Sendable (DocumentRecord, _ scriptIDs: Set<String>) throws -> DocumentRecord
    ) async throws -> DocumentRecord {
        try await db.write { db in
            guard let current = try Self.fetch(db, kind, tenantID: tenantID, id: id, agentID: agentID) else {
                throw RulesStoreError.notFound(kind, id)
            }
            if ifVersion != 0, ifVersion != current.version {
                throw RulesStoreError.versionMismatch(expected: ifVersion, actual: current.version)
            }
            let scripts = kind == .rule ? try Self.scriptIDs(db, tenantID: tenantID) : []
            var next = try change(current, scripts)
            next.id = current.id; next.tenantID = current.tenantID; next.agentID = current.agentID
            next.createdAt = current.createdAt; next.updatedAt = now; next.version = current.version + 1
            try Self.updateRow(db, next)
            if kind == .script {
                try Self.keepVersion(db, next)
                try Self.indexScript(db, next)
            }
            if kind == .knowledge {
                try Self.keepKnowledgeVersion(db, next)
                try Self.indexKnowledge(db, next)
            }
            return next
        }
    }

    /// Deletes a resource. An agent with rules or scripts is deleted only with `cascade`, and then with
    /// them; the lead state of deleted rules goes too. Counters stay for the statistics.
    package func delete(_ kind: DocumentKind, tenantID: String, id: String, agentID: String?, cascade: Bool) async throws {
        try await db.write { db in
            guard try Self.fetch(db, kind, tenantID: tenantID, id: id, agentID: agentID) != nil else {
                throw RulesStoreError.notFound(kind, id)
            }
            switch kind {
            case .agent:
                let rules = try Int.fetchOne(db, sql: "SELECT count(*) FROM rule WHERE agent_id = ?", arguments: [id]) ?? 0
                let scripts = try Int.fetchOne(db, sql: "SELECT count(*) FROM script WHERE agent_id = ?", arguments: [id]) ?? 0
                if rules + scripts > 0 && !cascade { throw RulesStoreError.hasDependents(rules: rules, scripts: scripts) }
                // The knowledge base is the agent's own material, not something else bound to it: it goes with the agent.
                try Self.deleteKnowledge(db, agentID: id)
                try db.execute(sql: "DELETE FROM rule_state WHERE tenant_id = ? AND rule_id IN (SELECT id FROM rule WHERE agent_id = ?)",
                               arguments: [tenantID, id])
                try db.execute(sql: "DELETE FROM script_version WHERE script_id IN (SELECT id FROM script WHERE agent_id = ?)", arguments: [id])
                try db.execute(sql: "DELETE FROM script_fts WHERE rowid IN (SELECT rowid FROM script WHERE agent_id = ?)", arguments: [id])
                try db.execute(sql: "DELETE FROM rule WHERE agent_id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM script WHERE agent_id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM agent WHERE id = ?", arguments: [id])
            case .rule:
                try db.execute(sql: "DELETE FROM rule_state WHERE tenant_id = ? AND rule_id = ?", arguments: [tenantID, id])
                try db.execute(sql: "DELETE FROM rule WHERE id = ?", arguments: [id])
            case .script:
                try db.execute(sql: "DELETE FROM script_version WHERE script_id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM script_fts WHERE rowid = (SELECT rowid FROM script WHERE id = ?)", arguments: [id])
                try db.execute(sql: "DELETE FROM script WHERE id = ?", arguments: [id])
            case .knowledge:
                try Self.deleteKnowledge(db, documentID: id)
            }
        }
    }

    /// The ids of the tenant's scripts, for rule validation.
    package func scriptIDs(tenantID: String) async throws -> Set<String> {
        try await db.read { db in try Self.scriptIDs(db, tenantID: tenantID) }
    }

    /// A stored version of a script.
    package func scriptVersion(tenantID: String, scriptID: String, version: Int64) async throws -> String? {
        try await db.read { db in
            try String.fetchOne(db, sql: "SELECT doc FROM script_version WHERE tenant_id = ? AND script_id = ? AND version = ?",
                                arguments: [tenantID, scriptID, version])
        }
    }

    /// The tenant's agents and enabled rules, read together so the rule set matches the agents.
    package func evaluationResources(tenantID: String) async throws -> (agents: [DocumentRecord], rules: [DocumentRecord]) {
        try await db.read { db in
            let agents = try Row.fetchAll(db, sql: "SELECT * FROM agent WHERE tenant_id = ?", arguments: [tenantID]).map { Self.record(.agent, $0) }
            let rules = try Row.fetchAll(db, sql: "SELECT * FROM rule WHERE tenant_id = ? AND enabled = 1", arguments: [tenantID])
                .map { Self.record(.rule, $0) }
            return (agents, rules)
        }
    }

    /// The tenant's scripts of an agent.
    package func scripts(tenantID: String, agentID: String) async throws -> [DocumentRecord] {
        try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM script WHERE tenant_id = ? AND agent_id = ? ORDER BY created_at, id",
                             arguments: [tenantID, agentID]).map { Self.record(.script, $0) }
        }
    }

    /// How many agents and rules there are (all tenants), for the gauges.
    package func totals() async throws -> (agents: Int, rules: Int, enabledRules: Int) {
        try await db.read { db in
            (try Int.fetchOne(db, sql: "SELECT count(*) FROM agent") ?? 0,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM rule") ?? 0,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM rule WHERE enabled = 1") ?? 0)
        }
    }

    // MARK: - Evaluation

    /// The stored decision for an event key, if there is one.
    package func decision(tenantID: String, eventKey: String) async throws -> DecisionRecord? {
        try await db.read { db in try Self.storedDecision(db, tenantID: tenantID, eventKey: eventKey) }
    }

    /// What a dry run reads about a lead.
    package func leadInputs(tenantID: String, leadID: Int64?, ownWritesSince: Int64) async throws -> LeadInputs {
        try await db.read { db in try Self.inputs(db, tenantID: tenantID, leadID: leadID, ownWritesSince: ownWritesSince) }
    }

    /// Decides and records in one transaction: reads the lead's facts, states and recent own writes, calls
    /// `decide`, and stores the updated facts, the state updates, the decision (by event key), the daily
    /// outcome counts, which own write the event was taken as the echo of and, when the cascade bound
    /// stopped rules, the cycle. When the event key already has a decision, that one is returned and
    /// nothing is written (`repeated` is true).
    package func evaluate(
        tenantID: String, eventKey: String, leadID: Int64?, ownWritesSince: Int64,
        decide: @Sendable (LeadInputs) throws -> DecisionRecord
    ) async throws -> (record: DecisionRecord, repeated: Bool) {
        try await db.write { db in
            if let stored = try Self.storedDecision(db, tenantID: tenantID, eventKey: eventKey) {
                return (stored, true)
            }
            let inputs = try Self.inputs(db, tenantID: tenantID, leadID: leadID, ownWritesSince: ownWritesSince)
            var record = try decide(inputs)
            let decision = record.decision
            let now = decision.evaluatedAt.unixMicros
            if let leadID {
                if let facts = decision.facts {
                    try Self.recordActivity(db, tenantID: tenantID, before: inputs.facts, after: facts, at: now)
                    try db.execute(sql: """
                        INSERT INTO lead_facts (tenant_id, lead_id, facts, updated_at) VALUES (?, ?, ?, ?)
                        ON CONFLICT (tenant_id, lead_id) DO UPDATE SET facts = excluded.facts, updated_at = excluded.updated_at
                        """, arguments: [tenantID, leadID, String(decoding: try Self.encoder.encode(facts), as: UTF8.self), now])
                }
                for (ruleID, state) in decision.stateUpdates {
                    try db.execute(sql: """
                        INSERT INTO rule_state (tenant_id, lead_id, rule_id, last_fired_at, fire_count) VALUES (?, ?, ?, ?, ?)
                        ON CONFLICT (tenant_id, lead_id, rule_id) DO UPDATE SET last_fired_at = excluded.last_fired_at,
                            fire_count = excluded.fire_count
                        """, arguments: [tenantID, leadID, ruleID, state.lastFiredAt?.unixMicros, state.fireCount])
                }
                if let cascade = decision.cascade {
                    try Self.recordEcho(db, tenantID: tenantID, leadID: leadID, eventID: decision.eventID, cascade: cascade, at: now)
                }
            }
            let day = Self.day(micros: now)
            // One prepared statement for all the counters of this decision.
            let count = try db.cachedStatement(sql: """
                INSERT INTO rule_day_count (tenant_id, rule_id, agent_id, day, outcome, count) VALUES (?, ?, ?, ?, ?, 1)
                ON CONFLICT (tenant_id, rule_id, day, outcome) DO UPDATE SET count = count + 1
                """)
            for explanation in decision.explanations {
                try count.execute(arguments: [tenantID, explanation.ruleID, explanation.agentID, day, explanation.outcome.rawValue])
                // Per rule and outcome, by hour, for analytics: stored with the decision, so an event
                // evaluated again (a retried Evaluate) returns the stored decision and counts nothing.
                try AnalyticsCounters.add(db, tenantID: tenantID, at: now, key: "rule.\(explanation.ruleID).\(explanation.outcome.rawValue)",
                                          agentID: explanation.agentID)
            }
            try AnalyticsCounters.add(db, tenantID: tenantID, at: now, key: "rules.evaluated")
            // The facts are stored on their own; the decision keeps what the answer needs.
            record.decision.facts = nil
            try db.execute(sql: "INSERT INTO decision (tenant_id, event_key, lead_id, doc, decided_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [tenantID, eventKey, leadID, String(decoding: try Self.encoder.encode(record), as: UTF8.self), now])
            return (record, false)
        }
    }

    /// A lead's facts.
    package func facts(tenantID: String, leadID: Int64) async throws -> LeadFacts? {
        try await db.read { db in try Self.facts(db, tenantID: tenantID, leadID: leadID) }
    }

    // MARK: - Executor reports

    /// Stores script uses and own writes; repeats (same action key and script, same write) change nothing.
    /// Scripts and rules named must be the tenant's. Each write remembers the chain its echo will carry:
    /// the chain of the decision that planned it (by `eventID`), one step longer.
    package func record(tenantID: String, uses: [ScriptUseRecord], writes: [OwnWriteRecord]) async throws {
        try await db.write { db in
            for use in uses {
                guard let script = try Self.fetch(db, .script, tenantID: tenantID, id: use.scriptID, agentID: nil) else {
                    throw RulesStoreError.notFound(.script, use.scriptID)
                }
                try db.execute(sql: """
                    INSERT OR IGNORE INTO script_use (tenant_id, action_key, script_id, version, agent_id, lead_id, used_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [tenantID, use.actionKey, use.scriptID, use.version == 0 ? script.version : use.version,
                                     script.agentID, use.leadID, use.usedAt])
            }
            for write in writes {
                var name = ""
                if !write.ruleID.isEmpty {
                    guard let rule = try Self.fetch(db, .rule, tenantID: tenantID, id: write.ruleID, agentID: nil) else {
                        throw RulesStoreError.notFound(.rule, write.ruleID)
                    }
                    name = Self.name(of: rule)
                }
                let parent = write.eventID.isEmpty
                    ? Cascade(originEventID: "")
                    : try Self.storedDecision(db, tenantID: tenantID, eventKey: write.eventID)?.decision.cascade?.chain
                        ?? Cascade(originEventID: write.eventID)
                let chain = parent.extended(by: CascadeStep(ruleID: write.ruleID, ruleName: name, eventID: write.eventID,
                                                            at: Date(unixMicros: write.at)))
                try db.execute(sql: """
                    INSERT OR IGNORE INTO own_write (tenant_id, lead_id, kind, field, value, rule_id, at, event_id, cascade)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [tenantID, write.leadID, write.kind, write.field, write.value, write.ruleID, write.at,
                                     write.eventID, try Self.json(chain)])
            }
        }
    }

    // MARK: - Cascades

    /// The cycles the cascade bound stopped, most recently stopped first, with the rules' names as they
    /// are now; with `agentID`, only cycles with a rule of that agent (which must be the tenant's).
    package func cascadeStops(tenantID: String, agentID: String?, limit: Int) async throws -> [CascadeStopRecord] {
        try await db.read { db in
            if let agentID, try !Self.exists(db, .agent, tenantID: tenantID, id: agentID) {
                throw RulesStoreError.notFound(.agent, agentID)
            }
            let rows = try Row.fetchAll(db, sql: """
                SELECT rules, stops, last_at, last_event_id, last_lead_id, last_cascade FROM cascade_stop
                WHERE tenant_id = ? AND (? IS NULL OR EXISTS (SELECT 1 FROM json_each(cascade_stop.rules) WHERE json_extract(value, '$.agent_id') = ?))
                ORDER BY last_at DESC, cycle_key LIMIT ?
                """, arguments: [tenantID, agentID, agentID, limit])
            return try rows.map { row in
                let stored = try JSONDecoder().decode([CascadeRuleRef].self, from: Data((row["rules"] as String).utf8))
                let rules = try stored.map { ref in
                    guard let rule = try Self.fetch(db, .rule, tenantID: tenantID, id: ref.ruleID, agentID: nil) else {
                        return CascadeRuleRef(ruleID: ref.ruleID, ruleName: ref.ruleName, agentID: "")
                    }
                    return CascadeRuleRef(ruleID: ref.ruleID, ruleName: Self.name(of: rule), agentID: rule.agentID)
                }
                return CascadeStopRecord(
                    rules: rules, stops: row["stops"], lastAt: row["last_at"], lastEventID: row["last_event_id"],
                    lastLeadID: row["last_lead_id"],
                    lastCascade: try JSONDecoder().decode(CascadeVerdict.self, from: Data((row["last_cascade"] as String).utf8)))
            }
        }
    }

    /// Marks the own write `event` was taken as the echo of, so that it continues no other chain, and
    /// counts the cycle when the cascade bound stopped rules on the event.
    static func recordEcho(_ db: Database, tenantID: String, leadID: Int64, eventID: String, cascade: CascadeVerdict, at: Int64) throws {
        let write = cascade.echoOf
        try db.execute(sql: """
            UPDATE own_write SET echoed_by = ?
            WHERE tenant_id = ? AND lead_id = ? AND at = ? AND kind = ? AND field = ? AND value = ? AND rule_id = ? AND echoed_by = ''
            """, arguments: [eventID, tenantID, leadID, write.at.unixMicros, write.kind.rawValue, write.field ?? "", write.value, write.ruleID])
        guard cascade.stopped else { return }
        let ids = cascade.chain.ruleIDs.filter { !$0.isEmpty }
        let rules = try ids.map { id in
            let step = cascade.chain.steps.last { $0.ruleID == id }
            guard let rule = try fetch(db, .rule, tenantID: tenantID, id: id, agentID: nil) else {
                return CascadeRuleRef(ruleID: id, ruleName: step?.ruleName ?? "", agentID: "")
            }
            return CascadeRuleRef(ruleID: id, ruleName: name(of: rule), agentID: rule.agentID)
        }
        try db.execute(sql: """
            INSERT INTO cascade_stop (tenant_id, cycle_key, rules, stops, last_at, last_event_id, last_lead_id, last_cascade)
            VALUES (?, ?, ?, 1, ?, ?, ?, ?)
            ON CONFLICT (tenant_id, cycle_key) DO UPDATE SET rules = excluded.rules, stops = stops + 1, last_at = excluded.last_at,
                last_event_id = excluded.last_event_id, last_lead_id = excluded.last_lead_id, last_cascade = excluded.last_cascade
            """, arguments: [tenantID, ids.sorted().joined(separator: " "), try json(rules), at, eventID, leadID, try json(cascade)])
    }

    // MARK: - Statistics

    /// Daily outcome counts of rules between two days (inclusive, `yyyy-MM-dd`).
    package func ruleCounts(tenantID: String, ruleIDs: [String], fromDay: String, toDay: String) async throws -> [RuleDayCount] {
        guard !ruleIDs.isEmpty else { return [] }
        return try await db.read { db in
            let marks = Array(repeating: "?", count: ruleIDs.count).joined(separator: ",")
            var arguments: StatementArguments = [tenantID, fromDay, toDay]
            arguments += StatementArguments(ruleIDs)
            return try Row.fetchAll(db, sql: """
                SELECT rule_id, day, outcome, count FROM rule_day_count
                WHERE tenant_id = ? AND day BETWEEN ? AND ? AND rule_id IN (\(marks)) ORDER BY rule_id, day, outcome
                """, arguments: arguments).map { RuleDayCount(ruleID: $0["rule_id"], day: $0["day"], outcome: $0["outcome"], count: $0["count"]) }
        }
    }

    /// Daily use counts of a script by version in a time range.
    package func scriptCounts(tenantID: String, scriptID: String, from: Int64, to: Int64) async throws -> [ScriptDayCount] {
        try await db.read { db in
            try Row.fetchAll(db, sql: """
                SELECT version, used_at FROM script_use WHERE tenant_id = ? AND script_id = ? AND used_at BETWEEN ? AND ?
                """, arguments: [tenantID, scriptID, from, to]).reduce(into: [ScriptDayCount]()) { counts, row in
                let version: Int64 = row["version"]
                let day = Self.day(micros: row["used_at"])
                if let index = counts.firstIndex(where: { $0.version == version && $0.day == day }) {
                    counts[index].count += 1
                } else {
                    counts.append(ScriptDayCount(version: version, day: day, count: 1))
                }
            }.sorted { ($0.day, $0.version) < ($1.day, $1.version) }
        }
    }

    /// The tenant's analytics counters in `[fromHour, toHour)`, optionally of one agent.
    package func analyticsCounts(tenantID: String, fromHour: Int64, toHour: Int64, agentID: String?, buckets: [Int64] = []) async throws -> [CounterSum] {
        try await db.read { db in
            try AnalyticsCounters.counts(db, tenantID: tenantID, fromHour: fromHour, toHour: toHour, agentID: agentID, buckets: buckets)
        }
    }

    // MARK: - Helpers

    /// `yyyy-MM-dd` in UTC.
    package static func day(micros: Int64) -> String {
        Date(unixMicros: micros).formatted(Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day())
    }

    /// A value as the JSON text a column keeps.
    static func json(_ value: some Encodable) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// A stored rule's (or other document's) `name`; empty when it has none.
    static func name(of record: DocumentRecord) -> String {
        guard case .object(let members)? = JSONValue(parsing: record.doc), case .string(let name)? = members["name"] else { return "" }
        return name
    }

    static func exists(_ db: Database, _ kind: DocumentKind, tenantID: String, id: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM \(kind.table) WHERE id = ? AND tenant_id = ?)", arguments: [id, tenantID]) ?? false
    }

    static func fetch(_ db: Database, _ kind: DocumentKind, tenantID: String, id: String, agentID: String?) throws -> DocumentRecord? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM \(kind.table) WHERE id = ? AND tenant_id = ?", arguments: [id, tenantID]) else {
            return nil
        }
        let record = record(kind, row)
        if let agentID, kind != .agent, record.agentID != agentID { return nil }
        return record
    }

    static func record(_ kind: DocumentKind, _ row: Row) -> DocumentRecord {
        var record = DocumentRecord(kind: kind, id: row["id"], tenantID: row["tenant_id"], doc: row["doc"], version: row["version"],
                                    createdAt: row["created_at"], updatedAt: row["updated_at"])
        switch kind {
        case .agent:
            record.enabled = (row["status"] as String) == "active"
        case .rule:
            record.agentID = row["agent_id"]
            record.enabled = row["enabled"]
            record.priority = row["priority"]
        case .script, .knowledge:
            record.agentID = row["agent_id"]
            record.enabled = row["active"]
        }
        return record
    }

    static func insertRow(_ db: Database, _ record: DocumentRecord) throws {
        switch record.kind {
        case .agent:
            try db.execute(sql: "INSERT INTO agent (id, tenant_id, doc, status, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           arguments: [record.id, record.tenantID, record.doc, record.enabled ? "active" : "paused", record.version,
                                       record.createdAt, record.updatedAt])
        case .rule:
            try db.execute(sql: """
                INSERT INTO rule (id, tenant_id, agent_id, doc, enabled, priority, version, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [record.id, record.tenantID, record.agentID, record.doc, record.enabled, record.priority, record.version,
                                 record.createdAt, record.updatedAt])
        case .script, .knowledge:
            try db.execute(sql: """
                INSERT INTO \(record.kind.table) (id, tenant_id, agent_id, doc, active, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [record.id, record.tenantID, record.agentID, record.doc, record.enabled, record.version,
                                 record.createdAt, record.updatedAt])
        }
    }

    static func updateRow(_ db: Database, _ record: DocumentRecord) throws {
        switch record.kind {
        case .agent:
            try db.execute(sql: "UPDATE agent SET doc = ?, status = ?, version = ?, updated_at = ? WHERE id = ?",
                           arguments: [record.doc, record.enabled ? "active" : "paused", record.version, record.updatedAt, record.id])
        case .rule:
            try db.execute(sql: "UPDATE rule SET doc = ?, enabled = ?, priority = ?, version = ?, updated_at = ? WHERE id = ?",
                           arguments: [record.doc, record.enabled, record.priority, record.version, record.updatedAt, record.id])
        case .script, .knowledge:
            try db.execute(sql: "UPDATE \(record.kind.table) SET doc = ?, active = ?, version = ?, updated_at = ? WHERE id = ?",
                           arguments: [record.doc, record.enabled, record.version, record.updatedAt, record.id])
        }
    }

    static func keepVersion(_ db: Database, _ record: DocumentRecord) throws {
        try db.execute(sql: "INSERT INTO script_version (script_id, version, tenant_id, doc, created_at) VALUES (?, ?, ?, ?, ?)",
                       arguments: [record.id, record.version, record.tenantID, record.doc, record.updatedAt])
    }

    static func scriptIDs(_ db: Database, tenantID: String) throws -> Set<String> {
        Set(try String.fetchAll(db, sql: "SELECT id FROM script WHERE tenant_id = ?", arguments: [tenantID]))
    }

    static func storedDecision(_ db: Database, tenantID: String, eventKey: String) throws -> DecisionRecord? {
        guard let doc = try String.fetchOne(db, sql: "SELECT doc FROM decision WHERE tenant_id = ? AND event_key = ?",
                                            arguments: [tenantID, eventKey]) else { return nil }
        return try JSONDecoder().decode(DecisionRecord.self, from: Data(doc.utf8))
    }

    static func facts(_ db: Database, tenantID: String, leadID: Int64) throws -> LeadFacts? {
        guard let doc = try String.fetchOne(db, sql: "SELECT facts FROM lead_facts WHERE tenant_id = ? AND lead_id = ?",
                                            arguments: [tenantID, leadID]) else { return nil }
        return try JSONDecoder().decode(LeadFacts.self, from: Data(doc.utf8))
    }

    static func inputs(_ db: Database, tenantID: String, leadID: Int64?, ownWritesSince: Int64) throws -> LeadInputs {
        guard let leadID else { return LeadInputs(facts: nil, states: [:], ownWrites: []) }
        var states: [String: RuleState] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT rule_id, last_fired_at, fire_count FROM rule_state WHERE tenant_id = ? AND lead_id = ?",
                                    arguments: [tenantID, leadID]) {
            let last: Int64? = row["last_fired_at"]
            states[row["rule_id"]] = RuleState(lastFiredAt: last.map(Date.init(unixMicros:)), fireCount: row["fire_count"])
        }
        let writes = try Row.fetchAll(db, sql: """
            SELECT kind, field, value, rule_id, at, event_id, cascade, echoed_by FROM own_write
            WHERE tenant_id = ? AND lead_id = ? AND at >= ? ORDER BY at DESC
            """, arguments: [tenantID, leadID, ownWritesSince]).compactMap { row in
            let chain: String = row["cascade"]
            return OwnWriteRecord(leadID: leadID, kind: row["kind"], field: row["field"], value: row["value"], ruleID: row["rule_id"],
                                  at: row["at"], eventID: row["event_id"],
                                  cascade: chain.isEmpty ? nil : try JSONDecoder().decode(Cascade.self, from: Data(chain.utf8)),
                                  echoedBy: row["echoed_by"]).ownWrite
        }
        return LeadInputs(facts: try facts(db, tenantID: tenantID, leadID: leadID), states: states, ownWrites: writes)
    }
}
