import Domain
import Foundation
import GRDB
import ServiceKit
import Wire

extension IngestStore {
    /// Append-only migrations of ingest-service's store. Never edit one that has shipped. `box` seals
    /// the webhook source secrets that earlier versions kept in plain text.
    package static func migrator(box: SecretBox) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE webhook_source (
                    tenant_id TEXT PRIMARY KEY NOT NULL,
                    secret TEXT NOT NULL,
                    -- lookups go by SHA-256 of the secret, never by the secret itself
                    secret_hash TEXT NOT NULL UNIQUE,
                    previous_secret TEXT NOT NULL DEFAULT '',
                    previous_hash TEXT,
                    previous_expires_at INTEGER NOT NULL DEFAULT 0,
                    account_id INTEGER,
                    subdomain TEXT NOT NULL DEFAULT '',
                    base_url TEXT NOT NULL DEFAULT '',
                    created_at INTEGER NOT NULL
                );
                CREATE UNIQUE INDEX webhook_source_previous ON webhook_source(previous_hash) WHERE previous_hash IS NOT NULL;
                CREATE TABLE delivery (
                    id TEXT PRIMARY KEY NOT NULL,
                    tenant_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    reason TEXT NOT NULL DEFAULT '',
                    origin TEXT NOT NULL,
                    received_at INTEGER NOT NULL,
                    content_type TEXT NOT NULL DEFAULT '',
                    remote_address TEXT NOT NULL DEFAULT '',
                    user_agent TEXT NOT NULL DEFAULT '',
                    body BLOB,
                    body_expired INTEGER NOT NULL DEFAULT 0,
                    event_ids TEXT NOT NULL DEFAULT ''
                );
                CREATE INDEX delivery_by_tenant ON delivery(tenant_id, received_at);
                CREATE TABLE event (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    tenant_id TEXT NOT NULL,
                    delivery_id TEXT NOT NULL DEFAULT '',
                    type TEXT NOT NULL,
                    entity_type TEXT NOT NULL,
                    entity_id TEXT NOT NULL,
                    lead_id INTEGER,
                    origin TEXT NOT NULL,
                    occurred_at INTEGER NOT NULL,
                    received_at INTEGER NOT NULL,
                    -- the journey: pending, delivered, failed
                    status TEXT NOT NULL DEFAULT 'pending',
                    -- events of one lead (or one lead-less entity) are delivered in order
                    order_key TEXT NOT NULL,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at INTEGER NOT NULL DEFAULT 0,
                    payload BLOB NOT NULL,
                    decision BLOB,
                    actions INTEGER NOT NULL DEFAULT 0,
                    replay_of TEXT
                );
                CREATE INDEX event_by_tenant ON event(tenant_id, seq);
                CREATE INDEX event_by_lead ON event(tenant_id, lead_id, seq);
                CREATE INDEX event_pending ON event(status, next_attempt_at) WHERE status = 'pending';
                CREATE INDEX event_order ON event(order_key, seq) WHERE status = 'pending';
                CREATE TABLE dispatch (
                    event_seq INTEGER NOT NULL REFERENCES event(seq) ON DELETE CASCADE,
                    destination TEXT NOT NULL,
                    status TEXT NOT NULL DEFAULT 'pending',
                    attempts INTEGER NOT NULL DEFAULT 0,
                    last_error TEXT NOT NULL DEFAULT '',
                    delivered_at INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (event_seq, destination)
                ) WITHOUT ROWID;
                CREATE TABLE attempt (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    event_seq INTEGER NOT NULL REFERENCES event(seq) ON DELETE CASCADE,
                    destination TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    duration_micros INTEGER NOT NULL,
                    status_code INTEGER NOT NULL,
                    error TEXT NOT NULL DEFAULT ''
                );
                CREATE INDEX attempt_by_event ON attempt(event_seq);
                """)
        }
        migrator.registerMigration("v2: pending events in order") { db in
            try db.execute(sql: "CREATE INDEX event_pending_seq ON event(seq) WHERE status = 'pending'")
        }
        migrator.registerMigration("v3: webhook source secrets sealed") { db in
            // Lookups already went by hash; the plain copies (kept to show the URL again) become sealed
            // copies, and the plain columns go. secure_delete zeroes the pages the plain text leaves.
            try db.execute(sql: """
                PRAGMA secure_delete = ON;
                ALTER TABLE webhook_source ADD COLUMN secret_sealed BLOB NOT NULL DEFAULT x'';
                ALTER TABLE webhook_source ADD COLUMN previous_sealed BLOB NOT NULL DEFAULT x'';
                """)
            let rows = try Row.fetchAll(db, sql: "SELECT tenant_id, secret, previous_secret FROM webhook_source")
            for row in rows {
                let tenantID: String = row["tenant_id"]
                let secret: String = row["secret"]
                let previous: String = row["previous_secret"]
                try db.execute(sql: "UPDATE webhook_source SET secret_sealed = ?, previous_sealed = ? WHERE tenant_id = ?", arguments: [
                    Data(try IngestStore.seal(secret, tenantID: tenantID, box: box)),
                    Data(previous.isEmpty ? [] : try IngestStore.seal(previous, tenantID: tenantID, box: box)), tenantID,
                ])
            }
            try db.execute(sql: """
                ALTER TABLE webhook_source DROP COLUMN secret;
                ALTER TABLE webhook_source DROP COLUMN previous_secret;
                """)
        }
        migrator.registerMigration("v4: suspended tenants") { db in
            // The gateway owns tenants; this is its word on which are suspended, kept here so that
            // holding their events survives a restart. An event of a suspended tenant is stored with
            // status 'held' and is not dispatched until the tenant is resumed.
            try db.execute(sql: """
                CREATE TABLE tenant_state (
                    tenant_id TEXT PRIMARY KEY NOT NULL,
                    suspended INTEGER NOT NULL,
                    changed_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                CREATE INDEX event_held ON event(tenant_id, seq) WHERE status = 'held';
                """)
        }
        migrator.registerMigration("v5: events as domain records, searched by full text") { db in
            // The event was a protobuf blob searched with LIKE; it becomes the domain event's JSON, and
            // its text goes into an FTS5 index (accents folded, as the rules store's script search).
            try db.execute(sql: """
                ALTER TABLE event ADD COLUMN record TEXT NOT NULL DEFAULT '';
                CREATE VIRTUAL TABLE event_text USING fts5(text, tokenize = 'unicode61 remove_diacritics 2');
                """)
            let rows = try Row.fetchCursor(db, sql: "SELECT seq, type, origin, payload FROM event")
            while let row = try rows.next() {
                let payload: Data = row["payload"]
                let event = try LegacyEventBlob.event(payload, type: row["type"], origin: row["origin"])
                let seq: Int64 = row["seq"]
                try db.execute(sql: "UPDATE event SET record = ? WHERE seq = ?", arguments: [event.storedJSON(), seq])
                try db.execute(sql: "INSERT INTO event_text (rowid, text) VALUES (?, ?)", arguments: [seq, event.searchText])
            }
            try db.execute(sql: "ALTER TABLE event DROP COLUMN payload")
        }
        migrator.registerMigration("v6: typed decisions") { db in
            // Decisions carry typed actions and outcome enums on the wire now; the stored ones are
            // rewritten once, so every read decodes one form.
            try IngestStore.migrateDecisionsToTypedActions(db)
        }
        registerAllowanceMigration(&migrator)
        migrator.registerMigration("analytics-counters") { db in
            try db.execute(sql: AnalyticsCounters.schema)
        }
        migrator.registerMigration("perf-pending-by-tenant") { db in
            // Pending events per tenant, for dispatch that takes tenants in turn.
            try db.execute(sql: "CREATE INDEX event_pending_by_tenant ON event(tenant_id, seq) WHERE status = 'pending'")
        }
        migrator.registerMigration("analytics-running-totals") { db in
            try db.execute(sql: AnalyticsCounters.runningTotalsSchema)
        }
        return migrator
    }
}

/// Reads the events that v1–v4 stored as `agents.v1.Event` protobuf bytes, in which `type`, `origin`
/// and `message.direction` were strings (they are enums now, so today's decoder refuses those
/// fields). Part of migration v5: never change it.
enum LegacyEventBlob {
    static func event(_ blob: Data, type: String, origin: String) throws -> KommoEvent {
        let bytes = Array(blob)
        var direction = ""
        // Top level: drop 4 (type) and 10 (origin), which the row's columns hold; in 18 (message),
        // take 8 (direction) out.
        let top = try strip(bytes, fields: [4, 10]) { number, value in
            guard number == 18 else { return value }
            var taken: [UInt8] = []
            let message = try strip(value, fields: [8]) { _, inner in inner } taking: { taken = $0 }
            direction = String(decoding: taken, as: UTF8.self)
            return message
        }
        var wire = try PB.Event(serializedBytes: top)
        if var message = wire.message {
            message.direction = PB.MessageDirection(name: direction) ?? .unspecified
            wire.message = message
        }
        var event = KommoEvent(wire)
        event.type = EventType(rawValue: type)
        event.origin = EventOrigin(rawValue: origin) ?? .kommo
        return event
    }

    struct Malformed: Error {}

    /// `bytes` without the given top-level fields; length-delimited fields pass through `map`, and the
    /// last removed length-delimited value goes to `taking`.
    private static func strip(
        _ bytes: [UInt8], fields removed: Set<UInt64>, map: (UInt64, [UInt8]) throws -> [UInt8],
        taking: ([UInt8]) -> Void = { _ in }
    ) throws -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        func varint() throws -> UInt64 {
            var shift: UInt64 = 0, result: UInt64 = 0
            while true {
                guard index < bytes.count, shift < 64 else { throw Malformed() }
                let byte = bytes[index]; index += 1
                result |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return result }
                shift += 7
            }
        }
        func append(varint value: UInt64) {
            var value = value
            while value >= 0x80 { out.append(UInt8(value & 0x7f) | 0x80); value >>= 7 }
            out.append(UInt8(value))
        }
        while index < bytes.count {
            let start = index
            let key = try varint()
            let number = key >> 3
            switch key & 7 {
            case 0:
                _ = try varint()
                if !removed.contains(number) { out += bytes[start..<index] }
            case 1, 5:
                let width = key & 7 == 1 ? 8 : 4
                guard index + width <= bytes.count else { throw Malformed() }
                index += width
                if !removed.contains(number) { out += bytes[start..<index] }
            case 2:
                let length = Int(try varint())
                guard length >= 0, index + length <= bytes.count else { throw Malformed() }
                let value = Array(bytes[index..<(index + length)])
                index += length
                if removed.contains(number) { taking(value); continue }
                let mapped = try map(number, value)
                append(varint: key)
                append(varint: UInt64(mapped.count))
                out += mapped
            default:
                throw Malformed()
            }
        }
        return out
    }
}
