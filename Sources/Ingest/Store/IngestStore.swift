import Basics
import Crypto
import Domain
import Foundation
import GRDB
import ServiceKit
import Synchronization
import Wire

/// The journey's destinations, in the order an event visits them: sequences learn of the event (lead
/// values, exits, enrollments) before they are handed the actions it caused.
package enum Destination: String, CaseIterable, Sendable {
    case evaluate = "rules.evaluate"
    case onEvent = "sequences.on_event"
    case schedule = "sequences.schedule"
}

/// A tenant's Kommo webhook source.
package struct SourceRecord: Sendable, Equatable {
    package var tenantID: String
    /// The secret, opened from its sealed copy (the store keeps only that and the hash).
    package var secret: String
    package var secretHash: String
    package var previousSecret: String
    package var previousHash: String
    package var previousExpiresAt: Int64
    package var accountID: Int64?
    package var subdomain: String
    package var baseURL: String
    package var createdAt: Int64
}

/// A raw delivery as it arrived.
package struct NewDelivery: Sendable {
    package var id: String
    package var tenantID: String
    package var status: DeliveryStatus
    package var reason: String
    package var origin: EventOrigin
    package var receivedAt: Int64
    package var contentType: String
    package var remoteAddress: String
    package var userAgent: String
    package var body: [UInt8]?

    package init(id: String, tenantID: String, status: DeliveryStatus, reason: String, origin: EventOrigin, receivedAt: Int64,
                 contentType: String, remoteAddress: String, userAgent: String, body: [UInt8]?) {
        self.id = id; self.tenantID = tenantID; self.status = status; self.reason = reason; self.origin = origin
        self.receivedAt = receivedAt; self.contentType = contentType; self.remoteAddress = remoteAddress
        self.userAgent = userAgent; self.body = body
    }
}

/// What a committed intake produced.
package struct IntakeOutcome: Sendable {
    package var status: DeliveryStatus
    package var eventIDs: [String]
    package var newEvents: Int
    package var duplicates: Int
}

/// An event whose journey is due for its next step.
package struct DueEvent: Sendable {
    package var seq: Int64
    package var event: StoredEvent
    package var decision: PB.Decision?
    package var attempts: Int
    package var pending: Set<Destination>
}

