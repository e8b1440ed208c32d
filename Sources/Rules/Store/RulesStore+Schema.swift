import ServiceKit
import GRDB

extension RulesStore {
    /// Append-only migrations of rules-service's store. Never edit one that has shipped.
    package static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-meta") { db in
            try db.execute(sql: "CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL)")
        }
        migrator.registerMigration("v2-resources") { db in
            try db.execute(sql: """
                CREATE TABLE agent (
                    id TEXT PRIMARY KEY NOT NULL,
                    tenant_id TEXT NOT NULL,
                    -- the resource as JSON, without the identity members the server adds to answers
                    doc TEXT NOT NULL,
                    status TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                CREATE INDEX agent_by_tenant ON agent(tenant_id, created_at, id);
                CREATE TABLE rule (
                    id TEXT PRIMARY KEY NOT NULL,
                    tenant_id TEXT NOT NULL,
                    agent_id TEXT NOT NULL REFERENCES agent(id),
                    doc TEXT NOT NULL,
                    enabled INTEGER NOT NULL,
                    priority INTEGER NOT NULL,
                    version INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                CREATE INDEX rule_by_agent ON rule(tenant_id, agent_id, priority DESC, id);
                CREATE INDEX rule_by_tenant ON rule(tenant_id, enabled);
                CREATE TABLE script (
                    id TEXT PRIMARY KEY NOT NULL,
                    tenant_id TEXT NOT NULL,
                    agent_id TEXT NOT NULL REFERENCES agent(id),
                    doc TEXT NOT NULL,
                    active INTEGER NOT NULL,
                    version INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                CREATE INDEX script_by_agent ON script(tenant_id, agent_id, created_at, id);
                -- every saved version of a script, for history, rollback and per-version statistics
                CREATE TABLE script_version (
                    script_id TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    tenant_id TEXT NOT NULL,
                    doc TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (script_id, version)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v3-evaluation") { db in
            try db.execute(sql: """
                CREATE TABLE lead_facts (
                    tenant_id TEXT NOT NULL,
                    lead_id INTEGER NOT NULL,
                    facts TEXT NOT NULL,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, lead_id)
                ) WITHOUT ROWID;
                CREATE TABLE rule_state (
                    tenant_id TEXT NOT NULL,
                    lead_id INTEGER NOT NULL,
                    rule_id TEXT NOT NULL,
                    last_fired_at INTEGER,
                    fire_count INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, lead_id, rule_id)
                ) WITHOUT ROWID;
                -- decisions by event (and replay scope): a repeated Evaluate answers from here
                CREATE TABLE decision (
                    tenant_id TEXT NOT NULL,
                    event_key TEXT NOT NULL,
                    lead_id INTEGER,
                    doc TEXT NOT NULL,
                    decided_at INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, event_key)
                ) WITHOUT ROWID;
                CREATE TABLE own_write (
                    tenant_id TEXT NOT NULL,
                    lead_id INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    field TEXT NOT NULL DEFAULT '',
                    value TEXT NOT NULL,
                    rule_id TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, lead_id, at, kind, field, value, rule_id)
                ) WITHOUT ROWID;
                -- firings and non-firings per rule, day (UTC) and outcome
                CREATE TABLE rule_day_count (
                    tenant_id TEXT NOT NULL,
                    rule_id TEXT NOT NULL,
                    agent_id TEXT NOT NULL,
                    day TEXT NOT NULL,
                    outcome TEXT NOT NULL,
                    count INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, rule_id, day, outcome)
                ) WITHOUT ROWID;
                CREATE TABLE script_use (
                    tenant_id TEXT NOT NULL,
                    action_key TEXT NOT NULL,
                    script_id TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    agent_id TEXT NOT NULL,
                    lead_id INTEGER NOT NULL,
                    used_at INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, action_key, script_id)
                ) WITHOUT ROWID;
                CREATE INDEX script_use_by_script ON script_use(tenant_id, script_id, used_at);
                """)
        }
        migrator.registerMigration("v4-script-search-and-outcomes") { db in
            try db.execute(sql: """
                -- full-text index of script names and bodies; its rowid is the script row's rowid
                CREATE VIRTUAL TABLE script_fts USING fts5(name, body, tokenize = 'unicode61 remove_diacritics 2');
                INSERT INTO script_fts (rowid, name, body)
                    SELECT rowid, json_extract(doc, '$.name'), json_extract(doc, '$.body') FROM script;
                -- inbound messages per lead, for the reply rate of script uses
                CREATE TABLE lead_inbound (
                    tenant_id TEXT NOT NULL,
                    lead_id INTEGER NOT NULL,
                    at INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, lead_id, at)
                ) WITHOUT ROWID;
                -- stage moves per lead, for the advance and win rates of script uses
                CREATE TABLE lead_stage_change (
                    tenant_id TEXT NOT NULL,
                    lead_id INTEGER NOT NULL,
                    at INTEGER NOT NULL,
                    pipeline_id INTEGER,
                    stage_id INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, lead_id, at, stage_id)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v5-cascades") { db in
            try db.execute(sql: """
                -- the event whose decision planned the write, the chain its echo carries (JSON of the
                -- engine's Cascade; empty for writes recorded before), and the event taken as its echo
                ALTER TABLE own_write ADD COLUMN event_id TEXT NOT NULL DEFAULT '';
                ALTER TABLE own_write ADD COLUMN cascade TEXT NOT NULL DEFAULT '';
                ALTER TABLE own_write ADD COLUMN echoed_by TEXT NOT NULL DEFAULT '';
                -- cycles of rules the cascade bound stopped: one row per set of rules
                CREATE TABLE cascade_stop (
                    tenant_id TEXT NOT NULL,
                    -- the rule ids of the cycle, sorted and joined by spaces
                    cycle_key TEXT NOT NULL,
                    -- the rules in the order of the last stopped chain: JSON [{rule_id, rule_name, agent_id}]
                    rules TEXT NOT NULL,
                    stops INTEGER NOT NULL,
                    last_at INTEGER NOT NULL,
                    last_event_id TEXT NOT NULL,
                    last_lead_id INTEGER NOT NULL,
                    -- the last stopped chain: JSON of the engine's CascadeVerdict
                    last_cascade TEXT NOT NULL,
                    PRIMARY KEY (tenant_id, cycle_key)
                ) WITHOUT ROWID;
                CREATE INDEX cascade_stop_by_time ON cascade_stop(tenant_id, last_at DESC);
                """)
        }
        migrator.registerMigration("knowledge-base") { db in
            try db.execute(sql: """
                -- documents of an agent's knowledge base; doc is the resource JSON with its content
                CREATE TABLE knowledge (
                    id TEXT PRIMARY KEY NOT NULL,
                    tenant_id TEXT NOT NULL,
                    agent_id TEXT NOT NULL REFERENCES agent(id),
                    doc TEXT NOT NULL,
                    active INTEGER NOT NULL,
                    version INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                CREATE INDEX knowledge_by_agent ON knowledge(tenant_id, agent_id, created_at, id);
                -- every saved version of a document
                CREATE TABLE knowledge_version (
                    document_id TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    tenant_id TEXT NOT NULL,
                    doc TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (document_id, version)
                ) WITHOUT ROWID;
                -- the chunks of each document's current version, in order (seq from 0)
                CREATE TABLE knowledge_chunk (
                    id INTEGER PRIMARY KEY,
                    tenant_id TEXT NOT NULL,
                    agent_id TEXT NOT NULL,
                    document_id TEXT NOT NULL,
                    version INTEGER NOT NULL,
                    seq INTEGER NOT NULL,
                    heading TEXT NOT NULL,
                    text TEXT NOT NULL
                );
                CREATE INDEX knowledge_chunk_by_document ON knowledge_chunk(document_id, seq);
                -- full-text index of the chunks; its rowid is the chunk's id. The tokenizer is the scripts' one.
                CREATE VIRTUAL TABLE knowledge_fts USING fts5(heading, text, tokenize = 'unicode61 remove_diacritics 2');
                """)
        }
        migrator.registerMigration("analytics-counters") { db in
            try db.execute(sql: AnalyticsCounters.schema)
        }
        migrator.registerMigration("kb-knowledge-partition") { db in
            try db.execute(sql: """
                -- each agent's chunks hold the rowids number << 32 and up, so a search reads only its agent's
                -- stretch of the index, however many chunks other agents and tenants hold
                CREATE TABLE knowledge_partition (
                    agent_id TEXT PRIMARY KEY NOT NULL,
                    number INTEGER NOT NULL UNIQUE
                );
                INSERT INTO knowledge_partition (agent_id, number)
                    SELECT agent_id, ROW_NUMBER() OVER (ORDER BY agent_id) FROM (SELECT DISTINCT agent_id FROM knowledge_chunk);
                -- old ids are below 2^32, new ones above: no id is taken twice while they move
                UPDATE knowledge_chunk SET id = (SELECT number FROM knowledge_partition p WHERE p.agent_id = knowledge_chunk.agent_id) * 4294967296 + id;
                -- the index again, with the document's title as a column of its own
                DROP TABLE knowledge_fts;
                CREATE VIRTUAL TABLE knowledge_fts USING fts5(title, heading, text, tokenize = 'unicode61 remove_diacritics 2');
                INSERT INTO knowledge_fts (rowid, title, heading, text)
                    SELECT c.id, json_extract(k.doc, '$.title'), c.heading, c.text FROM knowledge_chunk c JOIN knowledge k ON k.id = c.document_id;
                """)
        }
        migrator.registerMigration("analytics-running-totals") { db in
            try db.execute(sql: AnalyticsCounters.runningTotalsSchema)
        }
        migrator.registerMigration("kb-knowledge-vectors") { db in
            try db.execute(sql: """
                -- a chunk's embedding by the tenant's embeddings endpoint: little-endian Float32s, and the model
                -- that made them (a question is compared only with vectors of its own model)
                ALTER TABLE knowledge_chunk ADD COLUMN embedding BLOB;
                ALTER TABLE knowledge_chunk ADD COLUMN embedding_model TEXT;
                """)
        }
        return migrator
    }
}
