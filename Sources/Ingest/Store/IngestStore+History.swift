import Domain
import Foundation
import GRDB
import ServiceKit
import Wire

/// Opaque cursors: the position of the last item of a page.
package enum Cursor {
    package static func encode(_ position: Int64) -> String {
        Data("p:\(position)".utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    package static func decode(_ cursor: String) throws(RPCError) -> Int64? {
        guard !cursor.isEmpty else { return nil }
        var text = cursor
        while text.count % 4 != 0 { text += "=" }
        guard cursor.count <= 64, let data = Data(base64Encoded: text), let plain = String(data: data, encoding: .utf8),
              plain.hasPrefix("p:"), let value = Int64(plain.dropFirst(2)), value >= 0
        else { throw RPCError.invalid(field: "cursor", "is not a cursor this API issued") }
        return value
    }
}

/// One page of a tenant's history, newest first: the checked page size, and the WHERE clause built from
/// the tenant, the position before the cursor and the query's filters.
struct HistoryPageQuery {
    /// Items on the page: 50 when the query gives none.
    let limit: Int
    private var clauses: [String]
    /// The values of the clauses' placeholders, in order.
    private(set) var arguments: StatementArguments

    /// Checks the page size (at most ``IngestStore/maximumPage``) and the cursor; items are ordered by
    /// `positionColumn` descending.
    init(limit requested: Int32, cursor: String, tenantColumn: String, tenantID: String,
         positionColumn: String) throws(RPCError) {
        limit = requested <= 0 ? 50 : Int(requested)
        guard limit <= IngestStore.maximumPage else {
            throw RPCError.invalid(field: "limit", "must be at most \(IngestStore.maximumPage)")
        }
        let before = try Cursor.decode(cursor)
        clauses = ["\(tenantColumn) = ?"]
        arguments = [tenantID]
        if let before { filter("\(positionColumn) < ?", [before]) }
    }

    /// Adds a condition every item must meet.
    mutating func filter(_ clause: String, _ values: StatementArguments = []) {
        clauses.append(clause)
        arguments += values
    }

    /// The conditions joined for a WHERE clause.
    var whereClause: String { clauses.joined(separator: " AND ") }

    /// The page's items from rows read with `LIMIT limit + 1`, and the cursor after the last one when
    /// more rows follow (empty when none do).
    func page<Item>(of rows: [Row], position: String, _ item: (Row) -> Item) -> (items: [Item], nextCursor: String) {
        let shown = rows.prefix(limit)
        guard rows.count > limit, let last = shown.last else { return (shown.map(item), "") }
        return (shown.map(item), Cursor.encode(last[position]))
    }
}

extension IngestStore {
    static let maximumPage = 200

    private static func summary(_ row: Row) -> PB.EventSummary {
        var summary = PB.EventSummary()
        summary.id = row["id"]
        summary.type = PB.EventType(EventType(rawValue: row["type"]))
        summary.entityType = row["entity_type"]
        summary.entityId = row["entity_id"]
        summary.leadId = row["lead_id"] ?? 0
        summary.origin = PB.EventOrigin(EventOrigin(rawValue: row["origin"]) ?? .kommo)
        summary.occurredAtMicros = row["occurred_at"]
        summary.receivedAtMicros = row["received_at"]
        summary.status = JourneyStatus(rawValue: row["status"]).map(PB.JourneyStatus.init) ?? .unspecified
        summary.deliveryId = row["delivery_id"]
        summary.actions = row["actions"]
        return summary
    }

    /// A page of a tenant's events, newest first.
    package func listEvents(tenantID: String, query: PB.EventQuery) async throws -> PB.EventPage {
        var pageQuery = try HistoryPageQuery(limit: query.limit, cursor: query.cursor, tenantColumn: "e.tenant_id",
                                             tenantID: tenantID, positionColumn: "e.seq")
        if query.type != .unspecified { pageQuery.filter("e.type = ?", [EventType(query.type).rawValue]) }
        if !query.entityType.isEmpty { pageQuery.filter("e.entity_type = ?", [query.entityType]) }
        if query.leadId != 0 { pageQuery.filter("e.lead_id = ?", [query.leadId]) }
        if query.status != .unspecified {
            guard let status = JourneyStatus(query.status) else {
                throw RPCError.invalid(field: "status", "must be pending, held, delivered, failed or skipped")
            }
            pageQuery.filter("e.status = ?", [status.rawValue])
        }
        if query.origin != .unspecified {
            guard let origin = EventOrigin(rawValue: query.origin.name) else {
                throw RPCError.invalid(field: "origin", "must be kommo, timer, manual or replay")
            }
            pageQuery.filter("e.origin = ?", [origin.rawValue])
        }
        if query.fromMicros != 0 { pageQuery.filter("e.received_at >= ?", [query.fromMicros]) }
        if query.toMicros != 0 { pageQuery.filter("e.received_at < ?", [query.toMicros]) }
        if !query.text.isEmpty {
            guard query.text.utf8.count <= 256 else { throw RPCError.invalid(field: "text", "must be at most 256 bytes") }
            // Matched by the full-text index, literally: see `FullTextQuery`.
            if let match = FullTextQuery.literal(query.text) {
                pageQuery.filter("e.seq IN (SELECT rowid FROM event_text WHERE event_text MATCH ?)", [match])
            } else {
                pageQuery.filter("0")
            }
        }
        let sql = "SELECT e.* FROM event e WHERE \(pageQuery.whereClause) ORDER BY e.seq DESC LIMIT \(pageQuery.limit + 1)"
        return try await db.read { [pageQuery] db in
            let rows = try Row.fetchAll(db, sql: sql, arguments: pageQuery.arguments)
            var page = PB.EventPage()
            (page.items, page.nextCursor) = pageQuery.page(of: rows, position: "seq", Self.summary)
            return page
        }
    }

    /// Everything known about one event of a tenant, or nil.
    package func eventDetail(tenantID: String, eventID: String) async throws -> PB.EventDetail? {
        try await db.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM event WHERE id = ? AND tenant_id = ?", arguments: [eventID, tenantID]) else {
                return nil
            }
            var detail = PB.EventDetail()
            detail.summary = Self.summary(row)
            detail.event = PB.Event(try Self.storedEvent(row))
            if let decision: Data = row["decision"] { detail.decision = try PB.Decision(serializedBytes: Array(decision)) }
            let seq: Int64 = row["seq"]
            let deliveryID: String = row["delivery_id"]
            if !deliveryID.isEmpty, let delivery = try Row.fetchOne(db, sql: "SELECT * FROM delivery WHERE id = ?", arguments: [deliveryID]) {
                detail.delivery = Self.delivery(delivery, withBody: true)
            }
            detail.dispatches = try Row.fetchAll(db, sql: """
                SELECT * FROM dispatch WHERE event_seq = ?
                ORDER BY CASE destination WHEN 'rules.evaluate' THEN 0 WHEN 'sequences.on_event' THEN 1 ELSE 2 END
                """, arguments: [seq]).map { row in
                var dispatch = PB.Dispatch()
                dispatch.destination = Destination(rawValue: row["destination"]).map(PB.Destination.init) ?? .unspecified
                dispatch.status = JourneyStatus(rawValue: row["status"]).map(PB.JourneyStatus.init) ?? .unspecified
                dispatch.attempts = row["attempts"]
                dispatch.lastError = row["last_error"]
                dispatch.deliveredAtMicros = row["delivered_at"]
                return dispatch
            }
            let next: Int64 = row["next_attempt_at"]
            for index in detail.dispatches.indices where detail.dispatches[index].status == .pending {
                detail.dispatches[index].nextAttemptAtMicros = next
            }
            detail.attempts = try Row.fetchAll(db, sql: "SELECT * FROM attempt WHERE event_seq = ? ORDER BY id", arguments: [seq]).map { row in
                var attempt = PB.Attempt()
                attempt.destination = Destination(rawValue: row["destination"]).map(PB.Destination.init) ?? .unspecified
                attempt.atMicros = row["at"]
                attempt.durationMicros = row["duration_micros"]
                attempt.statusCode = row["status_code"]
                attempt.error = row["error"]
                return attempt
            }
            return detail
        }
    }

    static func delivery(_ row: Row, withBody: Bool) -> PB.Delivery {
        var delivery = PB.Delivery()
        delivery.id = row["id"]
        delivery.tenantId = row["tenant_id"]
        delivery.status = DeliveryStatus(rawValue: row["status"]).map(PB.DeliveryStatus.init) ?? .unspecified
        delivery.reason = row["reason"]
        delivery.origin = PB.EventOrigin(EventOrigin(rawValue: row["origin"]) ?? .kommo)
        delivery.receivedAtMicros = row["received_at"]
        delivery.contentType = row["content_type"]
        delivery.remoteAddress = row["remote_address"]
        delivery.bodyExpired = row["body_expired"]
        if withBody, let body: Data = row["body"] { delivery.body = Array(body) }
        let ids: String = row["event_ids"]
        delivery.eventIds = ids.isEmpty ? [] : ids.split(separator: ",").map(String.init)
        return delivery
    }

    /// A page of a tenant's raw deliveries, newest first, including unparsed and rejected ones.
    package func listDeliveries(tenantID: String, query: PB.DeliveryQuery) async throws -> PB.DeliveryPage {
        var pageQuery = try HistoryPageQuery(limit: query.limit, cursor: query.cursor, tenantColumn: "tenant_id",
                                             tenantID: tenantID, positionColumn: "rowid")
        if query.status != .unspecified {
            guard let status = DeliveryStatus(query.status) else {
                throw RPCError.invalid(field: "status", "must be accepted, duplicate, unparsed or rejected")
            }
            pageQuery.filter("status = ?", [status.rawValue])
        }
        let sql = "SELECT rowid AS position, * FROM delivery WHERE \(pageQuery.whereClause) ORDER BY rowid DESC LIMIT \(pageQuery.limit + 1)"
        return try await db.read { [pageQuery] db in
            let rows = try Row.fetchAll(db, sql: sql, arguments: pageQuery.arguments)
            var page = PB.DeliveryPage()
            (page.items, page.nextCursor) = pageQuery.page(of: rows, position: "position") { Self.delivery($0, withBody: true) }
            return page
        }
    }

    package func delivery(tenantID: String, id: String) async throws -> PB.Delivery? {
        try await db.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM delivery WHERE id = ? AND tenant_id = ?", arguments: [id, tenantID])
                .map { Self.delivery($0, withBody: true) }
        }
    }

    /// The stored event with this id, for replays.
    package func event(tenantID: String, id: String) async throws -> StoredEvent? {
        try await db.read { db in
            try Row.fetchOne(db, sql: "SELECT record, delivery_id, replay_of FROM event WHERE id = ? AND tenant_id = ?", arguments: [id, tenantID])
                .map(Self.storedEvent)
        }
    }

    /// Counts per day, type and journey status, and totals.
    package func stats(tenantID: String, from: Int64, to: Int64) async throws -> PB.StatsResponse {
        try await db.read { db in
            var response = PB.StatsResponse()
            let upper = to == 0 ? Int64.max : to
            response.counts = try Row.fetchAll(db, sql: """
                SELECT date(received_at / 1000000, 'unixepoch') AS day, type, status, count(*) AS n FROM event
                WHERE tenant_id = ? AND received_at >= ? AND received_at < ? GROUP BY day, type, status ORDER BY day, type, status
                """, arguments: [tenantID, from, upper]).map { row in
                var count = PB.StatCount()
                count.day = row["day"]
                count.type = PB.EventType(EventType(rawValue: row["type"]))
                count.status = JourneyStatus(rawValue: row["status"]).map(PB.JourneyStatus.init) ?? .unspecified
                count.count = row["n"]
                return count
            }
            let deliveries = try Row.fetchAll(db, sql: """
                SELECT status, count(*) AS n FROM delivery WHERE tenant_id = ? AND received_at >= ? AND received_at < ? GROUP BY status
                """, arguments: [tenantID, from, upper])
            for row in deliveries {
                let n: Int64 = row["n"]
                response.deliveries += n
                switch row["status"] as String {
                case "duplicate": response.duplicates = n
                case "unparsed": response.unparsed = n
                case "rejected": response.rejected = n
                default: break
                }
            }
            response.pendingDispatches = try Int64.fetchOne(db, sql: "SELECT count(*) FROM event WHERE tenant_id = ? AND status = 'pending'", arguments: [tenantID]) ?? 0
            response.failedDispatches = try Int64.fetchOne(db, sql: "SELECT count(*) FROM event WHERE tenant_id = ? AND status = 'failed'", arguments: [tenantID]) ?? 0
            response.webhookEvents = try Int64.fetchOne(db, sql: """
                SELECT count(*) FROM event WHERE tenant_id = ? AND origin = 'kommo' AND received_at >= ? AND received_at < ?
                """, arguments: [tenantID, from, upper]) ?? 0
            response.planHeld = try Int64.fetchOne(db, sql: "SELECT count(*) FROM event WHERE tenant_id = ? AND held_for_plan = 1",
                                                   arguments: [tenantID]) ?? 0
            return response
        }
    }
}

// MARK: - Analytics

extension IngestStore {
    /// The tenant's analytics counters in `[fromHour, toHour)`.
    package func analyticsCounts(tenantID: String, fromHour: Int64, toHour: Int64, buckets: [Int64] = []) async throws -> [CounterSum] {
        try await db.read { db in
            try AnalyticsCounters.counts(db, tenantID: tenantID, fromHour: fromHour, toHour: toHour, agentID: nil, buckets: buckets)
        }
    }
}
