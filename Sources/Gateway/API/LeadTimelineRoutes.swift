import Basics
import Domain
import Foundation
import Hummingbird
import ServiceKit
import Wire

extension GatewayApp {
    /// `GET /api/v1/leads/{leadId}/timeline`: one lead's history from every service that holds a part of
    /// it, newest first — events (ingest-service), the decision on each (kept by ingest-service with the
    /// event it answers), and enrollments, action attempts and messages (sequence-service). Every item
    /// has a `kind` (`event`, `decision`, `enrollment`, `action`, `message`), `at` and `at_micros`.
    ///
    /// The cursor is a time: the next page holds what happened before it. Each source is asked for one
    /// page before that time, the pages are merged, and the merged page ends where the first source's
    /// page could have left items out.
    static func addLeadTimelineRoutes(to api: RouterGroup<GatewayContext>, peers: Peers) {
        api.get("/leads/{leadId}/timeline") { request, context -> Response in
            let query = QueryReader(request)
            let leadID = try kommoID(try context.parameters.require("leadId"), field: "leadId")
            let limit = try query.limit()
            let cursor = try query.string("cursor", maxLength: 32)
            var before: Int64?
            if !cursor.isEmpty {
                guard let micros = Int64(cursor), micros > 0 else { throw Problem.field("cursor", "is not a cursor of this list") }
                before = micros
            }
            let options = try peers.options(context)
            let merged = try await timeline(leadID: leadID, limit: Int(limit), before: before, peers: peers, options: options)
            return try jsonResponse(ListDTO(items: merged.items, nextCursor: merged.nextCursor))
        }
        // A manager's reply pauses agents that pause on a human reply; this resumes them for the lead by
        // hand, and the messages they held go out now.
        api.post("/leads/{leadId}/agent/resume") { _, context -> Response in
            var resume = PB.LeadResume()
            resume.leadId = try kommoID(try context.parameters.require("leadId"), field: "leadId")
            let answer = try await peers.sequences.resumeLead(resume, options: try peers.options(context))
            let body: JSONValue = [
                "lead_id": .string(String(resume.leadId)), "released": .int(Int64(answer.released)),
                "resumed_at": .string(RFC3339.millis(answer.resumedAtMicros)),
            ]
            return try jsonResponse(body)
        }
    }

    /// The newest `limit` items of a lead's merged timeline before `before` (microseconds).
    static func timeline(leadID: Int64, limit: Int, before: Int64?, peers: Peers,
                         options: CallOptions) async throws -> (items: [JSONValue], nextCursor: String?) {
        var events = PB.EventQuery()
        events.leadId = leadID
        events.limit = Int32(limit)
        events.toMicros = before ?? 0
        var lead = PB.LeadQuery()
        lead.leadId = leadID
        lead.limit = Int32(limit)
        // (at, kind, id) < (before, "action", 0) holds exactly for items before `before`: "action" sorts first.
        lead.cursor = before.map { "\($0):action:0" } ?? ""
        async let eventPage = peers.ingest.listEvents(events, options: options)
        async let sequencePage = peers.sequences.leadTimeline(lead, options: options)
        let (eventItems, sequenceItems) = try await (eventPage.items, sequencePage.items)

        // The decision on each event; one call per event of the page, a few at a time.
        let decisions = try await withThrowingTaskGroup(of: PB.Decision?.self) { group in
            var found: [PB.Decision] = []
            var waiting = 0
            for event in eventItems {
                if waiting >= 8, let next = try await group.next() {
                    waiting -= 1
                    if let next { found.append(next) }
                }
                waiting += 1
                group.addTask {
                    var ref = PB.IdRequest()
                    ref.id = event.id
                    do {
                        let detail = try await peers.ingest.getEvent(ref, options: options)
                        guard let decision = detail.decision, decision.decidedAtMicros != 0 else { return nil }
                        return decision
                    } catch let error as RPCError where error.code == .notFound {
                        return nil
                    }
                }
            }
            for try await next in group { if let next { found.append(next) } }
            return found
        }

        var items: [TimelineEntry] = eventItems.map(TimelineEntry.init(event:))
        items += decisions.map(TimelineEntry.init(decision:))
        items += sequenceItems.compactMap(TimelineEntry.init(sequenceItem:))
        if let before { items.removeAll { $0.at >= before } }
        items.sort(by: >)

        // A source that filled its page may have more items older than its last one: the merged page
        // stops there, so that nothing between pages is skipped.
        var horizon = Int64.min
        if eventItems.count >= limit, let oldest = eventItems.map({ $0.receivedAtMicros }).min() { horizon = max(horizon, oldest) }
        if sequenceItems.count >= limit, let oldest = sequenceItems.map({ $0.createdAtMicros }).min() { horizon = max(horizon, oldest) }
        var page = items.filter { $0.at >= horizon }
        var more = page.count < items.count || horizon != .min
        if page.count > limit {
            page = Array(page.prefix(limit))
            more = true
        }
        // Items sharing the time of the first one left out go to the next page together.
        if more, page.count < items.count, let last = page.last {
            let cut = items[page.count].at
            if last.at == cut {
                let kept = page.filter { $0.at != cut }
                if !kept.isEmpty { page = kept }
            }
        }
        let nextCursor = more ? page.last.map { String($0.at) } : nil
        return (page.map(\.json), page.isEmpty ? nil : nextCursor)
    }
}

