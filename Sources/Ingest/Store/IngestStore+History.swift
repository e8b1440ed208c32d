import Foundation
import GRDB
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

extension IngestStore {
    static let maximumPage = 200

    private static func summary(_ row: Row) -> PB.EventSummary {
        var summary = PB.EventSummary()
        summary.id = row["id"]
        summary.type = row["type"]
        summary.entityType = row["entity_type"]
        summary.entityId = row["entity_id"]
        summary.leadId = row["lead_id"] ?? 0
        summary.origin = row["origin"]
        summary.occurredAtMicros = row["occurred_at"]
        summary.receivedAtMicros = row["received_at"]
        summary.status = row["status"]
        summary.deliveryId = row["delivery_id"]
        summary.actions = row["actions"]
        return summary
    }

    /// A page of a tenant's events, newest first.
    package func listEvents(tenantID: String, query: PB.EventQuery) async throws -> PB.EventPage {
        let limit = query.limit <= 0 ? 50 : Int(query.limit)
        guard limit <= Self.maximumPage else { throw RPCError.invalid(field: "limit", "must be at most \(Self.maximumPage)") }
        let before = try Cursor.decode(query.cursor)
        var clauses = ["e.tenant_id = ?"]
        var arguments: StatementArguments = [tenantID]
        if let before { clauses.append("e.seq < ?"); arguments += [before] }
        if !query.type.isEmpty { clauses.append("e.type = ?"); arguments += [query.type] }
        if !query.entityType.isEmpty { clauses.append("e.entity_type = ?"); arguments += [query.entityType] }
        if query.leadId != 0 { clauses.append("e.lead_id = ?"); arguments += [query.leadId] }
        if !query.status.isEmpty {
            guard ["pending", "held", "delivered", "failed", "skipped"].contains(query.status) else {
                throw RPCError.invalid(field: "status", "must be pending, held, delivered, failed or skipped")
            }
            clauses.append("e.status = ?"); arguments += [query.status]
        }
        if !query.origin.isEmpty { clauses.append("e.origin = ?"); arguments += [query.origin] }
        if query.fromMicros != 0 { clauses.append("e.received_at >= ?"); arguments += [query.fromMicros] }
        if query.toMicros != 0 { clauses.append("e.received_at < ?"); arguments += [query.toMicros] }
        if !query.text.isEmpty {
            let pattern = "%" + query.text.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%"
            clauses.append("""
                (EXISTS (SELECT 1 FROM delivery d WHERE d.id = e.delivery_id AND CAST(d.body AS TEXT) LIKE ? ESCAPE '\\')
                 OR CAST(e.payload AS TEXT) LIKE ? ESCAPE '\\')
                """)
            arguments += [pattern, pattern]
        }
        let sql = "SELECT e.* FROM event e WHERE \(clauses.joined(separator: " AND ")) ORDER BY e.seq DESC LIMIT \(limit + 1)"
        return try await db.read { [arguments] db in
            let rows = try Row.fetchAll(db, sql: sql, arguments: arguments)
            var page = PB.EventPage()
            page.items = rows.prefix(limit).map(Self.summary)
            if rows.count > limit, let last = rows.prefix(limit).last {
                page.nextCursor = Cursor.encode(last["seq"])
            }
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
            let payload: Data = row["payload"]
            detail.event = try PB.Event(serializedBytes: Array(payload))
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
                dispatch.destination = row["destination"]
                dispatch.status = row["status"]
                dispatch.attempts = row["attempts"]
                dispatch.lastError = row["last_error"]
                dispatch.deliveredAtMicros = row["delivered_at"]
                return dispatch
            }
            let next: Int64 = row["next_attempt_at"]
            for index in detail.dispatches.indices where detail.dispatches[index].status == "pending" {
                detail.dispatches[index].nextAttemptAtMicros = next
            }
            detail.attempts = try Row.fetchAll(db, sql: "SELECT * FROM attempt WHERE event_seq = ? ORDER BY id", arguments: [seq]).map { row in
                var attempt = PB.Attempt()
                attempt.destination = row["destination"]
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
        delivery.status = row["status"]
        delivery.reason = row["reason"]
        delivery.origin = row["origin"]
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
        let limit = query.limit <= 0 ? 50 : Int(query.limit)
        guard limit <= Self.maximumPage else { throw RPCError.invalid(field: "limit", "must be at most \(Self.maximumPage)") }
        let before = try Cursor.decode(query.cursor)
        var clauses = ["tenant_id = ?"]
        var arguments: StatementArguments = [tenantID]
        if let before { clauses.append("rowid < ?"); arguments += [before] }
        if !query.status.isEmpty {
            guard ["accepted", "duplicate", "unparsed", "rejected"].contains(query.status) else {
                throw RPCError.invalid(field: "status", "must be accepted, duplicate, unparsed or rejected")
            }
            clauses.append("status = ?"); arguments += [query.status]
        }
        let sql = "SELECT rowid AS position, * FROM delivery WHERE \(clauses.joined(separator: " AND ")) ORDER BY rowid DESC LIMIT \(limit + 1)"
        return try await db.read { [arguments] db in
            let rows = try Row.fetchAll(db, sql: sql, arguments: arguments)
            var page = PB.DeliveryPage()
            page.items = rows.prefix(limit).map { Self.delivery($0, withBody: true) }
            if rows.count > limit, let last = rows.prefix(limit).last { page.nextCursor = Cursor.encode(last["position"]) }
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
    package func event(tenantID: String, id: String) async throws -> PB.Event? {
        try await db.read { db in
            try Data.fetchOne(db, sql: "SELECT payload FROM event WHERE id = ? AND tenant_id = ?", arguments: [id, tenantID])
                .map { try PB.Event(serializedBytes: Array($0)) }
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
                count.type = row["type"]
                count.status = row["status"]
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
            return response
        }
    }
}