/// ingest-service's store: webhook sources, raw deliveries, events, their journey and history.
/// Each method is one transaction; intake goes through group commit.
package final class IngestStore: Sendable {
    package let db: DatabasePool
    /// Every write of intake and dispatch goes through it (extensions in other files too).
    let batch: BatchWriter
    /// Seals the copies of source secrets kept to show the webhook URL again.
    private let box: SecretBox
    /// Sources by secret hash, so a webhook authenticates without a read transaction. Cleared by every
    /// write to `webhook_source`; the generation keeps a read that raced a write from caching stale rows.
    private let sources = Mutex<(generation: Int, byHash: [String: SourceRecord])>((0, [:]))

    package init(db: DatabasePool, box: SecretBox) {
        self.db = db
        self.box = box
        self.batch = BatchWriter(writer: db)
    }

    // MARK: - Webhook sources

    /// How a webhook secret is looked up without being stored in the clear: its SHA-256 in hex.
    package static func hash(_ secret: String) -> String {
        SHA256.hex(of: secret)
    }

    /// Forgets every cached source.
    private func forgetSources() {
        sources.withLock { $0 = ($0.generation + 1, [:]) }
    }

    /// A transaction that writes `webhook_source`: the cache is cleared before it (so a read that
    /// started earlier cannot fill it) and after its commit (so a read of the old snapshot taken during
    /// the transaction does not stay).
    private func writeSources<T: Sendable>(_ work: @escaping @Sendable (Database) throws -> T) async throws -> T {
        forgetSources()
        defer { forgetSources() }
        return try await db.write(work)
    }

    static func newSecret() -> String {
        RandomID.make("whk_", hexDigits: 48)
    }

    /// The associated data a source secret is sealed with: the tenant, and what the value is, so the
    /// blob opens for nothing else.
    private static func sealContext(_ tenantID: String) -> String { "webhook_source:" + tenantID }

    static func seal(_ secret: String, tenantID: String, box: SecretBox) throws -> [UInt8] {
        try box.seal(Array(secret.utf8), context: sealContext(tenantID))
    }

    private static func source(_ row: Row, box: SecretBox) throws -> SourceRecord {
        let tenantID: String = row["tenant_id"]
        let sealed: Data = row["secret_sealed"]
        let previousSealed: Data = row["previous_sealed"]
        let secret = String(decoding: try box.unseal(Array(sealed), context: sealContext(tenantID)), as: UTF8.self)
        let previous = previousSealed.isEmpty
            ? "" : String(decoding: try box.unseal(Array(previousSealed), context: sealContext(tenantID)), as: UTF8.self)
        return SourceRecord(tenantID: tenantID, secret: secret, secretHash: row["secret_hash"], previousSecret: previous,
                            previousHash: row["previous_hash"] ?? "", previousExpiresAt: row["previous_expires_at"],
                            accountID: row["account_id"], subdomain: row["subdomain"], baseURL: row["base_url"],
                            createdAt: row["created_at"])
    }

    /// The tenant's source, created with a fresh secret when it has none.
    package func ensureSource(tenantID: String, now: Int64) async throws -> SourceRecord {
        let box = box
        return try await writeSources { db in
            if let row = try Row.fetchOne(db, sql: "SELECT * FROM webhook_source WHERE tenant_id = ?", arguments: [tenantID]) {
                return try Self.source(row, box: box)
            }
            let secret = Self.newSecret()
            let hash = Self.hash(secret)
            try db.execute(sql: "INSERT INTO webhook_source (tenant_id, secret_sealed, secret_hash, created_at) VALUES (?, ?, ?, ?)",
                           arguments: [tenantID, Data(try Self.seal(secret, tenantID: tenantID, box: box)), hash, now])
            return SourceRecord(tenantID: tenantID, secret: secret, secretHash: hash, previousSecret: "", previousHash: "",
                                previousExpiresAt: 0, accountID: nil, subdomain: "", baseURL: "", createdAt: now)
        }
    }

    package func source(tenantID: String) async throws -> SourceRecord? {
        let box = box
        return try await db.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM webhook_source WHERE tenant_id = ?", arguments: [tenantID]).map { try Self.source($0, box: box) }
        }
    }

    /// Issues a new secret; the old one keeps working for `grace` seconds.
    package func rotateSource(tenantID: String, graceSeconds: Int64, now: Int64) async throws -> SourceRecord? {
        let box = box
        return try await writeSources { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM webhook_source WHERE tenant_id = ?", arguments: [tenantID]) else { return nil }
            var source = try Self.source(row, box: box)
            let secret = Self.newSecret()
            let hash = Self.hash(secret)
            try db.cachedStatement(sql: """
                UPDATE webhook_source SET previous_sealed = secret_sealed, previous_hash = secret_hash, previous_expires_at = ?,
                       secret_sealed = ?, secret_hash = ? WHERE tenant_id = ?
                """).execute(arguments: [now + graceSeconds * 1_000_000, Data(try Self.seal(secret, tenantID: tenantID, box: box)),
                                         hash, tenantID])
            source.previousSecret = source.secret
            source.previousHash = source.secretHash
            source.previousExpiresAt = now + graceSeconds * 1_000_000
            source.secret = secret
            source.secretHash = hash
            return source
        }
    }

    /// The source a secret from a webhook URL belongs to: its current secret, or the previous one within
    /// its grace period. The lookup is by hash and the final comparison is constant-time; no sealed
    /// copy is opened for an unknown secret.
    package func resolve(secret: String, now: Int64) async throws -> SourceRecord? {
        let hash = Self.hash(secret)
        let (generation, cached) = sources.withLock { ($0.generation, $0.byHash[hash]) }
        let row: SourceRecord?
        if let cached {
            row = cached
        } else {
            let box = box
            row = try await db.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM webhook_source WHERE secret_hash = ? OR previous_hash = ?", arguments: [hash, hash])
                    .map { try Self.source($0, box: box) }
            }
            if let row {
                sources.withLock { if $0.generation == generation && $0.byHash.count < 100_000 { $0.byHash[hash] = row } }
            }
        }
        guard let found = row else { return nil }
        // The row was found by hash; comparing the hashes again in constant time keeps the decision
        // independent of how many leading characters matched.
        if constantTimeEquals(found.secretHash, hash) { return found }
        if constantTimeEquals(found.previousHash, hash) && found.previousExpiresAt > now { return found }
        return nil
    }

    /// Remembers the Kommo account a source's webhooks come from, once it is first seen.
    package func learnAccount(tenantID: String, accountID: Int64, subdomain: String, baseURL: String) async throws {
        try await writeSources { db in
            try db.cachedStatement(sql: """
                UPDATE webhook_source SET account_id = ?, subdomain = ?, base_url = ? WHERE tenant_id = ? AND account_id IS NULL
                """).execute(arguments: [accountID, subdomain, baseURL, tenantID])
        }
    }

    /// Binds the source to the Kommo account connected through OAuth (replacing what was learnt from
    /// webhooks), or forgets the account (`nil`) so the next webhook's account is learnt again.
    package func bindAccount(tenantID: String, accountID: Int64?, subdomain: String, baseURL: String) async throws -> SourceRecord? {
        let box = box
        return try await writeSources { db in
            try db.cachedStatement(sql: "UPDATE webhook_source SET account_id = ?, subdomain = ?, base_url = ? WHERE tenant_id = ?")
                .execute(arguments: [accountID, accountID == nil ? "" : subdomain, accountID == nil ? "" : baseURL, tenantID])
            return try Row.fetchOne(db, sql: "SELECT * FROM webhook_source WHERE tenant_id = ?", arguments: [tenantID])
                .map { try Self.source($0, box: box) }
        }
    }

    // MARK: - Intake

    /// Commits a delivery and its new events in one transaction. Events already stored are counted as
    /// duplicates and not stored again.
    package func intake(_ delivery: NewDelivery, events: [StoredEvent]) async throws -> IntakeOutcome {
        try await batch.write { db in
            var delivery = delivery
            let newEvents = try Self.insertEvents(db, events, deliveryID: delivery.id)
            if !events.isEmpty && newEvents == 0 && delivery.status == .accepted { delivery.status = .duplicate }
            let ids = events.map(\.event.id)
            try db.cachedStatement(sql: """
                INSERT INTO delivery (id, tenant_id, status, reason, origin, received_at, content_type, remote_address, user_agent, body, event_ids)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [delivery.id, delivery.tenantID, delivery.status.rawValue, delivery.reason, delivery.origin.rawValue,
                                 delivery.receivedAt, delivery.contentType, delivery.remoteAddress, delivery.userAgent,
                                 delivery.body.map { Data($0) }, ids.joined(separator: ",")])
            try AnalyticsCounters.add(db, tenantID: delivery.tenantID, at: delivery.receivedAt, key: "deliveries.\(delivery.status.rawValue)")
            return IntakeOutcome(status: delivery.status, eventIDs: ids, newEvents: newEvents, duplicates: events.count - newEvents)
        }
    }

    /// Replaces an unparsed delivery's outcome after a successful re-parse, storing its events.
    package func reparsed(deliveryID: String, tenantID: String, events: [StoredEvent]) async throws -> IntakeOutcome {
        try await batch.write { db in
            let newEvents = try Self.insertEvents(db, events, deliveryID: deliveryID)
            let status: DeliveryStatus = events.isEmpty || newEvents > 0 ? .accepted : .duplicate
            let ids = events.map(\.event.id)
            try db.execute(sql: "UPDATE delivery SET status = ?, reason = '', event_ids = ? WHERE id = ? AND tenant_id = ?",
                           arguments: [status.rawValue, ids.joined(separator: ","), deliveryID, tenantID])
            return IntakeOutcome(status: status, eventIDs: ids, newEvents: newEvents, duplicates: events.count - newEvents)
        }
    }

    /// Stores the events not seen before, each with its pending journey; returns how many were new.
    private static func insertEvents(_ db: Database, _ events: [StoredEvent], deliveryID: String) throws -> Int {
        var newEvents = 0
        for stored in events {
            let event = stored.event
            // Events of one lead are delivered in order; lead-less ones in order per entity.
            let orderKey = event.leadID.map { "\(event.tenantID):lead:\($0)" }
                ?? "\(event.tenantID):\(event.entityType):\(event.entityID)"
            try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO event (id, tenant_id, delivery_id, type, entity_type, entity_id, lead_id, origin,
                    occurred_at, received_at, order_key, record, replay_of)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [event.id, event.tenantID, deliveryID, event.type.rawValue, event.entityType, event.entityID,
                                 event.leadID, event.origin.rawValue, event.occurredAt.unixMicros,
                                 event.receivedAt.unixMicros, orderKey, event.storedJSON(),
                                 stored.replayScope.isEmpty ? nil : stored.replayScope])
            guard db.changesCount == 1 else { continue }
            newEvents += 1
            // Counted with the row: a repeated delivery inserts nothing and counts nothing.
            let at = event.receivedAt.unixMicros
            try AnalyticsCounters.add(db, tenantID: event.tenantID, at: at, key: "events.type.\(event.type.rawValue)")
            try AnalyticsCounters.add(db, tenantID: event.tenantID, at: at, key: "events.origin.\(event.origin.rawValue)")
            let seq = db.lastInsertedRowID
            try db.cachedStatement(sql: "INSERT INTO event_text (rowid, text) VALUES (?, ?)").execute(arguments: [seq, event.searchText])
            for destination in Destination.allCases {
                try db.cachedStatement(sql: "INSERT INTO dispatch (event_seq, destination) VALUES (?, ?)").execute(arguments: [seq, destination.rawValue])
            }
            // Beyond the plan's webhook allowance, or behind events it holds, a webhook event waits.
            if event.origin == .kommo, let reason = try planHold(db, tenantID: event.tenantID, now: event.receivedAt.unixMicros) {
                try db.cachedStatement(sql: "UPDATE event SET status = 'held', held_for_plan = 1 WHERE seq = ?").execute(arguments: [seq])
                try db.cachedStatement(sql: "UPDATE dispatch SET last_error = ? WHERE event_seq = ?").execute(arguments: [reason, seq])
                continue
            }
            // A suspended tenant's events are kept but not dispatched.
            if try Bool.fetchOne(db.cachedStatement(sql: "SELECT suspended FROM tenant_state WHERE tenant_id = ?"),
                                 arguments: [event.tenantID]) == true {
                try db.cachedStatement(sql: "UPDATE event SET status = 'held' WHERE seq = ?").execute(arguments: [seq])
                try db.cachedStatement(sql: "UPDATE dispatch SET last_error = ? WHERE event_seq = ?").execute(arguments: [heldReason, seq])
            }
        }
        return newEvents
    }

    // MARK: - Dispatch

    /// Events whose next step is due, oldest first, at most one per order key (lead), skipping keys
    /// with an earlier event still pending and keys already being worked on.
    package func dueEvents(now: Int64, limit: Int, excludingKeys busy: Set<String>) async throws -> [(key: String, event: DueEvent)] {
        try await dueEvents(now: now, limit: limit, excludingKeys: busy, after: "").events
    }

    /// Due events of tenants in turn, and the tenant the next search starts after.
    package struct DueBatch: Sendable {
        package var events: [(key: String, event: DueEvent)]
        package var lastTenant: String
    }

    /// Due events, fairly across tenants: tenants with pending events are visited in turn starting
    /// after `cursor`, and the batch takes one event of every tenant before a second of any, so one
    /// tenant's backlog does not hold up another's next event. Within a tenant: oldest first, at most one
    /// per order key (lead), skipping keys with an earlier event still pending and keys being worked on.
    package func dueEvents(now: Int64, limit: Int, excludingKeys busy: Set<String>, after cursor: String) async throws -> DueBatch {
        try await db.read { db in
            var queues: [[(key: String, event: DueEvent)]] = []
            var lastTenant = cursor
            var current = cursor
            var wrapped = cursor.isEmpty
            // Each tenant with a due event gives at least one, so `limit` of them are enough.
            while queues.count < limit {
                guard let tenant = try String.fetchOne(db, sql: """
                    SELECT tenant_id FROM event INDEXED BY event_pending_by_tenant WHERE status = 'pending' AND tenant_id > ?
                    ORDER BY tenant_id LIMIT 1
                    """, arguments: [current]) else {
                    if wrapped { break }
                    wrapped = true
                    current = ""
                    continue
                }
                // After wrapping around, the tenants past the cursor were visited already.
                if wrapped && !cursor.isEmpty && tenant > cursor { break }
                current = tenant
                let due = try Self.dueEvents(db, tenant: tenant, now: now, limit: limit, busy: busy)
                if !due.isEmpty {
                    queues.append(due)
                    lastTenant = tenant
                }
            }
            var result: [(key: String, event: DueEvent)] = []
            var round = 0
            while result.count < limit, queues.contains(where: { $0.count > round }) {
                for queue in queues where queue.count > round && result.count < limit { result.append(queue[round]) }
                round += 1
            }
            return DueBatch(events: result, lastTenant: lastTenant)
        }
    }

    /// One tenant's due events, oldest first.
    private static func dueEvents(_ db: Database, tenant: String, now: Int64, limit: Int, busy: Set<String>) throws -> [(key: String, event: DueEvent)] {
        let wanted = limit + busy.count
        // Usually the tenant's oldest pending events are the due ones: walk its pending index in order
        // and stop at the limit. Only when that head is full of events waiting for a retry is the
        // (sorting) search over every due event of the tenant needed.
        var rows = try Row.fetchAll(db, sql: dueSQL(source: """
            (SELECT seq FROM event INDEXED BY event_pending_by_tenant WHERE status = 'pending' AND tenant_id = ? ORDER BY seq LIMIT \(dueHead)) AS head
            JOIN event e ON e.seq = head.seq
            """), arguments: [tenant, now, wanted])
        if rows.count < wanted {
            let head = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM (SELECT 1 FROM event INDEXED BY event_pending_by_tenant WHERE status = 'pending' AND tenant_id = ? LIMIT \(dueHead))
                """, arguments: [tenant]) ?? 0
            if head == dueHead {
                rows = try Row.fetchAll(db, sql: dueSQL(source: "(SELECT seq FROM event INDEXED BY event_pending_by_tenant WHERE status = 'pending' AND tenant_id = ?) AS head JOIN event e ON e.seq = head.seq"),
                                        arguments: [tenant, now, wanted])
            }
        }
        var result: [(key: String, event: DueEvent)] = []
        for row in rows {
            let key: String = row["order_key"]
            guard !busy.contains(key) else { continue }
            let seq: Int64 = row["seq"]
            let pending = ((row["pending"] as String?) ?? "").split(separator: ",").map(String.init)
            let decision: Data? = row["decision"]
            let event = DueEvent(
                seq: seq, event: try storedEvent(row),
                decision: try decision.map { try PB.Decision(serializedBytes: Array($0)) },
                attempts: row["attempts"], pending: Set(pending.compactMap(Destination.init(rawValue:))))
            result.append((key, event))
            if result.count >= limit { break }
        }
        return result
    }

    /// The stored event of an `event` row (its `record`, `delivery_id` and `replay_of` columns).
    static func storedEvent(_ row: Row) throws -> StoredEvent {
        StoredEvent(event: try KommoEvent.stored(json: row["record"]), deliveryID: row["delivery_id"],
                    replayScope: row["replay_of"] ?? "")
    }

    /// How many of the oldest pending events the quick search for due ones looks at.
    static let dueHead = 512

    /// Due events of `source` (which names the event table `e`), oldest first, skipping events whose
    /// lead has an earlier one still pending.
    private static func dueSQL(source: String) -> String {
        """
        SELECT e.seq, e.order_key, e.record, e.delivery_id, e.replay_of, e.decision, e.attempts,
               (SELECT group_concat(destination) FROM dispatch d WHERE d.event_seq = e.seq AND d.status = 'pending') AS pending
        FROM \(source)
        WHERE e.status = 'pending' AND e.next_attempt_at <= ?
          AND NOT EXISTS (SELECT 1 FROM event p WHERE p.order_key = e.order_key AND p.status = 'pending' AND p.seq < e.seq)
        ORDER BY e.seq LIMIT ?
        """
    }

    /// Records one attempt at a destination and its outcome. Journey bookkeeping goes through group
    /// commit too, so many events in flight share one fsync.
    package func recordAttempt(
        seq: Int64, destination: Destination, at: Int64, durationMicros: Int64, code: Int32, error: String,
        decision: PB.Decision? = nil
    ) async throws {
        try await batch.write { db in
            try db.execute(sql: "INSERT INTO attempt (event_seq, destination, at, duration_micros, status_code, error) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [seq, destination.rawValue, at, durationMicros, code, error])
            if code == 0 {
                try db.execute(sql: "UPDATE dispatch SET status = 'delivered', attempts = attempts + 1, delivered_at = ?, last_error = '' WHERE event_seq = ? AND destination = ?",
                               arguments: [at, seq, destination.rawValue])
                try db.cachedStatement(sql: "UPDATE event SET attempts = 0 WHERE seq = ?").execute(arguments: [seq])
            } else {
                try db.execute(sql: "UPDATE dispatch SET attempts = attempts + 1, last_error = ? WHERE event_seq = ? AND destination = ?",
                               arguments: [error, seq, destination.rawValue])
            }
            if let decision {
                try db.execute(sql: "UPDATE event SET decision = ?, actions = ? WHERE seq = ?",
                               arguments: [Data(try decision.serializedBytes()), decision.actions.count, seq])
                if decision.actions.isEmpty && decision.timers.isEmpty {
                    try db.execute(sql: "UPDATE dispatch SET status = 'skipped' WHERE event_seq = ? AND destination = ?",
                                   arguments: [seq, Destination.schedule.rawValue])
                }
            }
        }
    }

    /// Schedules the next try of a failed step, or fails the event once the attempts are used up.
    package func retryLater(seq: Int64, attempts: Int, nextAt: Int64, maxAttempts: Int, now: Int64) async throws -> Bool {
        try await batch.write { db in
            if attempts >= maxAttempts {
                try db.cachedStatement(sql: "UPDATE event SET status = 'failed', attempts = ? WHERE seq = ? AND status != 'failed'")
                    .execute(arguments: [attempts, seq])
                if db.changesCount == 1, let tenantID = try String.fetchOne(db, sql: "SELECT tenant_id FROM event WHERE seq = ?", arguments: [seq]) {
                    try AnalyticsCounters.add(db, tenantID: tenantID, at: now, key: "dispatch.failed")
                }
                try db.cachedStatement(sql: "UPDATE dispatch SET status = 'failed' WHERE event_seq = ? AND status = 'pending'").execute(arguments: [seq])
                return false
            }
            try db.cachedStatement(sql: "UPDATE event SET attempts = ?, next_attempt_at = ? WHERE seq = ?").execute(arguments: [attempts, nextAt, seq])
            return true
        }
    }

    /// Stores a voice message's transcript with its event: the record (whose empty message text becomes
    /// the transcript) and the text history searches.
    package func saveTranscript(seq: Int64, event: KommoEvent) async throws {
        try await batch.write { db in
            try db.cachedStatement(sql: "UPDATE event SET record = ? WHERE seq = ?").execute(arguments: [event.storedJSON(), seq])
            try db.cachedStatement(sql: "UPDATE event_text SET text = ? WHERE rowid = ?").execute(arguments: [event.searchText, seq])
        }
    }

    package func markDelivered(seq: Int64) async throws {
        try await batch.write { db in
            try db.cachedStatement(sql: "UPDATE event SET status = 'delivered' WHERE seq = ?").execute(arguments: [seq])
        }
    }

    // MARK: - Suspension

    /// Why a held event waits, as its pending destinations show it in the event's history.
    static let heldReason = "held: tenant suspended"

    /// Records whether a tenant is suspended. Suspending holds its pending events (they stay stored
    /// and are not dispatched); resuming releases the held ones to the dispatcher, which sends them
    /// in their order, or with `skipHeld` marks them skipped. Returns how many events changed.
    /// Setting the state a tenant already has changes nothing but the held events it finds. Events the
    /// plan holds (`held_for_plan`) are the plan's to release, not the suspension's.
    package func setTenantState(tenantID: String, suspended: Bool, skipHeld: Bool, now: Int64) async throws -> Int {
        try await batch.write { db in
            try db.execute(sql: """
                INSERT INTO tenant_state (tenant_id, suspended, changed_at) VALUES (?, ?, ?)
                ON CONFLICT (tenant_id) DO UPDATE SET suspended = excluded.suspended, changed_at = excluded.changed_at
                """, arguments: [tenantID, suspended, now])
            if suspended {
                try db.execute(sql: "UPDATE event SET status = 'held' WHERE tenant_id = ? AND status = 'pending'", arguments: [tenantID])
                let changed = db.changesCount
                try db.execute(sql: """
                    UPDATE dispatch SET last_error = ? WHERE status = 'pending'
                      AND event_seq IN (SELECT seq FROM event WHERE tenant_id = ? AND status = 'held' AND held_for_plan = 0)
                    """, arguments: [Self.heldReason, tenantID])
                return changed
            }
            if skipHeld {
                try db.execute(sql: """
                    UPDATE dispatch SET status = 'skipped', last_error = 'skipped: held while the tenant was suspended'
                    WHERE status = 'pending' AND event_seq IN (SELECT seq FROM event WHERE tenant_id = ? AND status = 'held' AND held_for_plan = 0)
                    """, arguments: [tenantID])
                try db.execute(sql: "UPDATE event SET status = 'skipped' WHERE tenant_id = ? AND status = 'held' AND held_for_plan = 0", arguments: [tenantID])
                return db.changesCount
            }
            try db.execute(sql: """
                UPDATE dispatch SET last_error = '' WHERE status = 'pending' AND last_error = ?
                  AND event_seq IN (SELECT seq FROM event WHERE tenant_id = ? AND status = 'held' AND held_for_plan = 0)
                """, arguments: [Self.heldReason, tenantID])
            // Released due now; seq order gives each lead's order back.
            try db.execute(sql: "UPDATE event SET status = 'pending', next_attempt_at = 0 WHERE tenant_id = ? AND status = 'held' AND held_for_plan = 0",
                           arguments: [tenantID])
            return db.changesCount + (try Self.releasePlanHeld(db, tenantID: tenantID, now: now))
        }
    }

    /// Events waiting for their journey (for metrics).
    package func pendingCount() async throws -> Int {
        try await db.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM event WHERE status = 'pending'") ?? 0 }
    }

    // MARK: - Retention

    /// Drops raw bodies received before `cutoff`; event summaries stay.
    package func sweep(bodiesBefore cutoff: Int64) async throws -> Int {
        try await db.write { db in
            try db.cachedStatement(sql: "UPDATE delivery SET body = NULL, body_expired = 1 WHERE received_at < ? AND body IS NOT NULL").execute(arguments: [cutoff])
            return db.changesCount
        }
    }
}