/// One item of a lead's merged timeline, ordered by time and, at the same microsecond, by the order in
/// which one journey produces them (event, decision, enrollment, action, message).
struct TimelineEntry: Comparable {
    var at: Int64
    var rank: Int
    var json: JSONValue

    static let ranks = ["event": 0, "decision": 1, "enrollment": 2, "action": 3, "message": 4]

    static func < (lhs: TimelineEntry, rhs: TimelineEntry) -> Bool {
        (lhs.at, lhs.rank) < (rhs.at, rhs.rank)
    }

    static func == (lhs: TimelineEntry, rhs: TimelineEntry) -> Bool {
        lhs.at == rhs.at && lhs.rank == rhs.rank && lhs.json == rhs.json
    }

    /// An event, at the time it was received (Kommo's own time is `occurred_at`).
    init(event: PB.EventSummary) {
        at = event.receivedAtMicros
        rank = Self.ranks["event"]!
        var object: [String: JSONValue] = [
            "kind": .string("event"), "at": .string(RFC3339.millis(at)), "at_micros": .int(at),
            "event_id": .string(event.id), "type": .string(event.type.name), "entity_type": .string(event.entityType),
            "entity_id": .string(event.entityId), "origin": .string(event.origin.name), "status": .string(event.status.name),
            "actions": .int(Int64(event.actions)),
        ]
        object["occurred_at"] = RFC3339.string(micros: event.occurredAtMicros).map(JSONValue.string) ?? .null
        json = .object(object)
    }

    /// rules-service's decision on an event: the rules that fired and what they planned.
    init(decision: PB.Decision) {
        at = decision.decidedAtMicros
        rank = Self.ranks["decision"]!
        let fired = decision.explanations.filter { $0.outcome == .fired }
        var object: [String: JSONValue] = [
            "kind": .string("decision"), "at": .string(RFC3339.millis(at)), "at_micros": .int(at),
            "event_id": .string(decision.eventId),
            "fired": .array(fired.map { .object(["rule_id": .string($0.ruleId), "rule_name": .string($0.ruleName), "detail": .string($0.detail)]) }),
            "not_fired": .int(Int64(decision.explanations.count - fired.count)),
            "actions": .array(decision.actions.map {
                .object(["action_type": .string($0.action?.actionType?.rawValue ?? ""), "rule_id": .string($0.ruleId), "idempotency_key": .string($0.idempotencyKey)])
            }),
            "timers": .int(Int64(decision.timers.count)),
        ]
        // An echo of our writes shows its chain; when the bound stopped rules, also why each one stopped.
        if let cascade = decision.cascade {
            object["cascade"] = CascadeDTO(cascade).json
            if cascade.stopped {
                object["stopped"] = .array(decision.explanations.filter { $0.outcome == .loopGuard }.map {
                    .object(["rule_id": .string($0.ruleId), "rule_name": .string($0.ruleName), "detail": .string($0.detail)])
                })
            }
        }
        json = .object(object)
    }

    /// An enrollment, action attempt or message as sequence-service describes it.
    init?(sequenceItem: PB.Document) {
        guard case .object(let object)? = JSONValue(parsing: sequenceItem.json), case .string(let kind)? = object["kind"] else { return nil }
        at = sequenceItem.createdAtMicros
        rank = Self.ranks[kind] ?? 5
        json = .object(object)
    }
}

extension RFC3339 {
    /// A time with milliseconds: items of one journey are milliseconds apart.
    static func millis(_ micros: Int64) -> String {
        Date(unixMicros: micros)
            .formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}
