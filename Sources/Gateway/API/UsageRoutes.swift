import Foundation
import Hummingbird
import Wire

/// `GET /api/v1/usage`: what a tenant used in a period, for billing.
struct UsageDTO: Codable, Sendable {
    /// One kind of usage on one UTC day.
    struct Day: Codable, Sendable {
        var day: String
        var kind: String
        var units: Int64
        var entries: Int64
    }

    var from: String?
    var to: String?
    /// Per day and kind, oldest day first: `ai_reply` (AI replies sent), `ai_tokens` (tokens the AI
    /// provider counted), `message_sent` (messages put into leads' chats, AI replies included).
    var days: [Day]
    /// Units per kind over the whole period.
    var totals: [String: Int64]
}

extension GatewayApp {
    /// `?from=&to=` (RFC 3339; `to` exclusive; both optional) over sequence-service's usage ledger.
    static func addUsageRoutes(to api: RouterGroup<GatewayContext>, peers: Peers) {
        api.get("/usage") { request, context -> Response in
            let query = QueryReader(request)
            let from = try query.time("from")
            let to = try query.time("to")
            if let from, let to, from > to { throw Problem.field("from", "must not be after to") }
            var list = PB.DocumentQuery()
            if let from { list.filters.append(PB.KeyValue(key: "from_micros", value: String(from))) }
            if let to { list.filters.append(PB.KeyValue(key: "to_micros", value: String(to))) }
            let page = try await peers.sequences.usage(list, options: peers.options(context))
            let days = try page.items.map { try JSONDecoder().decode(UsageDTO.Day.self, from: Data($0.json.utf8)) }
            let totals = days.reduce(into: [String: Int64]()) { $0[$1.kind, default: 0] += $1.units }
            return try jsonResponse(UsageDTO(from: from.flatMap { RFC3339.string(micros: $0) }, to: to.flatMap { RFC3339.string(micros: $0) },
                                             days: days, totals: totals))
        }
    }
}
